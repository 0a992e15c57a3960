#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace krond::exec {

// A TCP listener on 127.0.0.1 and a free port: the kind of host service (the worker's
// metrics, a local Kafka) a sandboxed command must not reach. Nothing accepts; a connection
// that gets through lands in the backlog. Valid() is false if the socket could not be set up.
class LoopbackListener {
 public:
  LoopbackListener() : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    auto* any = reinterpret_cast<sockaddr*>(&address);
    if (fd_ < 0 || bind(fd_, any, length) != 0 || listen(fd_, 8) != 0 ||
        getsockname(fd_, any, &length) != 0) {
      return;
    }
    port_ = std::to_string(ntohs(address.sin_port));
  }
  ~LoopbackListener() {
    if (fd_ >= 0) close(fd_);
  }
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  bool Valid() const { return !port_.empty(); }
  const std::string& port() const { return port_; }

 private:
  int fd_;
  std::string port_;
};

}  // namespace krond::exec
