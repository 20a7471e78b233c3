// The daemon's control socket (sipshield-ctl): a unix stream socket, served by the main lcore
// between its other chores, never by a worker. One request per connection: a JSON object on
// one line, answered by one JSON line. Who may connect is the socket file's mode: root only
// (0600), or root and one group (0660).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace sipshield {

class ControlSocket {
 public:
  // Binds `path`. A socket file that no daemon answers on (left by one that was killed) is
  // replaced; one that answers is another daemon's: DataplaneError, as is an unknown group.
  ControlSocket(std::string path, const std::string& group);
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  // Answers the connections waiting now (non-blocking when none). A request that is not one
  // JSON object gets {"error": ...}; a client that sends nothing for a second is dropped.
  void serve(const Handler& handle);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// The client side (sipshield-ctl, tests): sends `request`, returns the daemon's answer. Throws
// std::runtime_error saying what failed (no daemon, permission, timeout, garbled answer).
nlohmann::json control_request(const std::string& path, const nlohmann::json& request,
                               std::chrono::milliseconds timeout);

}  // namespace sipshield
