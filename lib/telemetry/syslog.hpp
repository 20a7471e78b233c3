// Events to a syslog collector: RFC 5424 messages over UDP (RFC 5426, one per datagram) or TCP
// with octet counting (RFC 6587), the ECS JSON line as the message, rate-limited so that an
// attack cannot flood the collector (what is held back is counted and said in one message when
// the rate allows again). Main lcore only; never blocks: a TCP collector that is down or slow
// costs the messages, counted, and a reconnect every few seconds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sipshield {

enum class SyslogTransport : uint8_t { udp, tcp };

struct SyslogConfig {
  bool enabled = false;
  std::string address = "127.0.0.1";
  uint16_t port = 514;
  SyslogTransport transport = SyslogTransport::udp;
  unsigned per_second = 100;  // messages at most; the rest are counted, and said in one message
  unsigned facility = 16;     // local0
  std::string app_name = "sipshield";
};

enum class Severity : uint8_t { emergency, alert, critical, error, warning, notice, info, debug };

// One RFC 5424 message, without framing: "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG"
// (no structured data: the message is the event's JSON).
std::string rfc5424_message(unsigned facility, Severity severity, uint64_t time_ns,
                            std::string_view hostname, std::string_view app_name, int procid,
                            std::string_view msgid, std::string_view message);

class SyslogSender {
 public:
  explicit SyslogSender(const SyslogConfig& config);
  ~SyslogSender();
  SyslogSender(const SyslogSender&) = delete;
  SyslogSender& operator=(const SyslogSender&) = delete;

  // `time_ns`: the event's Unix time; `now_ns`: a monotonic clock for the rate limit.
  void send(Severity severity, uint64_t time_ns, std::string_view msgid, std::string_view message,
            uint64_t now_ns);

  uint64_t sent() const { return sent_; }
  uint64_t suppressed() const { return suppressed_; }
  uint64_t failed() const { return failed_; }

 private:
  void start_connect(uint64_t now_ns);  // TCP, non-blocking
  bool connected();                     // UDP: always
  void transmit(const std::string& message);

  SyslogConfig config_;
  std::string hostname_;
  int procid_;
  int fd_ = -1;
  bool connecting_ = false;
  uint64_t next_connect_ns_ = 0;
  uint64_t window_ns_ = 0;  // start of the current second
  unsigned in_window_ = 0;
  uint64_t held_back_ = 0;  // suppressed since the last "suppressed" message
  uint64_t sent_ = 0, suppressed_ = 0, failed_ = 0;
};

}  // namespace sipshield
