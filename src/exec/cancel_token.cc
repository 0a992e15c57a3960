#include "exec/cancel_token.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace krond::exec {

CancelToken::CancelToken() : event_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

CancelToken::~CancelToken() {
  if (event_fd_ >= 0) close(event_fd_);
}

void CancelToken::Cancel() {
  if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
  if (event_fd_ >= 0) {
    const std::uint64_t one = 1;
    // Cannot fail short of a counter overflow, which one write cannot cause; the flag is
    // set regardless, so a lost wake-up would only delay the cancel to the next poll slice.
    [[maybe_unused]] ssize_t written = write(event_fd_, &one, sizeof(one));
  }
}

}  // namespace krond::exec
