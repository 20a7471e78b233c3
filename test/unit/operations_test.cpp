// Operations pieces on their own: the syslog message and its rate limit (over a real UDP
// socket), the Prometheus exposition's escaping, operators' bans, the state snapshot's round trip
// and refusals, and the new config keys' errors.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "control/operator_bans.hpp"
#include "control/snapshot.hpp"
#include "control/top_talkers.hpp"
#include "support.hpp"
#include "telemetry/alarms.hpp"
#include "telemetry/drop_samples.hpp"
#include "telemetry/exposition.hpp"
#include "telemetry/syslog.hpp"

using namespace sipshield;

namespace {

// A UDP socket on 127.0.0.1 (an ephemeral port) that collects what arrives.
struct UdpCollector {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  uint16_t port = 0;
  UdpCollector() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    socklen_t length = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length);
    port = ntohs(a.sin_port);
    timeval wait{0, 200'000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  }
  ~UdpCollector() { close(fd); }
  std::vector<std::string> messages() {
    std::vector<std::string> out;
    char buffer[65536];
    for (ssize_t n; (n = recv(fd, buffer, sizeof(buffer), 0)) > 0;) out.emplace_back(buffer, n);
    return out;
  }
};

std::string config_error_of(const std::string& text) {
  return test::config_error([&] { parse_config_text(text); });
}

}  // namespace

TEST_CASE("an RFC 5424 message has its header fields in order") {
  // 2026-12-02T11:22:51.123456Z, local0 (16) warning (4): PRI 132.
  const uint64_t t = 1'796'210'571'123'456'789ULL;
  CHECK(rfc5424_message(16, Severity::warning, t, "fw1", "sipshield", 42, "source-banned",
                        R"({"a":1})") ==
        R"(<132>1 2026-12-02T11:22:51.123456Z fw1 sipshield 42 source-banned - {"a":1})");
  CHECK(rfc5424_message(0, Severity::debug, 0, "", "x", 1, "m", "") ==
        "<7>1 1970-01-01T00:00:00.000000Z - x 1 m - ");
}

TEST_CASE("syslog over UDP sends at most per_second messages, then says how many it held back") {
  UdpCollector collector;
  SyslogConfig config;
  config.enabled = true;
  config.port = collector.port;
  config.per_second = 5;
  SyslogSender sender(config);
  const uint64_t second = 1'000'000'000;
  for (int i = 0; i < 100; ++i)
    sender.send(Severity::warning, 0, "source-banned", "{}", 10 * second + i);
  CHECK(sender.sent() == 5);
  CHECK(sender.suppressed() == 95);
  auto got = collector.messages();
  REQUIRE(got.size() == 5);
  CHECK(got[0].find(" sipshield ") != std::string::npos);
  CHECK(got[0].find(" source-banned - {}") != std::string::npos);
  // The next second: first the count of what was held back, then the new event.
  sender.send(Severity::notice, 0, "source-unbanned", "{}", 11 * second + 1);
  got = collector.messages();
  REQUIRE(got.size() == 2);
  CHECK(got[0].find(" syslog-suppressed - ") != std::string::npos);
  CHECK(got[0].find(R"("suppressed_messages":95)") != std::string::npos);
  CHECK(got[1].find(" source-unbanned - ") != std::string::npos);
}

TEST_CASE("syslog over TCP to nobody fails counted, without blocking or throwing") {
  SyslogConfig config;
  config.enabled = true;
  config.transport = SyslogTransport::tcp;
  config.port = 9;  // discard: nothing listens on 127.0.0.1 here
  SyslogSender sender(config);
  for (int i = 0; i < 10; ++i) sender.send(Severity::warning, 0, "x", "{}", uint64_t(i));
  CHECK(sender.sent() == 0);
  CHECK(sender.failed() == 10);
}

TEST_CASE("the exposition escapes label values and writes HELP and TYPE once per family") {
  Exposition x;
  x.family("sipshield_signature_hits_total", "counter", "Hits \\ by rule\nid");
  x.sample({{"rule", "a\"b\\c\nd"}}, uint64_t{3});
  x.sample({{"rule", "plain"}, {"worker", "0"}}, uint64_t{0});
  x.family("sipshield_uptime_seconds", "gauge", "Seconds");
  x.sample({}, 1.5);
  CHECK(x.text() ==
        "# HELP sipshield_signature_hits_total Hits \\\\ by rule\\nid\n"
        "# TYPE sipshield_signature_hits_total counter\n"
        "sipshield_signature_hits_total{rule=\"a\\\"b\\\\c\\nd\"} 3\n"
        "sipshield_signature_hits_total{rule=\"plain\",worker=\"0\"} 0\n"
        "# HELP sipshield_uptime_seconds Seconds\n"
        "# TYPE sipshield_uptime_seconds gauge\n"
        "sipshield_uptime_seconds 1.5\n");
}

