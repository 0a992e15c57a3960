#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace krond::metrics {
namespace {

TEST(RegistryTest, EmptyRegistryRendersNothing) {
  Registry registry;
  EXPECT_EQ(registry.Render(), "");
}

TEST(RegistryTest, RendersCounterChildrenSortedByLabelValues) {
  Registry registry;
  auto& runs = registry.AddCounter("krond_runs_total", "Runs finished.", {"cluster", "outcome"});
  runs.WithLabels({"b", "succeeded"}).Inc();
  runs.WithLabels({"a", "timed_out"}).Add(2);
  runs.WithLabels({"a", "failed"}).Add(0.5);
  EXPECT_EQ(registry.Render(),
            "# HELP krond_runs_total Runs finished.\n"
            "# TYPE krond_runs_total counter\n"
            "krond_runs_total{cluster=\"a\",outcome=\"failed\"} 0.5\n"
            "krond_runs_total{cluster=\"a\",outcome=\"timed_out\"} 2\n"
            "krond_runs_total{cluster=\"b\",outcome=\"succeeded\"} 1\n");
}

TEST(RegistryTest, LabelLessFamilyExportsZeroFromRegistration) {
  Registry registry;
  registry.AddCounter("krond_ticks_total", "Ticks.");
  EXPECT_EQ(registry.Render(),
            "# HELP krond_ticks_total Ticks.\n"
            "# TYPE krond_ticks_total counter\n"
            "krond_ticks_total 0\n");
}

TEST(RegistryTest, LabelledFamilyWithoutChildrenRendersNothing) {
  Registry registry;
  registry.AddGauge("krond_lag_seconds", "Lag.", {"partition"});
  EXPECT_EQ(registry.Render(), "");
}

TEST(RegistryTest, RendersGauge) {
  Registry registry;
  registry.AddGauge("krond_in_flight_runs", "Runs in flight.").Get().Set(-3.25);
  EXPECT_EQ(registry.Render(),
            "# HELP krond_in_flight_runs Runs in flight.\n"
            "# TYPE krond_in_flight_runs gauge\n"
            "krond_in_flight_runs -3.25\n");
}

TEST(RegistryTest, RendersHistogramCumulativeWithSumAndCount) {
  Registry registry;
  auto& latency =
      registry.AddHistogram("krond_spawn_seconds", "Spawn latency.", {"step"}, {0.1, 0.5, 2});
  auto& exec = latency.WithLabels({"exec"});
  exec.Observe(0.05);
  exec.Observe(0.1);
  exec.Observe(0.3);
  exec.Observe(10);
  EXPECT_EQ(registry.Render(),
            "# HELP krond_spawn_seconds Spawn latency.\n"
            "# TYPE krond_spawn_seconds histogram\n"
            "krond_spawn_seconds_bucket{step=\"exec\",le=\"0.1\"} 2\n"
            "krond_spawn_seconds_bucket{step=\"exec\",le=\"0.5\"} 3\n"
            "krond_spawn_seconds_bucket{step=\"exec\",le=\"2\"} 3\n"
            "krond_spawn_seconds_bucket{step=\"exec\",le=\"+Inf\"} 4\n"
            "krond_spawn_seconds_sum{step=\"exec\"} 10.45\n"
            "krond_spawn_seconds_count{step=\"exec\"} 4\n");
}

TEST(RegistryTest, RendersLabelLessHistogram) {
  Registry registry;
  registry.AddHistogram("krond_size_bytes", "Sizes.", {}, {1024}).Get().Observe(10);
  EXPECT_EQ(registry.Render(),
            "# HELP krond_size_bytes Sizes.\n"
            "# TYPE krond_size_bytes histogram\n"
            "krond_size_bytes_bucket{le=\"1024\"} 1\n"
            "krond_size_bytes_bucket{le=\"+Inf\"} 1\n"
            "krond_size_bytes_sum 10\n"
            "krond_size_bytes_count 1\n");
}

TEST(RegistryTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  registry.AddCounter("krond_x_total", "Say \"hi\"\\\nagain.", {"job"})
      .WithLabels({"a\"b\\c\nd"})
      .Inc();
  EXPECT_EQ(registry.Render(),
            "# HELP krond_x_total Say \"hi\"\\\\\\nagain.\n"
            "# TYPE krond_x_total counter\n"
            "krond_x_total{job=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(RegistryTest, InvalidUtf8LabelValuesAreReplaced) {
  Registry registry;
  auto& family = registry.AddCounter("krond_x_total", "X.", {"job"});
  Counter& bad = family.WithLabels({"a\xff"});
  // Another bad byte sanitizes to the same value, so it is the same series.
  EXPECT_EQ(&bad, &family.WithLabels({"a\xfe"}));
  EXPECT_NE(registry.Render().find("krond_x_total{job=\"a\xEF\xBF\xBD\"} 0\n"), std::string::npos);
}

TEST(RegistryTest, FamiliesAreSortedByName) {
  Registry registry;
  registry.AddGauge("krond_b", "B.");
  registry.AddCounter("krond_a_total", "A.");
  registry.AddCallbackGauge("krond_c", "C.", [] { return 2.0; });
  EXPECT_EQ(registry.Render(),
            "# HELP krond_a_total A.\n"
            "# TYPE krond_a_total counter\n"
            "krond_a_total 0\n"
            "# HELP krond_b B.\n"
            "# TYPE krond_b gauge\n"
            "krond_b 0\n"
            "# HELP krond_c C.\n"
            "# TYPE krond_c gauge\n"
            "krond_c 2\n");
}

TEST(RegistryTest, ChildReferencesAreStable) {
  Registry registry;
  auto& family = registry.AddCounter("krond_x_total", "X.", {"job"});
  Counter& first = family.WithLabels({"a"});
  for (int i = 0; i < 500; ++i) family.WithLabels({std::to_string(i)});
  EXPECT_EQ(&first, &family.WithLabels({"a"}));
  EXPECT_EQ(family.ChildCount(), 501u);
}

TEST(RegistryTest, CallbackGaugeRunsAtRenderTimeAndCanBeCleared) {
  Registry registry;
  double in_flight = 3;
  CallbackGauge& gauge = registry.AddCallbackGauge("krond_in_flight_runs", "Runs in flight.",
                                                   [&] { return in_flight; });
  const std::string header =
      "# HELP krond_in_flight_runs Runs in flight.\n"
      "# TYPE krond_in_flight_runs gauge\n";
  EXPECT_EQ(registry.Render(), header + "krond_in_flight_runs 3\n");
  in_flight = 1772953200;
  EXPECT_EQ(registry.Render(), header + "krond_in_flight_runs 1772953200\n");
  gauge.Clear();
  EXPECT_EQ(registry.Render(), "");
}

TEST(RegistryTest, CallbackMayUseTheRegistry) {
  Registry registry;
  registry.AddCallbackGauge("krond_cb", "Registers while rendering.", [&registry] {
    registry.AddCounter("krond_late_total", "Late.");
    return 1.0;
  });
  EXPECT_NE(registry.Render().find("krond_cb 1\n"), std::string::npos);
  EXPECT_NE(registry.Render().find("krond_late_total 0\n"), std::string::npos);
}

TEST(RegistryTest, BuildInfo) {
  Registry registry;
  registry.AddBuildInfo({{"version", "0.1.0"}, {"revision", "072f19c"}});
  EXPECT_EQ(registry.Render(),
            "# HELP krond_build_info Build of the running krond, in its labels; the value is "
            "always 1.\n"
            "# TYPE krond_build_info gauge\n"
            "krond_build_info{version=\"0.1.0\",revision=\"072f19c\"} 1\n");
}

TEST(RegistryTest, SameDefinitionReturnsTheExistingFamily) {
  Registry registry;
  auto& a = registry.AddCounter("krond_x_total", "X.", {"job"});
  auto& b = registry.AddCounter("krond_x_total", "X.", {"job"});
  EXPECT_EQ(&a, &b);
  auto& h1 = registry.AddHistogram("krond_h_seconds", "H.", {}, DefaultLatencyBuckets());
  auto& h2 = registry.AddHistogram("krond_h_seconds", "H.", {}, DefaultLatencyBuckets());
  EXPECT_EQ(&h1, &h2);
}

TEST(OverflowTest, NewLabelSetsPastTheLimitShareTheOverflowChild) {
  Registry registry;
  auto& family =
      registry.AddCounter("krond_jobs_total", "Per job.", {"job", "outcome"}, {.max_children = 2});
  Counter& a = family.WithLabels({"a", "ok"});
  family.WithLabels({"b", "ok"}).Inc();
  Counter& c = family.WithLabels({"c", "ok"});
  Counter& d = family.WithLabels({"d", "ok"});
  EXPECT_EQ(&c, &d);
  EXPECT_NE(&a, &c);
  EXPECT_EQ(&a, &family.WithLabels({"a", "ok"}));  // Existing sets still resolve.
  EXPECT_EQ(family.ChildCount(), 2u);
  c.Inc();
  d.Add(2);
  EXPECT_EQ(registry.Render(),
            "# HELP krond_jobs_total Per job.\n"
            "# TYPE krond_jobs_total counter\n"
            "krond_jobs_total{job=\"a\",outcome=\"ok\"} 0\n"
            "krond_jobs_total{job=\"b\",outcome=\"ok\"} 1\n"
            "krond_jobs_total{job=\"__overflow__\",outcome=\"__overflow__\"} 3\n"
            "# HELP krond_metrics_label_overflow_total Lookups of a new label set that a metric "
            "family refused because it had reached its maximum number of children; their data "
            "went to its __overflow__ series.\n"
            "# TYPE krond_metrics_label_overflow_total counter\n"
            "krond_metrics_label_overflow_total{family=\"krond_jobs_total\"} 2\n");
}

TEST(OverflowTest, HistogramOverflow) {
  Registry registry;
  auto& family = registry.AddHistogram("krond_h_seconds", "H.", {"job"}, {1}, {.max_children = 1});
  family.WithLabels({"a"}).Observe(0.5);
  family.WithLabels({"b"}).Observe(2);
  const std::string text = registry.Render();
  EXPECT_NE(text.find("krond_h_seconds_bucket{job=\"__overflow__\",le=\"1\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("krond_h_seconds_count{job=\"__overflow__\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("krond_metrics_label_overflow_total{family=\"krond_h_seconds\"} 1\n"),
            std::string::npos);
}

// Spelled out because GCC warns about designated initializers that skip members.
FamilyDefinition Def(std::string name, MetricType type, std::vector<std::string> labels = {},
                     std::vector<double> buckets = {}, std::string help = "h",
                     FamilyOptions options = {}) {
  return FamilyDefinition{.name = std::move(name),
                          .help = std::move(help),
                          .type = type,
                          .label_names = std::move(labels),
                          .buckets = std::move(buckets),
                          .options = options};
}

std::string ErrorOf(const FamilyDefinition& definition) {
  Status status = ValidateDefinition(definition);
  return status ? "" : status.error().message;
}

TEST(ValidateDefinitionTest, AcceptsConventionalNames) {
  EXPECT_EQ(ErrorOf(Def("krond_runs_total", MetricType::kCounter, {"cluster", "outcome"})), "");
  EXPECT_EQ(ErrorOf(Def("krond_lag_seconds", MetricType::kGauge)), "");
  EXPECT_EQ(ErrorOf(Def("krond_spawn_seconds", MetricType::kHistogram, {"step"}, {1, 2})), "");
}

TEST(ValidateDefinitionTest, RejectsWithAClearMessage) {
  constexpr auto kCounter = MetricType::kCounter;
  constexpr auto kGauge = MetricType::kGauge;
  constexpr auto kHistogram = MetricType::kHistogram;
  EXPECT_EQ(ErrorOf(Def("krond-runs_total", kCounter)),
            "metric \"krond-runs_total\": name must match [a-zA-Z_][a-zA-Z0-9_]* (no ':', which "
            "is reserved for recording rules)");
  EXPECT_NE(ErrorOf(Def("krond:runs_total", kCounter)), "");
  EXPECT_EQ(ErrorOf(Def("krond_runs", kCounter)),
            "metric \"krond_runs\": counter names end in _total");
  EXPECT_EQ(ErrorOf(Def("krond_runs_total", kGauge)),
            "metric \"krond_runs_total\": only counter names end in _total");
  EXPECT_EQ(ErrorOf(Def("krond_runs_total", kCounter, {}, {}, "")),
            "metric \"krond_runs_total\": help text is required");
  EXPECT_EQ(ErrorOf(Def("krond_jobs_count", kGauge)),
            "metric \"krond_jobs_count\": the suffix _count is reserved for the series of "
            "histograms");
  EXPECT_EQ(ErrorOf(Def("krond_x_total", kCounter, {"__name__"})),
            "metric \"krond_x_total\": label name \"__name__\" must match [a-zA-Z_][a-zA-Z0-9_]* "
            "and not start with __");
  EXPECT_NE(ErrorOf(Def("krond_x_total", kCounter, {"job-name"})), "");
  EXPECT_EQ(ErrorOf(Def("krond_x_seconds", kGauge, {"le"})),
            "metric \"krond_x_seconds\": label name \"le\" is reserved for histograms and "
            "summaries");
  EXPECT_EQ(ErrorOf(Def("krond_x_total", kCounter, {"job", "job"})),
            "metric \"krond_x_total\": label \"job\" appears twice");
  EXPECT_EQ(ErrorOf(Def("krond_g", kGauge, {}, {1})),
            "metric \"krond_g\": only histograms have buckets");
  EXPECT_EQ(ErrorOf(Def("krond_h_seconds", kHistogram)),
            "metric \"krond_h_seconds\": a histogram needs at least one bucket");
  EXPECT_EQ(ErrorOf(Def("krond_h_seconds", kHistogram, {}, {1, 1})),
            "metric \"krond_h_seconds\": bucket bounds must be strictly increasing");
  EXPECT_EQ(
      ErrorOf(Def("krond_h_seconds", kHistogram, {}, {1, std::numeric_limits<double>::infinity()})),
      "metric \"krond_h_seconds\": bucket bounds are finite (+Inf is implicit)");
  EXPECT_EQ(ErrorOf(Def("krond_x_total", kCounter, {}, {}, "h", {.max_children = 0})),
            "metric \"krond_x_total\": max_children must be >= 1");
}

TEST(RegistryDeathTest, InvalidDefinitionCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Registry registry;
  EXPECT_DEATH(registry.AddCounter("krond_runs", "Runs."),
               "krond: metrics: metric \"krond_runs\": counter names end in _total");
}

TEST(RegistryDeathTest, ConflictingRegistrationCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Registry registry;
  registry.AddCounter("krond_x_total", "X.", {"job"});
  EXPECT_DEATH(registry.AddCounter("krond_x_total", "X.", {"cluster"}),
               "metric \"krond_x_total\" registered twice: first as counter \\{job\\}.*then as "
               "counter \\{cluster\\}");
  EXPECT_DEATH(registry.AddCounter("krond_x_total", "Other help.", {"job"}), "registered twice");
  registry.AddGauge("krond_g", "G.");
  EXPECT_DEATH(registry.AddCallbackGauge("krond_g", "G.", [] { return 1.0; }),
               "first as gauge.*then as callback gauge");
  registry.AddCallbackGauge("krond_cb", "C.", [] { return 1.0; });
  EXPECT_DEATH(registry.AddCallbackGauge("krond_cb", "C.", [] { return 1.0; }),
               "a callback gauge can be registered once");
  registry.AddHistogram("krond_h_seconds", "H.", {}, {1, 2});
  EXPECT_DEATH(registry.AddHistogram("krond_h_seconds", "H.", {}, {1, 3}), "registered twice");
}

TEST(RegistryDeathTest, WrongLabelCountCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Registry registry;
  auto& family = registry.AddCounter("krond_x_total", "X.", {"cluster", "outcome"});
  EXPECT_DEATH(family.WithLabels({"a"}),
               "metric krond_x_total has 2 label\\(s\\) \\(cluster, outcome\\) but WithLabels "
               "got 1 value\\(s\\)");
  EXPECT_DEATH(family.Get(), "use WithLabels, not Get");
}

TEST(RegistryDeathTest, BuildInfoTwiceCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Registry registry;
  registry.AddBuildInfo({{"version", "1"}});
  EXPECT_DEATH(registry.AddBuildInfo({{"version", "2"}}), "AddBuildInfo called twice");
}

// Lookups, increments and renders racing each other: totals stay exact and nothing crashes
// (the ASan/UBSan CI run checks the rest).
TEST(RegistryConcurrencyTest, LookupIncrementAndRenderInParallel) {
  Registry registry;
  auto& family = registry.AddCounter("krond_x_total", "X.", {"job"});
  std::atomic<bool> done = false;
  std::size_t rendered_bytes = 0;
  std::thread renderer([&] {
    while (!done.load()) rendered_bytes += registry.Render().size();
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) family.WithLabels({std::to_string(i % 50)}).Inc();
    });
  }
  for (auto& worker : workers) worker.join();
  done = true;
  renderer.join();
  double total = 0;
  for (int i = 0; i < 50; ++i) total += family.WithLabels({std::to_string(i)}).Value();
  EXPECT_EQ(total, 60000);
  EXPECT_NE(registry.Render().find("krond_x_total{job=\"49\"} 1200\n"), std::string::npos);
}

}  // namespace
}  // namespace krond::metrics
