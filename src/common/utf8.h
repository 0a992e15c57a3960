#pragma once

#include <cstddef>
#include <string>
#include <string_view>

// UTF-8 checks shared by everything that turns untrusted bytes into text: job files (which
// must be valid UTF-8), JSON messages and the Prometheus text format (which must carry it).
namespace krond {

// Bytes of the well-formed UTF-8 character `text` starts with (1..4), or 0 when it does not
// start with one: a stray continuation byte, a truncated sequence, an overlong form, a UTF-16
// surrogate or a code point above U+10FFFF (RFC 3629). Requires: !text.empty().
std::size_t Utf8SequenceLength(std::string_view text);

// `text` with each byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view text);

// The longest prefix of `text` of at most `max_bytes` that does not end inside a UTF-8
// sequence.
std::string TruncateUtf8(std::string_view text, std::size_t max_bytes);

}  // namespace krond
