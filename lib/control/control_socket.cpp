#include "control/control_socket.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "core/errors.hpp"

namespace sipshield {
namespace {

constexpr size_t kMaxRequest = 64 * 1024;

sockaddr_un address_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path))
    throw std::runtime_error(fmt::format("{}: longer than a unix socket path may be", path));
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

// Whether a daemon answers on `path` (a connect succeeds).
bool answered(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_un a = address_of(path);
  const bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

// Reads up to a newline (or EOF) within `timeout`; what came.
std::string read_line(int fd, std::chrono::milliseconds timeout, bool stop_at_newline) {
  std::string data;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[4096];
  while (data.size() < kMaxRequest * 16) {
    if (stop_at_newline && data.find('\n') != std::string::npos) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("timed out");
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    data.append(buffer, static_cast<size_t>(n));
    if (stop_at_newline && data.size() > kMaxRequest) throw std::runtime_error("request too long");
  }
  return data;
}

void write_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = write(fd, data.data() + sent, data.size() - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client went away: nothing to tell it
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

ControlSocket::ControlSocket(std::string path, const std::string& group_name)
    : path_(std::move(path)) {
  const std::string& group = group_name;
  gid_t gid = 0;
  if (!group.empty()) {
    const struct group* g = getgrnam(group.c_str());
    if (!g) throw DataplaneError(fmt::format("control.group: no group \"{}\" on this host", group));
    gid = g->gr_gid;
  }
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw DataplaneError(fmt::format("control.socket: {} exists and is not a socket", path_));
    if (answered(path_))
      throw DataplaneError(fmt::format(
          "control.socket: another daemon answers on {} (set control.socket to another path)",
          path_));
    unlink(path_.c_str());  // left by a daemon that did not stop cleanly
  }
  const auto slash = path_.rfind('/');
  if (slash != std::string::npos && slash > 0) mkdir(path_.substr(0, slash).c_str(), 0755);
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw DataplaneError(fmt::format("control.socket: {}", std::strerror(errno)));
  const sockaddr_un a = address_of(path_);
  // Created with no access at all, then opened to root (and the group) once it exists.
  const mode_t old_mask = umask(0777);
  const int rc = bind(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof(a));
  umask(old_mask);
  if (rc != 0 || listen(fd_, 16) != 0 || chmod(path_.c_str(), group.empty() ? 0600 : 0660) != 0 ||
      (!group.empty() && chown(path_.c_str(), 0, gid) != 0)) {
    const std::string why = std::strerror(errno);
    close(fd_);
    if (rc == 0) unlink(path_.c_str());
    throw DataplaneError(fmt::format("control.socket: cannot serve on {}: {}", path_, why));
  }
}

ControlSocket::~ControlSocket() {
  if (fd_ < 0) return;
  close(fd_);
  unlink(path_.c_str());
}

void ControlSocket::serve(const Handler& handle) {
  for (;;) {
    const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;  // none waiting (EAGAIN), or an error the next poll retries
    nlohmann::json answer;
    try {
      const std::string line = read_line(client, std::chrono::milliseconds(1000), true);
      const auto request = nlohmann::json::parse(line.substr(0, line.find('\n')));
      if (!request.is_object() || !request.contains("command") || !request["command"].is_string())
        throw std::runtime_error("a request is a JSON object with a \"command\" string");
      answer = handle(request);
    } catch (const std::exception& e) {
      answer = {{"error", e.what()}};
    }
    write_all(client, answer.dump() + "\n");
    close(client);
  }
}

nlohmann::json control_request(const std::string& path, const nlohmann::json& request,
                               std::chrono::milliseconds timeout) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::strerror(errno));
  const sockaddr_un a = address_of(path);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
    const std::string why = std::strerror(errno);
    close(fd);
    throw std::runtime_error(
        fmt::format("cannot reach the daemon on {}: {} (is it running? is this its "
                    "control.socket? root or the control group may connect)",
                    path, why));
  }
  std::string answer;
  try {
    write_all(fd, request.dump() + "\n");
    answer = read_line(fd, timeout, false);
  } catch (const std::exception& e) {
    close(fd);
    throw std::runtime_error(fmt::format("{}: no answer: {}", path, e.what()));
  }
  close(fd);
  try {
    return nlohmann::json::parse(answer);
  } catch (const std::exception&) {
    throw std::runtime_error(fmt::format("{}: the answer is not JSON: {}", path, answer));
  }
}

}  // namespace sipshield
