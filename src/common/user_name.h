#pragma once

#include <string_view>

namespace krond {

// Whether `name` may name a Unix user: 1..32 characters of [a-z0-9_.-] (and A-Z), not
// starting with '-' (an option to useradd/su), and not all digits (a number would be taken for
// a uid by some tools). The POSIX portable set, which Debian's adduser also enforces by
// default. Only the syntax: whether the user exists is known to the host that runs the
// command, not to the job file's loader.
bool IsValidUserName(std::string_view name);

}  // namespace krond
