#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace krond {

// Parses a size in bytes: "1048576", "512KiB", "100MiB", "2GiB"; K/M/G, KB/MB/GB and
// KiB/MiB/GiB are all powers of 1024, in any case; "b" or no unit is bytes. Returns nothing
// for zero, a negative or non-numeric value, an unknown unit, or an overflow.
std::optional<std::uint64_t> ParseByteSize(std::string_view text);

}  // namespace krond
