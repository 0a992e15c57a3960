#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

// What the CLI commands (`krond jobs list`, `krond runs list`, ...) print for the console
// API's JSON responses: aligned columns for people. Errors for a body that is not the
// documented shape.
namespace krond::console {

// Columns padded to their widest cell, two spaces apart; no trailing spaces.
std::string Table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows);

// GET /api/v1/jobs
[[nodiscard]] Result<std::string> FormatJobs(std::string_view body);
// GET /api/v1/jobs/{name}
[[nodiscard]] Result<std::string> FormatJob(std::string_view body);
// GET /api/v1/jobs/{name}/runs
[[nodiscard]] Result<std::string> FormatRuns(std::string_view body);
// The replies of run, backfill, pause and resume.
[[nodiscard]] Result<std::string> FormatAction(std::string_view body);

}  // namespace krond::console