TEST_CASE("operators' bans renew, lift exactly their prefix, and run out") {
  OperatorBans bans;
  const auto p24 = *IpPrefix::parse("198.18.7.0/24");
  const auto p32 = *IpPrefix::parse("198.18.7.7");
  REQUIRE(bans.add({p24, 100, 200, "flood"}));
  REQUIRE(bans.add({p32, 100, 500, "one host"}));
  REQUIRE(bans.add({p24, 150, 300, "renewed"}));  // the same prefix: replaced, not doubled
  REQUIRE(bans.list().size() == 2);
  CHECK(bans.list()[0].why == "renewed");
  CHECK_FALSE(bans.remove(*IpPrefix::parse("198.18.7.0/25")));  // not that prefix
  const auto expired = bans.expire(300);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].prefix.to_string() == "198.18.7.0/24");
  CHECK(bans.remove(p32));
  CHECK(bans.list().empty());
  for (size_t i = 0; i < OperatorBans::kMax; ++i) {
    IpPrefix p = p32;
    p.address.bytes[14] = static_cast<uint8_t>(i >> 8);
    p.address.bytes[15] = static_cast<uint8_t>(i);
    REQUIRE(bans.add({p, 0, 1000, "many"}));
  }
  CHECK_FALSE(bans.add({*IpPrefix::parse("203.0.113.0/24"), 0, 1000, "one too many"}));
}

