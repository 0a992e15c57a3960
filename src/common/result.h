#pragma once

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace krond {

// An expected failure: a message a person can act on. Components return Result<T> for
// anything that can fail because of input or the environment; exceptions never cross a
// component boundary.
struct Error {
  std::string message;
};

template <class T>
using Result = tl::expected<T, Error>;

// Status is Result<void>: success carries nothing.
using Status = Result<void>;

inline tl::unexpected<Error> MakeError(std::string message) {
  return tl::unexpected<Error>(Error{std::move(message)});
}

}  // namespace krond
