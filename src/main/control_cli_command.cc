// The CLI of the control plane: `krond jobs list|show`, `krond runs list`, `krond run`,
// `krond backfill`, `krond pause`, `krond resume`. Each is one request to the console's API
// (docs/api.md): --console URL (or KROND_CONSOLE), the token in KROND_TOKEN.
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "console/cli_format.h"
#include "http/client.h"
#include "main/command.h"

namespace krond::app {
namespace {

struct ClientFlags {
  std::string console = "http://127.0.0.1:8080";
  std::string output = "table";
  std::string ca_file;

  void Add(CLI::App& app) {
    app.add_option("--console", console, "URL of `krond console`")
        ->envname("KROND_CONSOLE")
        ->capture_default_str();
    app.add_option("--output,-o", output, "table or json")
        ->check(CLI::IsMember({"table", "json"}))
        ->capture_default_str();
    app.add_option("--ca-file", ca_file, "PEM CAs to trust for an https console");
  }
};

// One API call; prints the reply with `format` (or as JSON) and returns the exit code:
// 0 for a 2xx reply, 1 for an error reply or no reply (the reason on stderr).
int Call(const std::string& command, const ClientFlags& flags, const std::string& method,
         const std::string& target, const std::string& body,
         Result<std::string> (*format)(std::string_view)) {
  std::map<std::string, std::string> headers;
  if (const char* token = std::getenv("KROND_TOKEN"); token != nullptr && *token != '\0') {
    headers["Authorization"] = std::string("Bearer ") + token;
  }
  http::ClientOptions options;
  options.ca_file = flags.ca_file;
  auto reply = http::Send(flags.console, method, target, body, headers, options);
  if (!reply) {
    std::cerr << "krond " << command << ": " << reply.error().message << "\n";
    return 1;
  }
  if (reply->status < 200 || reply->status >= 300) {
    auto j = nlohmann::json::parse(reply->body, nullptr, false);
    const std::string why =
        j.is_object() && j["error"].is_string() ? j["error"].get<std::string>() : reply->body;
    std::cerr << "krond " << command << ": " << reply->status << ": " << why << "\n";
    if (reply->status == 401) std::cerr << "(set KROND_TOKEN to an API token)\n";
    return 1;
  }
  if (flags.output == "json") {
    std::cout << reply->body;
    if (!reply->body.empty() && reply->body.back() != '\n') std::cout << "\n";
    return 0;
  }
  auto text = format(reply->body);
  if (!text) {
    std::cerr << "krond " << command << ": " << text.error().message << "\n";
    return 1;
  }
  std::cout << *text;
  return 0;
}

std::string Query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    out += (out.empty() ? "?" : "&") + k + "=" + http::UrlEncode(v);
  }
  return out;
}

std::string JobPath(const std::string& job, const std::string& tail = "") {
  return "/api/v1/jobs/" + http::UrlEncode(job) + tail;
}

struct JobsFlags {
  ClientFlags client;
  std::string name, cluster, outcome, sort, order, cursor, limit;
  std::string job;
};

KROND_REGISTER_COMMAND(Command{
    "jobs", "List the jobs of the catalog, or show one (through krond console)",
    [](CLI::App& sub) -> std::function<int()> {
      auto flags = std::make_shared<JobsFlags>();
      auto mode = std::make_shared<std::string>();
      sub.require_subcommand(1);
      CLI::App* list = sub.add_subcommand("list", "Every job with its last run and success rate");
      list->add_option("--name", flags->name, "Only names containing this");
      list->add_option("--cluster", flags->cluster, "Only this cluster");
      list->add_option("--outcome", flags->outcome, "Only jobs whose last run ended so, or paused");
      list->add_option("--sort", flags->sort, "name, cluster, last_run or success_rate");
      list->add_option("--order", flags->order, "asc or desc");
      list->add_option("--limit", flags->limit, "Jobs per page (1-1000, default 50)");
      list->add_option("--cursor", flags->cursor, "The next page, as printed");
      flags->client.Add(*list);
      list->callback([mode] { *mode = "list"; });
      CLI::App* show = sub.add_subcommand("show", "One job: definition, next fires, pauses");
      show->add_option("NAME", flags->job, "Job name")->required();
      flags->client.Add(*show);
      show->callback([mode] { *mode = "show"; });
      return [flags, mode] {
        if (*mode == "show")
          return Call("jobs show", flags->client, "GET", JobPath(flags->job), "",
                      console::FormatJob);
        return Call("jobs list", flags->client, "GET",
                    "/api/v1/jobs" + Query({{"name", flags->name},
                                            {"cluster", flags->cluster},
                                            {"outcome", flags->outcome},
                                            {"sort", flags->sort},
                                            {"order", flags->order},
                                            {"limit", flags->limit},
                                            {"cursor", flags->cursor}}),
                    "", console::FormatJobs);
      };
    }});

struct RunsFlags {
  ClientFlags client;
  std::string job, limit, before;
};

KROND_REGISTER_COMMAND(Command{
    "runs", "List a job's runs, newest first (through krond console)",
    [](CLI::App& sub) -> std::function<int()> {
      auto flags = std::make_shared<RunsFlags>();
      sub.require_subcommand(1);
      CLI::App* list = sub.add_subcommand("list", "A job's runs with their attempts");
      list->add_option("--job", flags->job, "Job name")->required();
      list->add_option("--limit", flags->limit, "Runs (1-1000, default 50)");
      list->add_option("--before", flags->before, "Older runs, as printed");
      flags->client.Add(*list);
      return [flags] {
        return Call("runs list", flags->client, "GET",
                    JobPath(flags->job, "/runs") +
                        Query({{"limit", flags->limit}, {"before", flags->before}}),
                    "", console::FormatRuns);
      };
    }});

struct ActionFlags {
  ClientFlags client;
  std::string job, from, to, reason;
};

// `krond run|pause|resume NAME` and `krond backfill NAME --from --to`: POSTs.
void AddAction(const char* name, const char* description, const char* tail) {
  RegisterCommand(
      Command{name, description, [name, tail](CLI::App& sub) -> std::function<int()> {
                auto flags = std::make_shared<ActionFlags>();
                sub.add_option("NAME", flags->job, "Job name")->required();
                const std::string verb = name;
                if (verb == "backfill") {
                  sub.add_option("--from", flags->from, "First instant (RFC 3339)")->required();
                  sub.add_option("--to", flags->to, "Last instant (RFC 3339)")->required();
                }
                if (verb == "pause")
                  sub.add_option("--reason", flags->reason, "Why (kept in the audit trail)");
                flags->client.Add(sub);
                return [flags, verb, tail] {
                  nlohmann::json body = nlohmann::json::object();
                  if (verb == "backfill") body = {{"from", flags->from}, {"to", flags->to}};
                  if (verb == "pause" && !flags->reason.empty()) body["reason"] = flags->reason;
                  return Call(verb, flags->client, "POST", JobPath(flags->job, tail), body.dump(),
                              console::FormatAction);
                };
              }});
}

[[maybe_unused]] const bool kActions = [] {
  AddAction("run", "Run a job now, once, like a scheduled run (through krond console)", "/run");
  AddAction("backfill", "Run a job once per scheduled instant of a past range", "/backfill");
  AddAction("pause", "Stop a job's fires until resumed (they are skipped, not queued)", "/pause");
  AddAction("resume", "Let a paused job fire again from its next instant", "/resume");
  return true;
}();

}  // namespace
}  // namespace krond::app