TEST_CASE("a snapshot reads back what was written, and is refused when old, foreign or damaged") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("sipshield-snapshot-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = dir / "state.json";
  Snapshot s;
  s.written_ms = 1'000'000;
  s.protected_services = {"198.18.0.10:5060"};
  s.sources.push_back({*IpAddress::parse("198.18.5.1"), 5060, 2'000'000, 0});
  s.sources.push_back({*IpAddress::parse("2001:db8::6"), 5070, 0, 1'500'000});
  s.operator_bans.push_back({*IpPrefix::parse("198.18.9.0/24"), 999, 5000, "kept"});
  write_snapshot(path, s);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  std::string why;
  const auto back = read_snapshot(path, 1'000'500, 60'000, s.protected_services, why);
  REQUIRE(back);
  REQUIRE(back->sources.size() == 2);
  CHECK(back->sources[1].ip.to_string() == "2001:db8::6");
  CHECK(back->sources[1].banned_until_ms == 1'500'000);
  CHECK(back->sources[0].trusted_until_ms == 2'000'000);
  REQUIRE(back->operator_bans.size() == 1);
  CHECK(back->operator_bans[0].why == "kept");

  CHECK_FALSE(read_snapshot(path, 1'000'000 + 61'000, 60'000, s.protected_services, why));
  CHECK(why.find("snapshot.max_age_s is 60") != std::string::npos);
  CHECK_FALSE(read_snapshot(path, 1'000'500, 60'000, {"198.18.0.20:5060"}, why));
  CHECK(why.find("other protected services") != std::string::npos);
  std::ofstream(path) << R"({"format": "sipshield-state", "version": 1, "written_ms": 1000000,)"
                         R"( "protected": ["198.18.0.10:5060"], "sources": [{"ip": "nonsense"}]})";
  CHECK_FALSE(read_snapshot(path, 1'000'500, 60'000, s.protected_services, why));
  CHECK(why.find("is damaged") != std::string::npos);
  std::ofstream(path) << R"({"format": "sipshield-state", "version": 9})";
  CHECK_FALSE(read_snapshot(path, 1'000'500, 60'000, s.protected_services, why));
  CHECK(why.find("not a version 1") != std::string::npos);
  std::filesystem::remove_all(dir);
  CHECK_FALSE(read_snapshot(path, 1'000'500, 60'000, s.protected_services, why));
  CHECK(why.find("no snapshot at") != std::string::npos);
}

TEST_CASE("operations settings refuse bad values naming their JSON path") {
  CHECK(config_error_of(R"({"control": {"socket": "relative.sock"}})") ==
        "$.control.socket: expected an absolute path, or \"\" for no socket, got string "
        "\"relative.sock\"");
  CHECK(config_error_of(R"({"metrics": {"address": "localhost"}})") ==
        "$.metrics.address: expected an IPv4 or IPv6 address, got string \"localhost\"");
  CHECK(config_error_of(R"({"metrics": {"port": 0}})") ==
        "$.metrics.port: expected an integer from 1 to 65535, got number 0");
  CHECK(config_error_of(R"({"syslog": {"transport": "tls"}})") ==
        "$.syslog.transport: expected \"udp\" or \"tcp\", got string \"tls\"");
  CHECK(config_error_of(R"({"syslog": {"app_name": "sip shield"}})")
            .starts_with("$.syslog.app_name: expected 1 to 48 printable ASCII characters"));
  CHECK(config_error_of(R"({"snapshot": {"max_age_s": 0}})") ==
        "$.snapshot.max_age_s: expected an integer from 1 to 2592000, got number 0");
  CHECK(config_error_of(R"({"snapshot": {"every": 5}})")
            .starts_with("$.snapshot.every: unknown key"));
  const Config c = parse_config_text(R"({"snapshot": {"file": "state.json"}})", "/etc/sipshield");
  CHECK(c.snapshot.file == "/etc/sipshield/state.json");
  CHECK(c.metrics.enabled);
  CHECK(c.metrics.address == "127.0.0.1");
  CHECK(c.metrics.port == 9470);
}

TEST_CASE("alarms rise at once and clear only after clear_s quiet seconds (hysteresis)") {
  AlarmLevels alarms({true, 100, 1000, 3});
  std::array<uint64_t, kReasonCount> dropped{};
  const size_t banned = static_cast<size_t>(Reason::source_banned);
  const auto second = [&](uint64_t pps) {
    dropped[banned] += pps;
    return alarms.second(dropped);
  };
  CHECK(second(0).empty());  // primes the totals
  CHECK(second(50).empty());
  auto c = second(150);
  REQUIRE(c.size() == 1);
  CHECK((c[0].reason == Reason::source_banned && c[0].from == AlarmLevel::none &&
         c[0].to == AlarmLevel::warning && c[0].pps == 150));
  c = second(5000);
  REQUIRE(c.size() == 1);
  CHECK(c[0].to == AlarmLevel::major);
  // Hovering around the threshold, or below it for less than clear_s seconds: no change.
  CHECK(second(900).empty());
  CHECK(second(400).empty());
  CHECK(second(400).empty());
  CHECK(second(600).empty());  // not below half the major threshold: the quiet count restarts
  CHECK(second(400).empty());
  CHECK(second(400).empty());
  c = second(400);  // the third quiet second: down to the level the rate is at
  REQUIRE(c.size() == 1);
  CHECK((c[0].from == AlarmLevel::major && c[0].to == AlarmLevel::warning));
  CHECK(second(10).empty());
  CHECK(second(10).empty());
  c = second(10);
  REQUIRE(c.size() == 1);
  CHECK(c[0].to == AlarmLevel::none);
  CHECK(alarms.level(Reason::source_banned) == AlarmLevel::none);
  AlarmLevels off({false, 1, 1, 1});
  dropped[banned] += 1'000'000;
  CHECK(off.second(dropped).empty());
  dropped[banned] += 1'000'000;
  CHECK(off.second(dropped).empty());
}

TEST_CASE("the drop sampler copies about per_second frames a second, each standing for the rest") {
  DropSampler sampler;
  sampler.set_per_second(100);
  const uint8_t frame[64] = {1, 2, 3};
  const Verdict v{Action::drop, Reason::source_banned};
  const uint64_t second = 1'000'000'000;
  // 100,000 drops in each of three seconds: after the first second, one copy in a thousand.
  uint64_t copies = 0, weight = 0;
  DropSample s;
  for (uint64_t sec = 1; sec <= 3; ++sec) {
    copies = weight = 0;
    for (uint64_t i = 0; i < 100'000; ++i) {
      sampler.dropped(frame, sizeof(frame), v, sec * second + i * 10'000);
      while (sampler.next(s)) {
        ++copies;
        weight += s.weight;
      }
    }
  }
  CHECK(copies == 100);
  CHECK(weight == 100'000);  // the copies stand for every drop
  CHECK(s.reason == Reason::source_banned);
  CHECK(s.length == sizeof(frame));
  CHECK(s.bytes[2] == 3);
  // Undrained, the ring fills; then it samples ever less often (each attempt that finds it full
  // doubles the gap), counted as lost, never written over.
  for (uint64_t i = 0; i < 2'000'000; ++i) sampler.dropped(frame, sizeof(frame), v, 4 * second);
  CHECK(sampler.lost() > 0);
  CHECK(sampler.lost() < 20);
}

TEST_CASE("top talkers rank by the last second's drops and forget quiet sources") {
  TopTalkers top;
  const auto a = *IpAddress::parse("198.18.6.6"), b = *IpAddress::parse("198.18.7.7");
  top.add("198.18.6.6:5070", a, 5070, Reason::source_banned, 500, 100);
  top.add("198.18.6.6:5070", a, 5070, Reason::rate_limited, 100, 100);
  top.add("198.18.7.7:5060", b, 5060, Reason::rate_limited, 900, 100);
  top.second(101);
  auto t = top.top(5);
  REQUIRE(t.size() == 2);
  CHECK(t[0].source == "198.18.7.7:5060");
  CHECK(t[0].last_second == 900);
  CHECK(t[1].top_reason == Reason::source_banned);
  top.add("198.18.6.6:5070", a, 5070, Reason::source_banned, 10, 101);
  top.second(102);
  t = top.top(1);
  REQUIRE(t.size() == 1);
  CHECK(t[0].source == "198.18.6.6:5070");  // the only one dropping in the last second
  CHECK(t[0].total == 610);
  top.second(170);  // a minute quiet: forgotten
  CHECK(top.top(5).empty());
}
