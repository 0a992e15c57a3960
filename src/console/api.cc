#include "console/api.h"

#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/time_format.h"
#include "console/requests.h"
#include "cron/schedule.h"
#include "messages/catalog.h"

namespace krond::console {
namespace {

using nlohmann::json;

json Time(int64_t ms) {
  if (ms <= 0) return nullptr;
  return FormatRfc3339Utc(SystemTime(std::chrono::milliseconds(ms)));
}

http::Response Json(int status, const json& body) {
  http::Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}

http::Response Problem(int status, std::string_view message) {
  http::Response r;
  r.status = status;
  r.body = http::JsonError(message);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

// The next `count` fire times of a catalog entry after `now`, recomputed from its schedule
// (the published ones age). `@every` schedules have no calendar anchor here: their
// published fires are followed by whole periods.
//
// Parsed schedules are cached by (expression, zone): a jobs page would otherwise parse 50.
std::optional<cron::Schedule> ParsedSchedule(const std::string& expr,
                                             const std::string& zone_name) {
  static std::mutex mu;
  static std::map<std::pair<std::string, std::string>, std::optional<cron::Schedule>> cache;
  std::lock_guard lock(mu);
  auto key = std::make_pair(expr, zone_name);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  if (cache.size() > 10'000) cache.clear();  // bounded: expressions repeat across jobs
  std::optional<cron::Schedule> parsed;
  if (auto zone = LocateZone(zone_name)) {
    if (auto schedule = cron::Schedule::Parse(expr, *zone)) parsed = std::move(*schedule);
  }
  return cache.emplace(std::move(key), std::move(parsed)).first->second;
}

// `definition` is only decoded for `@every` jobs (their published fires anchor them); in
// list pages it is empty and those jobs show no next fires.
std::vector<SystemTime> NextFires(const std::string& expr, const std::string& zone,
                                  const std::string& definition, SystemTime now, size_t count) {
  std::vector<SystemTime> out;
  auto schedule = ParsedSchedule(expr, zone);
  if (!schedule) return out;
  if (schedule->is_every()) {
    auto e = messages::DecodeCatalogEntry(definition);
    if (!e || e->next.empty()) return out;
    const auto period = std::chrono::milliseconds(schedule->compiled().every_ms);
    SystemTime t = e->next.front();
    if (t <= now) t += ((now - t) / period + 1) * period;
    for (size_t i = 0; i < count; ++i, t += period) out.push_back(t);
    return out;
  }
  SystemTime t = now;
  for (size_t i = 0; i < count; ++i) {
    auto next = schedule->Next(t);
    if (!next) break;
    out.push_back(*next);
    t = *next;
  }
  return out;
}

json RecentJson(const store::RecentRun& r) {
  return {{"run_id", r.run_id},
          {"outcome", r.outcome},
          {"started_at", Time(r.started_ms)},
          {"duration_ms", r.duration_ms}};
}

json JobJson(const store::JobSummary& j, SystemTime now, size_t next_count) {
  json next = json::array();
  if (j.in_catalog) {
    for (SystemTime t : NextFires(j.schedule, j.timezone, j.definition, now, next_count)) {
      next.push_back(FormatRfc3339Utc(t));
    }
  }
  json recent = json::array();
  for (const auto& r : j.recent) recent.push_back(RecentJson(r));
  json out = {{"name", j.name},
              {"cluster", j.cluster},
              {"schedule", j.schedule},
              {"timezone", j.timezone},
              {"description", j.description},
              {"catch_up", j.catch_up},
              {"in_catalog", j.in_catalog},
              {"next", std::move(next)},
              {"paused", j.paused},
              {"paused_by", j.paused ? json(j.paused_by) : json(nullptr)},
              {"paused_at", j.paused ? Time(j.paused_at_ms) : json(nullptr)},
              {"pause_reason", j.paused ? json(j.pause_reason) : json(nullptr)},
              {"last_run", nullptr},
              {"recent", std::move(recent)},
              {"success_rate", j.success_rate < 0 ? json(nullptr) : json(j.success_rate)},
              {"runs_total", j.runs_total}};
  if (!j.last_run_id.empty()) {
    out["last_run"] = {{"run_id", j.last_run_id},
                       {"outcome", j.last_outcome},
                       {"started_at", Time(j.last_started_ms)},
                       {"duration_ms", j.last_duration_ms}};
  }
  return out;
}

json RunJson(const store::Run& r) {
  json attempts = json::array();
  for (const auto& a : r.attempts) {
    attempts.push_back({{"attempt", a.attempt},
                        {"worker", a.worker},
                        {"queue", a.queue},
                        {"started_at", Time(a.started_ms)},
                        {"finished_at", Time(a.finished_ms)},
                        {"duration_ms", std::max<int64_t>(0, a.finished_ms - a.started_ms)},
                        {"exit_code", a.exit_code ? json(*a.exit_code) : json(nullptr)},
                        {"signal", a.signal ? json(*a.signal) : json(nullptr)},
                        {"outcome", a.outcome},
                        {"output_tail", a.output_tail},
                        {"output_bytes", a.output_bytes},
                        {"error", a.error}});
  }
  return {
      {"run_id", r.run_id},
      {"job", r.job},
      {"cluster", r.cluster},
      {"scheduled_at", Time(r.scheduled_ms)},
      {"trigger", r.trigger},
      {"requested_by", r.requested_by.empty() ? json(nullptr) : json(r.requested_by)},
      {"status", r.status},
      {"started_at", Time(r.started_ms)},
      {"finished_at", Time(r.finished_ms)},
      {"duration_ms",
       r.started_ms > 0 ? json(std::max<int64_t>(0, r.finished_ms - r.started_ms)) : json(nullptr)},
      {"attempts", std::move(attempts)}};
}

json DeadJson(const store::DeadEntry& d) {
  return {{"position", d.position},
          {"cluster", d.cluster},
          {"run_id", d.run_id},
          {"job", d.job},
          {"reason", d.reason},
          {"last_outcome", d.last_outcome},
          {"finished_at", Time(d.finished_ms)},
          {"replayed", d.replayed_at_ms > 0},
          {"replayed_at", Time(d.replayed_at_ms)},
          {"replayed_by", d.replayed_by.empty() ? json(nullptr) : json(d.replayed_by)}};
}

json ControlJson(const store::ControlEntry& c) {
  return {{"job", c.job},
          {"paused", c.paused},
          {"by", c.by},
          {"at", Time(c.at_ms)},
          {"reason", c.reason}};
}

}  // namespace

struct Api::Context {
  const http::Request& request;
  Route route;
  Principal who;
};

Api::Api(const store::HistoryStore& store, Publisher& publisher, EventHub& events,
         const ClusterStats& stats, const Clock& clock, messages::TopicNames topics,
         ConsoleMetrics& metrics, ApiOptions options)
    : store_(store),
      publisher_(publisher),
      events_(events),
      stats_(stats),
      clock_(clock),
      topics_(std::move(topics)),
      metrics_(metrics),
      options_(std::move(options)) {}

http::Response Api::Handle(const http::Request& request) {
  Context c{request, ParseRoute(request.method, request.path), {}};
  http::Response response;
  if (c.route.endpoint == Endpoint::kNotFound) {
    response = Problem(404, "no such endpoint: " + request.method + " " + request.path);
  } else if (c.route.endpoint == Endpoint::kMethodNotAllowed) {
    response = Problem(405, request.method + " is not allowed on " + request.path);
  } else {
    response = Dispatch(c);
  }
  metrics_.requests.WithLabels({std::string(c.route.name), std::to_string(response.status)}).Inc();
  return response;
}

http::Response Api::Dispatch(Context& c) {
  const http::Request& req = c.request;
  // Who is asking. Browsers' EventSource cannot send headers: the event stream also takes
  // the token as ?access_token=.
  if (options_.tokens == nullptr) {
    c.who = {"anonymous", Role::kOperator};
  } else {
    std::string header = req.Header("authorization");
    if (header.empty() && c.route.endpoint == Endpoint::kEvents &&
        req.query.count("access_token")) {
      header = "Bearer " + req.query.at("access_token");
    }
    auto who = options_.tokens->Authenticate(header);
    if (!who) {
      metrics_.auth_failures.WithLabels({"unauthenticated"}).Inc();
      return Problem(401, who.error().message);
    }
    c.who = *who;
  }
  if (c.route.write && !c.who.CanOperate()) {
    metrics_.auth_failures.WithLabels({"forbidden"}).Inc();
    return Problem(403, c.who.name + " is a viewer: only operators may change state");
  }
  for (const std::string* name : {&c.route.job, &c.route.cluster}) {
    if (!name->empty() && !ValidName(*name)) {
      return Problem(400, "\"" + *name + "\" is not a valid name ([a-z0-9._-], 1-100 characters)");
    }
  }
  const SystemTime now = clock_.Now();
  auto store_failed = [](const Error& e) {
    spdlog::error("history store: {}", e.message);
    return Problem(503, "history store: " + e.message);
  };
  // The job of a job route that must be in the catalog (to be run or paused).
  auto catalog_job = [&]() -> Result<store::JobSummary> {
    auto job = store_.GetJob(c.route.job);
    if (!job) return tl::unexpected(job.error());
    if (!*job || !(*job)->in_catalog) return MakeError("");
    return std::move(**job);
  };
  auto unknown_job = [&] { return Problem(404, "no job \"" + c.route.job + "\" in the catalog"); };

  switch (c.route.endpoint) {
    case Endpoint::kWhoami:
      return Json(200, {{"name", c.who.name},
                        {"role", RoleName(c.who.role)},
                        {"auth", options_.tokens != nullptr}});
    case Endpoint::kJobs: {
      auto query = ParseJobQuery(req.query);
      if (!query) return Problem(400, query.error().message);
      auto page = store_.ListJobs(*query);
      if (!page) {
        if (page.error().message == "invalid cursor") return Problem(400, "invalid cursor");
        return store_failed(page.error());
      }
      json jobs = json::array();
      for (const auto& j : page->jobs) jobs.push_back(JobJson(j, now, 3));
      return Json(200, {{"jobs", std::move(jobs)},
                        {"total", page->total},
                        {"next_cursor",
                         page->next_cursor.empty() ? json(nullptr) : json(page->next_cursor)}});
    }
    case Endpoint::kJob: {
      auto job = store_.GetJob(c.route.job);
      if (!job) return store_failed(job.error());
      if (!*job) return Problem(404, "no job \"" + c.route.job + "\"");
      json out = JobJson(**job, now, 10);
      json definition = json::parse((*job)->definition, nullptr, false);
      out["definition"] = definition.is_discarded() ? json(nullptr) : definition;
      auto trail = store_.ControlHistory(c.route.job, 20);
      if (!trail) return store_failed(trail.error());
      json control = json::array();
      for (const auto& e : *trail) control.push_back(ControlJson(e));
      out["control"] = std::move(control);
      return Json(200, out);
    }
    case Endpoint::kJobRuns: {
      auto limit = ParseLimit(req.query, 50, 1000);
      if (!limit) return Problem(400, limit.error().message);
      auto job = store_.GetJob(c.route.job);
      if (!job) return store_failed(job.error());
      if (!*job) return Problem(404, "no job \"" + c.route.job + "\"");
      const auto before = req.query.count("before") ? req.query.at("before") : std::string();
      auto page = store_.ListRuns(c.route.job, *limit, before);
      if (!page) {
        if (page.error().message == "invalid cursor") return Problem(400, "invalid before cursor");
        return store_failed(page.error());
      }
      json runs = json::array();
      for (const auto& r : page->runs) runs.push_back(RunJson(r));
      return Json(200, {{"runs", std::move(runs)},
                        {"next_before",
                         page->next_cursor.empty() ? json(nullptr) : json(page->next_cursor)}});
    }
    case Endpoint::kJobSeries: {
      auto limit = ParseLimit(req.query, 500, 10'000);
      if (!limit) return Problem(400, limit.error().message);
      auto runs = store_.RunSeries(c.route.job, *limit);
      if (!runs) return store_failed(runs.error());
      json points = json::array();
      for (auto it = runs->rbegin(); it != runs->rend(); ++it) {
        points.push_back(
            {{"run_id", it->run_id},
             {"scheduled_at", Time(it->scheduled_ms)},
             {"started_at", Time(it->started_ms)},
             {"duration_ms", it->started_ms > 0
                                 ? json(std::max<int64_t>(0, it->finished_ms - it->started_ms))
                                 : json(nullptr)},
             {"status", it->status},
             {"trigger", it->trigger}});
      }
      return Json(200, {{"job", c.route.job}, {"points", std::move(points)}});
    }
    case Endpoint::kJobControl:
    case Endpoint::kControl: {
      auto limit = ParseLimit(req.query, 100, 1000);
      if (!limit) return Problem(400, limit.error().message);
      auto trail = store_.ControlHistory(c.route.job, *limit);
      if (!trail) return store_failed(trail.error());
      json control = json::array();
      for (const auto& e : *trail) control.push_back(ControlJson(e));
      return Json(200, {{"control", std::move(control)}});
    }
    case Endpoint::kRun: {
      auto run = store_.GetRun(c.route.run_id);
      if (!run) return store_failed(run.error());
      if (!*run) return Problem(404, "no run \"" + c.route.run_id + "\"");
      return Json(200, RunJson(**run));
    }
    case Endpoint::kRunNow:
    case Endpoint::kBackfill: {
      const bool backfill = c.route.endpoint == Endpoint::kBackfill;
      std::optional<BackfillRequest> range;
      if (backfill) {
        auto parsed = ParseBackfill(req.body);
        if (!parsed) return Problem(400, parsed.error().message);
        range = *parsed;
      } else if (auto empty = ParseReason(req.body); !empty) {
        return Problem(400, empty.error().message);
      }
      auto job = catalog_job();
      if (!job) return job.error().message.empty() ? unknown_job() : store_failed(job.error());
      auto entry = messages::DecodeCatalogEntry(job->definition);
      if (!entry)
        return Problem(503, "catalog record of \"" + c.route.job + "\": " + entry.error().message);
      std::vector<SystemTime> instants;
      if (backfill) {
        auto zone = LocateZone(entry->timezone);
        auto schedule = zone ? cron::Schedule::Parse(entry->schedule, *zone)
                             : Result<cron::Schedule>(tl::unexpected(zone.error()));
        if (!schedule)
          return Problem(503, "schedule of \"" + c.route.job + "\": " + schedule.error().message);
        // `@every` has no calendar: its instants are counted from `from`.
        const cron::Schedule anchored = schedule->AnchoredAt(range->from);
        for (auto t = anchored.Next(range->from - std::chrono::milliseconds(1));
             t && *t <= range->to; t = anchored.Next(*t)) {
          if (instants.size() == options_.max_backfill) {
            return Problem(400, "the range holds more than " +
                                    std::to_string(options_.max_backfill) + " runs of \"" +
                                    c.route.job + "\": narrow it");
          }
          instants.push_back(*t);
        }
        if (instants.empty())
          return Problem(400, "no scheduled instant of \"" + c.route.job + "\" in the range");
      } else {
        instants.push_back(now);
      }
      const auto trigger = backfill ? messages::Trigger::kBackfill : messages::Trigger::kManual;
      std::vector<Outgoing> out;
      json runs = json::array();
      for (SystemTime at : instants) {
        messages::TaskMessage task = messages::NewRun(entry->task, at, now, trigger, c.who.name);
        auto value = options_.signer.Seal(task);
        if (!value) return Problem(503, "cannot sign the task: " + value.error().message);
        runs.push_back({{"run_id", task.run_id}, {"scheduled_at", FormatRfc3339Utc(at)}});
        out.push_back(TaskRecord(topics_, task, std::move(*value)));
      }
      if (auto ok = publisher_.PublishAndWait(out); !ok) {
        spdlog::warn("{} of {} by {} not confirmed: {}", messages::TriggerName(trigger),
                     c.route.job, c.who.name, ok.error().message);
        return Problem(
            503, ok.error().message + " (the run(s) may still be written: check the history)");
      }
      metrics_.runs_requested.WithLabels({std::string(messages::TriggerName(trigger))})
          .Add(static_cast<double>(out.size()));
      spdlog::info("{} of {} requested by {}: {} run(s), first {}", messages::TriggerName(trigger),
                   c.route.job, c.who.name, out.size(), out.front().key);
      json body = {{"job", c.route.job},
                   {"cluster", entry->cluster},
                   {"trigger", messages::TriggerName(trigger)},
                   {"requested_by", c.who.name}};
      if (backfill) {
        body["count"] = runs.size();
        body["runs"] = std::move(runs);
      } else {
        body["run_id"] = runs[0]["run_id"];
        body["scheduled_at"] = runs[0]["scheduled_at"];
      }
      return Json(202, body);
    }
    case Endpoint::kPause:
    case Endpoint::kResume: {
      const bool pause = c.route.endpoint == Endpoint::kPause;
      auto reason = ParseReason(req.body);
      if (!reason) return Problem(400, reason.error().message);
      auto job = catalog_job();
      if (!job) return job.error().message.empty() ? unknown_job() : store_failed(job.error());
      if (pause && job->paused) {
        return Problem(409,
                       "\"" + c.route.job + "\" is already paused (by " + job->paused_by + ")");
      }
      if (!pause && !job->paused) return Problem(409, "\"" + c.route.job + "\" is not paused");
      messages::ControlRecord record{c.route.job, pause, c.who.name, now, *reason};
      if (auto ok = publisher_.PublishAndWait(
              {{topics_.Control(), c.route.job, messages::Encode(record)}});
          !ok) {
        return Problem(503, ok.error().message);
      }
      spdlog::info("{} {} by {}{}", pause ? "paused" : "resumed", c.route.job, c.who.name,
                   reason->empty() ? "" : ": " + *reason);
      return Json(200, {{"job", c.route.job},
                        {"paused", pause},
                        {"by", c.who.name},
                        {"at", FormatRfc3339Utc(now)},
                        {"reason", *reason}});
    }
    case Endpoint::kDead: {
      auto limit = ParseLimit(req.query, 100, 1000);
      if (!limit) return Problem(400, limit.error().message);
      const std::string cluster = req.query.count("cluster") ? req.query.at("cluster") : "";
      if (!cluster.empty() && !ValidName(cluster))
        return Problem(400, "cluster is not a valid name");
      auto dead = store_.ListDead(cluster, *limit);
      if (!dead) return store_failed(dead.error());
      json out = json::array();
      for (const auto& d : *dead) out.push_back(DeadJson(d));
      return Json(200, {{"dead", std::move(out)}});
    }
    case Endpoint::kReplay: {
      auto again = ParseFlag(req.query, "again");
      if (!again) return Problem(400, again.error().message);
      auto entry = store_.GetDead(c.route.cluster, c.route.run_id);
      if (!entry) return store_failed(entry.error());
      if (!*entry) {
        return Problem(404, "no dead letter of run \"" + c.route.run_id + "\" in cluster \"" +
                                c.route.cluster + "\"");
      }
      if ((*entry)->replayed_at_ms > 0 && !*again) {
        return Problem(409, "already replayed by " + (*entry)->replayed_by + ": pass ?again=true");
      }
      auto letter = messages::DecodeDeadLetter((*entry)->letter);
      if (!letter)
        return Problem(409, "the dead letter cannot be decoded: " + letter.error().message);
      auto task = messages::ReplayRun(*letter, (*entry)->position, now, c.who.name);
      if (!task) return Problem(409, task.error().message);
      auto value = options_.signer.Replay(*letter, *task);
      if (!value) return Problem(409, "not replayable: " + value.error().message);
      const messages::ReplayMarker marker{(*entry)->position, task->run_id, now, c.who.name};
      // The task first, then the marker: a failure in between replays again, never loses.
      if (auto ok = publisher_.PublishAndWait(
              {TaskRecord(topics_, *task, std::move(*value)),
               {topics_.Dead(c.route.cluster), task->run_id, messages::Encode(marker)}});
          !ok) {
        return Problem(503, ok.error().message);
      }
      metrics_.runs_requested.WithLabels({"replay"}).Inc();
      spdlog::info("replay of {} run {} from {} by {}", task->job, task->run_id, (*entry)->position,
                   c.who.name);
      return Json(202, {{"run_id", task->run_id},
                        {"job", task->job},
                        {"trigger", "replay"},
                        {"requested_by", c.who.name},
                        {"replayed_from", (*entry)->position}});
    }
    case Endpoint::kHealth: {
      auto paused = store_.PausedByCluster();
      if (!paused) return store_failed(paused.error());
      std::map<std::string, int64_t> paused_by_cluster(paused->begin(), paused->end());
      json clusters = json::array();
      for (const ClusterHealth& h : stats_.Health(now)) {
        clusters.push_back(
            {{"cluster", h.cluster},
             {"workers", h.workers},
             {"runs_per_second", h.runs_per_second},
             {"failure_rate", h.failure_rate},
             {"lateness_p99_ms", h.lateness_p99_ms < 0 ? json(nullptr) : json(h.lateness_p99_ms)},
             {"attempts", h.attempts},
             {"paused_jobs", paused_by_cluster[h.cluster]}});
        paused_by_cluster.erase(h.cluster);
      }
      for (const auto& [cluster, count] : paused_by_cluster) {
        clusters.push_back({{"cluster", cluster},
                            {"workers", json::array()},
                            {"runs_per_second", 0},
                            {"failure_rate", 0},
                            {"lateness_p99_ms", nullptr},
                            {"attempts", 0},
                            {"paused_jobs", count}});
      }
      const double last = metrics_.last_result.Value();
      json kafka = nullptr;
      if (options_.kafka != nullptr) {
        const KafkaState k = options_.kafka->Get(now);
        kafka = {{"reachable", k.reachable},
                 {"last_error", k.last_error.empty() ? json(nullptr) : json(k.last_error)},
                 {"last_error_at",
                  k.last_error.empty() ? json(nullptr) : json(FormatRfc3339Utc(k.last_error_at))}};
      }
      return Json(
          200,
          {{"window_seconds", stats_.window().count()},
           {"kafka", std::move(kafka)},
           {"clusters", std::move(clusters)},
           {"last_result_at", last > 0 ? Time(static_cast<int64_t>(last * 1000)) : json(nullptr)},
           {"grafana_url",
            options_.grafana_url.empty() ? json(nullptr) : json(options_.grafana_url)},
           {"prometheus_url",
            options_.prometheus_url.empty() ? json(nullptr) : json(options_.prometheus_url)}});
    }
    case Endpoint::kEvents: {
      auto subscription = events_.Subscribe();
      if (!subscription) return Problem(503, "too many open event streams; try again later");
      metrics_.event_streams.Set(static_cast<double>(events_.subscribers()));
      http::Response r;
      r.content_type = "text/event-stream";
      r.headers.emplace_back("Cache-Control", "no-cache");
      const auto heartbeat = options_.heartbeat;
      auto state = std::make_shared<std::pair<std::shared_ptr<EventHub::Subscription>, MonoTime>>(
          subscription, clock_.MonoNow());
      const Clock& clock = clock_;
      ConsoleMetrics& metrics = metrics_;
      EventHub& hub = events_;
      r.stream = [state, heartbeat, &clock, &metrics, &hub](const http::ChunkWriter& write) {
        bool closed = false;
        std::vector<Event> events = state->first->Next(std::chrono::milliseconds(1000), closed);
        std::string chunk;
        for (const Event& e : events) chunk += "event: " + e.type + "\ndata: " + e.json + "\n\n";
        if (chunk.empty() && clock.MonoNow() - state->second >= heartbeat)
          chunk = ": keepalive\n\n";
        if (!chunk.empty()) state->second = clock.MonoNow();
        const bool ok = closed ? false : chunk.empty() || write(chunk);
        if (!ok) {
          state->first.reset();
          metrics.event_streams.Set(static_cast<double>(hub.subscribers()));
        }
        return ok;
      };
      return r;
    }
    case Endpoint::kNotFound:
    case Endpoint::kMethodNotAllowed:
      break;
  }
  return Problem(404, "not found");
}

}  // namespace krond::console
