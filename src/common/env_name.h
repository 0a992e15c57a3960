#pragma once

#include <string_view>

namespace krond {

// Whether `name` may name an environment variable a job sets: the POSIX portable form
// [A-Za-z_][A-Za-z0-9_]*, which every shell can `export` (a microVM's guest and the warm
// shells set variables that way). At most 256 bytes. Pure.
bool IsValidEnvName(std::string_view name);

// Names krond sets for every run and a job may not: KROND_RUN_ID, KROND_JOB, ... and every
// future KROND_* (docs/security.md, "Commands run with least privilege"). Pure.
bool IsReservedEnvName(std::string_view name);

}  // namespace krond
