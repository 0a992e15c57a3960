#pragma once

#include <string_view>

namespace krond::metrics::internal {

// Prints "krond: metrics: <message>" to stderr and aborts. For broken invariants only:
// conflicting registrations, negative counter increments, wrong label counts.
[[noreturn]] void Fail(std::string_view message);

}  // namespace krond::metrics::internal
