// The traffic generator: deterministic per seed, labels that agree with the frames, floods at
// their rates and in their windows, legitimate traffic that parses as it should.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "generator/generator.hpp"
#include "packet/parse.hpp"
#include "support.hpp"

using namespace sipshield;

namespace {

Scenario small(uint64_t seed = 3) {
  Scenario s = parse_scenario(R"({"duration_s": 8, "users": {"count": 30, "warmup_s": 2,
      "server_ping_interval_s": 3, "keepalive_interval_s": 2,
      "newcomers": 3, "calls_per_user_per_hour": 400, "loss": 0.05},
      "floods": [{"kind": "register_flood", "start_s": 3, "duration_s": 2, "rate_pps": 500},
                 {"kind": "first_fragment", "start_s": 3, "duration_s": 2, "rate_pps": 200,
                  "spoofed": true},
                 {"kind": "scanner", "start_s": 4, "duration_s": 1, "rate_pps": 50, "style": "svwar"}]})");
  s.seed = seed;
  return s;
}

std::vector<GeneratedFrame> run(const Scenario& s) {
  FrameList list;
  generate(s, list);
  return list.frames;
}

}  // namespace

TEST_CASE("the same seed gives the same capture; another seed another", "[generator]") {
  const auto a = run(small(3)), b = run(small(3)), c = run(small(4));
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].bytes == b[i].bytes);
    CHECK(a[i].time_us == b[i].time_us);
    CHECK(a[i].label == b[i].label);
  }
  bool differs = a.size() != c.size();
  for (size_t i = 0; !differs && i < a.size(); ++i) differs = a[i].bytes != c[i].bytes;
  CHECK(differs);
}

TEST_CASE("frames are in time order, inside the scenario, and parse as UDP", "[generator]") {
  const Scenario s = small();
  const auto frames = run(s);
  REQUIRE(frames.size() > 500);
  uint64_t last = 0;
  for (const auto& f : frames) {
    CHECK(f.time_us >= last);
    last = f.time_us;
    CHECK(f.time_us >= s.epoch_s * 1'000'000);
    CHECK(f.time_us <= (s.epoch_s + 8) * 1'000'000);
    PacketMeta meta;
    REQUIRE(parse_frame(f.bytes.data(), static_cast<uint32_t>(f.bytes.size()), meta).ok);
    CHECK(meta.ip_version != 0);
  }
}

TEST_CASE("labels agree with the frames' direction and addresses", "[generator]") {
  const Scenario s = small();
  std::set<IpAddress> servers;
  for (const auto& srv : s.servers) servers.insert(srv.address);
  std::map<std::string, size_t> count;
  for (const auto& f : run(s)) {
    ++count[f.label];
    PacketMeta meta;
    parse_frame(f.bytes.data(), static_cast<uint32_t>(f.bytes.size()), meta);
    INFO(f.label);
    CHECK(servers.count(f.toward_server ? meta.dst : meta.src) == 1);
    const bool attack = f.label.rfind("atk_", 0) == 0;
    const bool legit = f.label.rfind("legit_", 0) == 0;
    CHECK(attack != legit);
    if (legit && f.toward_server) {
      CHECK((s.users.ipv4_prefix.contains(meta.src) || s.users.ipv6_prefix.contains(meta.src)));
    }
    if (attack && f.toward_server) CHECK(IpPrefix::parse("198.19.0.0/16")->contains(meta.src));
  }
  for (const char* label :
       {"legit_register", "legit_call", "legit_keepalive", "legit_ping", "legit_newcomer_register",
        "atk_register_flood", "atk_first_fragment_spoofed", "atk_scanner"}) {
    INFO(label);
    CHECK(count[label] > 0);
  }
}

TEST_CASE("a flood keeps to its window and about its rate", "[generator]") {
  const Scenario s = small();
  size_t n = 0;
  for (const auto& f : run(s)) {
    if (f.label != "atk_register_flood") continue;
    ++n;
    const double t = double(f.time_us - s.epoch_s * 1'000'000) / 1e6;
    CHECK(t >= 3.0);
    CHECK(t < 5.0);
  }
  CHECK(n > 800);  // 500 pps for 2 s
  CHECK(n < 1200);
}

TEST_CASE("first-fragment floods send only first fragments", "[generator]") {
  size_t n = 0;
  for (const auto& f : run(small())) {
    if (f.label != "atk_first_fragment_spoofed") continue;
    ++n;
    PacketMeta meta;
    parse_frame(f.bytes.data(), static_cast<uint32_t>(f.bytes.size()), meta);
    CHECK(meta.is_fragment);
    CHECK(meta.frag_offset == 0);
    CHECK(meta.more_fragments);
  }
  CHECK(n > 0);
}

TEST_CASE("large SDP makes INVITEs fragment; every call flow has client frames", "[generator]") {
  Scenario s = small();
  s.users.large_sdp_share = 1.0;
  size_t fragments = 0;
  std::map<uint64_t, size_t> to_server_by_call;
  for (const auto& f : run(s)) {
    if (f.label != "legit_call") continue;
    PacketMeta meta;
    parse_frame(f.bytes.data(), static_cast<uint32_t>(f.bytes.size()), meta);
    fragments += meta.is_fragment;
    if (f.toward_server) ++to_server_by_call[f.flow];
  }
  CHECK(fragments > 0);
  for (const auto& [flow, n] : to_server_by_call) CHECK(n >= 4);  // INVITE, ACK, INVITE, ACK...
}

