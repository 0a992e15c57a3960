# krond in a container: `docker build -t krond .` then `docker run --rm krond --help`.
# docker-compose.yml runs the whole demo stack (Kafka, topics, scheduler, workers) from it.
#
# Stage 1 builds on debian:bookworm with the C++ packages of scripts/setup-deps (the compiler
# toolchain, the -dev libraries, and Node for the web console; not the test, JVM and
# monitoring tools, which the image does not need). tests/k8s/dockerfile_test.go checks both
# stages against what this tree's build links and reads. Stage 2 is bookworm-slim with only the shared libraries krond links and the
# tools its worker uses.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config git ca-certificates \
      librdkafka-dev nlohmann-json3-dev libyaml-cpp-dev libhowardhinnant-date-dev tzdata \
      libcli11-dev libspdlog-dev libfmt-dev libexpected-dev uuid-dev libcpp-httplib-dev \
      libssl-dev libsodium-dev libsqlite3-dev nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads, so edits elsewhere (docs, tests, deploy) keep the cache.
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY src/ src/
# The web console, bundled by npm and esbuild into the binary (src/web/CMakeLists.txt).
COPY web/ web/
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DBUILD_TESTING=OFF -DKROND_BENCH=OFF -DKROND_FUZZ=OFF -DKROND_WERROR=OFF \
 && cmake --build /build --target krond krond-guard \
 && strip /build/krond /build/krond-guard \
 && /build/krond --version

FROM debian:bookworm-slim
# Runtime libraries of krond (librdkafka, yaml-cpp, date-tz, spdlog, fmt, uuid, cpp-httplib,
# OpenSSL, libsodium, SQLite; tests/k8s checks the list against what the binaries link),
# time zone data for job timezones, CA certificates for TLS brokers, bubblewrap for
# `worker --sandbox bubblewrap` (needs user namespaces in the container), and tini as PID 1:
# it reaps whatever is reparented to it and forwards signals to krond. (The worker reaps
# the orphans of its commands itself, as a child subreaper; tini covers the rest.)
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libyaml-cpp0.7 libdate-tz3 libspdlog1.10 libfmt9 libuuid1 libcpp-httplib0.11 \
      libssl3 libsodium23 libsqlite3-0 tzdata ca-certificates bubblewrap tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/krond \
      --shell /usr/sbin/nologin krond
# krond-guard beside krond: the worker runs every command under it (--run-guard auto), so a
# worker that dies takes its commands with it (docs/execution.md).
COPY --from=build /build/krond /build/krond-guard /usr/local/bin/
USER krond
WORKDIR /var/lib/krond
# /metrics, /healthz, /readyz when started with --metrics-addr 0.0.0.0:9100.
EXPOSE 9100
ENTRYPOINT ["/usr/bin/tini", "--", "krond"]
CMD ["--help"]
