#include "console/kafka_status.h"

namespace krond::console {

void KafkaStatus::OnError(const std::string& description, SystemTime now) {
  std::lock_guard lock(mu_);
  last_error_ = description;
  last_error_at_ = now;
}

void KafkaStatus::OnSuccess(SystemTime now) {
  std::lock_guard lock(mu_);
  last_success_at_ = now;
}

KafkaState KafkaStatus::Get(SystemTime now) const {
  std::lock_guard lock(mu_);
  KafkaState state;
  state.last_error = last_error_;
  state.last_error_at = last_error_at_;
  const bool erred = !last_error_.empty();
  state.reachable = !erred || last_success_at_ > last_error_at_ || now - last_error_at_ >= quiet_;
  return state;
}

}  // namespace krond::console