TEST_CASE("scenario errors name the JSON path", "[generator][config]") {
  using Catch::Matchers::StartsWith;
  const auto error = [](const char* text) {
    return test::config_error([&] { parse_scenario(text); });
  };
  CHECK_THAT(error(R"({"floods": [{"kind": "smurf"}]})"),
             StartsWith("$.floods[0].kind: expected one of register_flood, invite_flood"));
  CHECK_THAT(error(R"({"floods": [{"rate_pps": 5}]})"), StartsWith("$.floods[0].kind: required"));
  CHECK_THAT(error(R"({"users": {"ipv6_share": 2}})"),
             StartsWith("$.users.ipv6_share: expected a number from 0 to 1"));
  CHECK_THAT(error(R"({"servers": ["198.18.0.10:99999"]})"),
             StartsWith("$.servers[0]: port 99999 is out of range (1-65535)"));
  CHECK_THAT(error(R"({"users": {"ipv4_prefix": "2001:db8::/64"}})"),
             StartsWith("$.users.ipv4_prefix: expected an IPv4 prefix"));
  CHECK_THAT(error(R"({"duration_s": 10, "floods": [{"kind": "non_sip", "start_s": 12}]})"),
             StartsWith("$.floods[0].start_s: expected a start before the end"));
  CHECK_THAT(error(R"({"servers": ["198.18.0.10"]})"),
             StartsWith("$.servers[0]: expected an address with a port"));
  CHECK_THAT(error(R"({"floods": [{"kind": "scanner", "style": "nmap"}]})"),
             StartsWith("$.floods[0].style: expected \"default\" or \"svmap\""));
  CHECK_THAT(error(R"({"flods": []})"), StartsWith("$.flods: unknown key"));
  CHECK_THAT(error(R"({"servers": ["198.18.0.10:5060"]})"),
             StartsWith("$.users.ipv6_share: expected 0: $.servers has no IPv6 server"));
  CHECK_THAT(error(R"({"servers": ["198.18.0.10:5060"], "users": {"ipv6_share": 0},
                       "floods": [{"kind": "non_sip", "ipv6": true}]})"),
             StartsWith("$.floods[0].ipv6: no IPv6 server"));
  CHECK_THAT(error(R"({"users": {"count": 300, "ipv4_prefix": "198.18.16.0/24"}})"),
             StartsWith("$.users.count: 310 users do not fit in 198.18.16.0/24"));
}

TEST_CASE("the built-in scenario is the shipped demo scenario and parses", "[generator]") {
  const Scenario s = parse_scenario(builtin_scenario_text());
  CHECK(s.floods.size() >= 10);
  CHECK(s.users.count == 200);
}

TEST_CASE("high flood rates hold: the schedule keeps fractions of a microsecond", "[generator]") {
  Scenario s = parse_scenario(R"({"duration_s": 2, "users": {"count": 0, "newcomers": 0},
      "floods": [{"kind": "non_sip", "start_s": 1, "duration_s": 0.1, "rate_pps": 500000}]})");
  const auto frames = run(s);
  CHECK(frames.size() > 47500);  // 50000 expected
  CHECK(frames.size() < 52500);
}

TEST_CASE("the registrar's answer to a scanner probe matches the probe", "[generator]") {
  Scenario s = parse_scenario(R"({"duration_s": 3, "users": {"count": 0, "newcomers": 0},
      "floods": [{"kind": "scanner", "style": "svwar", "start_s": 1, "duration_s": 0.2, "rate_pps": 50}]})");
  const auto frames = run(s);
  REQUIRE(frames.size() >= 10);
  const auto call_id = [](const GeneratedFrame& f) {
    const std::string text(f.bytes.begin() + 42, f.bytes.end());
    const auto at = text.find("Call-ID: ");
    return text.substr(at + 9, text.find("\r\n", at) - at - 9);
  };
  for (size_t i = 0; i + 1 < frames.size(); i += 2) {
    REQUIRE(frames[i].toward_server);
    REQUIRE_FALSE(frames[i + 1].toward_server);
    CHECK(call_id(frames[i]) == call_id(frames[i + 1]));
  }
}

TEST_CASE("a toll-fraud scanner sends INVITEs with SDP to international numbers", "[generator]") {
  Scenario s = parse_scenario(R"({"duration_s": 3, "users": {"count": 0, "newcomers": 0},
      "floods": [{"kind": "scanner", "style": "invite", "start_s": 1, "duration_s": 0.2, "rate_pps": 50}]})");
  const auto frames = run(s);
  REQUIRE(frames.size() >= 5);
  std::set<std::string> numbers;
  for (const auto& f : frames) {
    REQUIRE(f.toward_server);  // nobody answers
    PacketMeta meta;
    REQUIRE(parse_frame(f.bytes.data(), static_cast<uint32_t>(f.bytes.size()), meta).ok);
    const std::string text(f.bytes.begin() + 42, f.bytes.end());
    CHECK(text.rfind("INVITE sip:011972", 0) == 0);
    numbers.insert(text.substr(0, text.find('@')));
    CHECK(text.find("\r\nUser-Agent: sipcli/v1.8\r\n") != std::string::npos);
    CHECK(text.find("\r\nContent-Type: application/sdp\r\n") != std::string::npos);
    CHECK(text.find("\r\n\r\nv=0\r\n") != std::string::npos);
  }
  CHECK(numbers.size() == frames.size());  // a new number every probe
}
