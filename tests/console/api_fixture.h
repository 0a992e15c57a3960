#pragma once

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "console/api.h"
#include "fakes/simulated_clock.h"
#include "messages/catalog.h"
#include "metrics/registry.h"

namespace krond::console::testing {

// Records what the API publishes; fails on demand (Kafka down).
class FakePublisher final : public Publisher {
 public:
  Status PublishAndWait(const std::vector<Outgoing>& records) override {
    if (fail) return MakeError("Kafka unreachable: fake");
    sent.insert(sent.end(), records.begin(), records.end());
    return {};
  }
  std::vector<Outgoing> sent;
  bool fail = false;
};

// A store in a temp dir and an Api over it, with an operator "olga" (token "op") and a
// viewer "vic" (token "view").
class ApiFixture : public ::testing::Test {
 protected:
  ApiFixture() {
    spdlog::set_level(spdlog::level::warn);
    dir_ = std::filesystem::temp_directory_path() /
           ("krond-api-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    store_ = std::move(*store::HistoryStore::Open((dir_ / "h.db").string()));
    tokens_ = std::move(*TokenTable::Parse(
        "olga operator " + Sha256Hex("op") + "\nvic viewer " + Sha256Hex("view") + "\n", "auth"));
  }
  ~ApiFixture() override { std::filesystem::remove_all(dir_); }

  Api& api() {
    if (!api_) {
      options_.tokens = &tokens_;
      api_ = std::make_unique<Api>(*store_, publisher_, events_, stats_, clock_,
                                   messages::TopicNames("t"), metrics_, options_);
    }
    return *api_;
  }

  static messages::CatalogEntry Entry(const std::string& job,
                                      const std::string& schedule = "0 * * * *") {
    messages::CatalogEntry e;
    e.job = job;
    e.cluster = "a";
    e.schedule = schedule;
    e.timezone = "UTC";
    e.description = "every hour at minute 0, UTC";
    e.catch_up = "last";
    e.task.job = job;
    e.task.cluster = "a";
    e.task.command = "echo " + job;
    e.task.starting_deadline = std::chrono::minutes(1);
    return e;
  }
  void AddJob(const std::string& job, const std::string& schedule = "0 * * * *") {
    auto e = Entry(job, schedule);
    ASSERT_TRUE(store_->Apply({store::CatalogUpsert{e, messages::Encode(e)}}));
  }

  struct Reply {
    int status;
    nlohmann::json body;
  };
  Reply Call(const std::string& method, const std::string& path, const std::string& token = "op",
             const std::string& body = "", std::map<std::string, std::string> query = {}) {
    http::Request r;
    r.method = method;
    r.path = path;
    r.query = std::move(query);
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    r.body = body;
    http::Response out = api().Handle(r);
    auto json = nlohmann::json::parse(out.body, nullptr, false);
    return {out.status, json};
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::HistoryStore> store_;
  TokenTable tokens_ = std::move(*TokenTable::Parse("x viewer " + Sha256Hex("x"), "x"));
  FakePublisher publisher_;
  EventHub events_;
  ClusterStats stats_;
  krond::testing::SimulatedClock clock_{*ParseRfc3339("2026-03-08T12:34:56Z")};
  metrics::Registry registry_;
  ConsoleMetrics metrics_{registry_};
  ApiOptions options_;
  std::unique_ptr<Api> api_;
};

}  // namespace krond::console::testing
