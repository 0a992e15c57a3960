// `krond validate FILE`: checks a job file the way the scheduler will load it, so a bad edit
// is caught before SIGHUP rather than by the running scheduler rejecting it.
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "config/job_file.h"
#include "main/command.h"

namespace krond::app {
namespace {

std::string Plural(size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// "examples/jobs.yaml: OK, 6 jobs on 2 clusters (cluster-a: 3, cluster-b: 3)"
std::string Summary(const config::JobFile& file) {
  std::map<std::string, size_t> per_cluster;
  for (const std::string& cluster : file.clusters) per_cluster[cluster] = 0;
  for (const config::Job& job : file.jobs) ++per_cluster[job.cluster];
  std::string counts;
  // File order, which is how the author thinks of them.
  for (const std::string& cluster : file.clusters) {
    if (!counts.empty()) counts += ", ";
    counts += cluster + ": " + std::to_string(per_cluster[cluster]);
  }
  return file.path + ": OK, " + Plural(file.jobs.size(), "job") + " on " +
         Plural(file.clusters.size(), "cluster") + " (" + counts + ")";
}

int Validate(const std::string& path) {
  auto file = config::LoadJobFile(path);
  if (!file) {
    for (const config::Problem& problem : file.error()) {
      std::fprintf(stderr, "%s\n", problem.ToString().c_str());
    }
    std::fprintf(stderr, "%s found\n", Plural(file.error().size(), "problem").c_str());
    return 1;
  }
  std::printf("%s\n", Summary(*file).c_str());
  return 0;
}

KROND_REGISTER_COMMAND(Command{
    .name = "validate",
    .description = "Check a job file and report every problem with its position",
    .setup = [](CLI::App& sub) -> std::function<int()> {
      auto path = std::make_shared<std::string>();
      sub.add_option("file", *path, "The job file (YAML), see docs/jobfile.md")->required();
      return [path] { return Validate(*path); };
    }});

}  // namespace
}  // namespace krond::app
