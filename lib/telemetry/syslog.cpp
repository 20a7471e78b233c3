#include "telemetry/syslog.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/ip_address.hpp"

namespace sipshield {
namespace {

constexpr uint64_t kReconnectNs = 3'000'000'000;

sockaddr_storage socket_address(const SyslogConfig& c, socklen_t& length) {
  sockaddr_storage a{};
  const auto ip = IpAddress::parse(c.address);
  if (!ip) throw DataplaneError(fmt::format("syslog.address: \"{}\" is not an address", c.address));
  if (ip->is_v4()) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(c.port);
    std::memcpy(&v4->sin_addr, ip->bytes.data() + 12, 4);
    length = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(c.port);
    std::memcpy(&v6->sin6_addr, ip->bytes.data(), 16);
    length = sizeof(sockaddr_in6);
  }
  return a;
}

}  // namespace

std::string rfc5424_message(unsigned facility, Severity severity, uint64_t time_ns,
                            std::string_view hostname, std::string_view app_name, int procid,
                            std::string_view msgid, std::string_view message) {
  const auto seconds = static_cast<std::time_t>(time_ns / 1'000'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("<{}>1 {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z {} {} {} {} - {}",
                     facility * 8 + static_cast<unsigned>(severity), utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                     (time_ns / 1000) % 1'000'000, hostname.empty() ? "-" : hostname, app_name,
                     procid, msgid, message);
}

SyslogSender::SyslogSender(const SyslogConfig& config) : config_(config), procid_(getpid()) {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) == 0) hostname_ = name;
  for (char& ch : hostname_)  // RFC 5424 HOSTNAME: printable US-ASCII, no space
    if (ch <= 32 || ch >= 127) ch = '-';
  socklen_t length = 0;
  socket_address(config_, length);  // an unusable address fails the start, not the first event
  if (config_.transport == SyslogTransport::tcp) start_connect(0);  // ready by the first event
  if (config_.transport == SyslogTransport::udp) {
    const sockaddr_storage a = socket_address(config_, length);
    fd_ = socket(a.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<const sockaddr*>(&a), length) != 0)
      throw DataplaneError(fmt::format("syslog: cannot open UDP to {}:{}: {}", config_.address,
                                       config_.port, std::strerror(errno)));
  }
}

SyslogSender::~SyslogSender() {
  if (fd_ >= 0) close(fd_);
}

void SyslogSender::start_connect(uint64_t now_ns) {
  next_connect_ns_ = now_ns + kReconnectNs;
  socklen_t length = 0;
  const sockaddr_storage a = socket_address(config_, length);
  fd_ = socket(a.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  const int rc = connect(fd_, reinterpret_cast<const sockaddr*>(&a), length);
  if (rc != 0 && errno != EINPROGRESS) {
    close(fd_);
    fd_ = -1;
  }
  connecting_ = rc != 0 && fd_ >= 0;
}

bool SyslogSender::connected() {
  if (config_.transport == SyslogTransport::udp) return true;
  if (fd_ >= 0 && connecting_) {
    pollfd p{fd_, POLLOUT, 0};
    if (poll(&p, 1, 0) <= 0) return false;  // still connecting
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      close(fd_);
      fd_ = -1;
    }
    connecting_ = false;
  }
  if (fd_ >= 0) return true;
  return false;
}

void SyslogSender::transmit(const std::string& message) {
  std::string framed = config_.transport == SyslogTransport::tcp
                           ? fmt::format("{} {}", message.size(), message)
                           : message;
  if (!connected()) {
    ++failed_;
    return;
  }
  const ssize_t n = ::send(fd_, framed.data(), framed.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n == static_cast<ssize_t>(framed.size())) {
    ++sent_;
    return;
  }
  ++failed_;
  // A short or failed write on TCP breaks the framing: start over on a new connection.
  if (config_.transport == SyslogTransport::tcp) {
    close(fd_);
    fd_ = -1;
  }
}

void SyslogSender::send(Severity severity, uint64_t time_ns, std::string_view msgid,
                        std::string_view message, uint64_t now_ns) {
  if (config_.transport == SyslogTransport::tcp && fd_ < 0 && now_ns >= next_connect_ns_)
    start_connect(now_ns);
  if (now_ns - window_ns_ >= 1'000'000'000) {
    window_ns_ = now_ns;
    in_window_ = 0;
    if (held_back_) {  // said once, when the rate allows again
      const std::string note = fmt::format(
          R"({{"event":{{"kind":"metric","action":"syslog-suppressed","module":"sipshield"}},)"
          R"("sipshield":{{"suppressed_messages":{}}}}})",
          held_back_);
      held_back_ = 0;
      ++in_window_;
      transmit(rfc5424_message(config_.facility, Severity::warning, time_ns, hostname_,
                               config_.app_name, procid_, "syslog-suppressed", note));
    }
  }
  if (in_window_ >= config_.per_second) {
    ++held_back_;
    ++suppressed_;
    return;
  }
  ++in_window_;
  transmit(rfc5424_message(config_.facility, severity, time_ns, hostname_, config_.app_name,
                           procid_, msgid, message));
}

}  // namespace sipshield
