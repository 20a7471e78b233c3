// The per-burst pipeline through the offline replay: real mbufs from a real mempool, frames
// built as a sender would, verdicts as sipshield-inspect reports them.
#include <catch2/catch.hpp>

#include <map>

#include <fmt/format.h>

#include "dataplane/replay.hpp"
#include "support.hpp"

using namespace sipshield;
using test::ep;

namespace {

Config protecting(std::initializer_list<const char*> services) {
  Config c;
  for (const char* s : services) c.protected_services.push_back(*ServiceMatch::parse(s));
  return c;
}

struct Released : ReplayListener {
  std::vector<std::pair<uint64_t, Frame>> frames;  // in release order
  void released(uint64_t index, std::span<const uint8_t> f, uint64_t, Verdict) override {
    frames.emplace_back(index, Frame(f.begin(), f.end()));
  }
};

// Replays frames at the given microsecond times (default: 1 ms apart) and returns the verdicts.
std::vector<Verdict> replay(const Config& config, const std::vector<Frame>& frames,
                            std::vector<uint64_t> times_us = {}, Released* out = nullptr) {
  test::ensure_eal();
  const KeyedHash hash(1);
  Replay r(config, hash, out);
  for (size_t i = 0; i < frames.size(); ++i)
    r.feed(times_us.empty() ? 1'000'000 + i * 1000 : times_us[i], frames[i]);
  r.finish();
  return r.verdicts();
}

Verdict pass(Reason r) {
  return {Action::pass, r};
}
Verdict drop(Reason r) {
  return {Action::drop, r};
}

}  // namespace

namespace sipshield {
bool operator==(const Verdict& a, const Verdict& b) {
  return a.action == b.action && a.reason == b.reason;
}
std::ostream& operator<<(std::ostream& os, const Verdict& v) {
  return os << action_name(v.action) << "/" << reason_name(v.reason);
}
}  // namespace sipshield

TEST_CASE("classification: protected, not protected, inside, non-IP, malformed", "[pipeline]") {
  const Config c = protecting({"198.18.0.10:5060"});
  const std::vector<Frame> frames = {
      build_udp(ep("198.18.0.1"), ep("198.18.0.10"), test::payload_of(300))[0],
      build_udp(ep("198.18.0.1"), ep("198.18.0.10", 5080), "other port")[0],
      build_udp(ep("198.18.0.10"), ep("198.18.0.1"), "SIP/2.0 200 OK")[0],
      build_arp_request(test::ip("198.18.0.1"), test::ip("198.18.0.10")),
      Frame(10, 0),
  };
  CHECK(replay(c, frames) == std::vector<Verdict>{pass(Reason::admitted),
                                                  pass(Reason::not_protected),
                                                  pass(Reason::from_inside), pass(Reason::non_ip),
                                                  drop(Reason::eth_truncated)});
}

TEST_CASE("default_action drop applies to traffic for no protected service", "[pipeline]") {
  Config c = protecting({"198.18.0.10:5060"});
  c.default_action = Action::drop;
  const auto v = replay(c, {build_udp(ep("198.18.0.1"), ep("198.18.0.20"), "x")[0],
                            build_arp_request(test::ip("198.18.0.1"), test::ip("198.18.0.10"))});
  CHECK(v == std::vector<Verdict>{drop(Reason::not_protected), pass(Reason::non_ip)});
}

TEST_CASE("a fragmented datagram crosses as its original fragments", "[pipeline][fragments]") {
  const Config c = protecting({"198.18.0.10:5060", "[2001:db8::10]:5060"});
  FrameOptions o;
  o.mtu = 576;
  for (const auto& [src, dst] :
       {std::pair{"198.18.0.1", "198.18.0.10"}, std::pair{"2001:db8::1", "2001:db8::10"}}) {
    INFO(src);
    const auto frags = build_udp(ep(src), ep(dst), test::payload_of(1800), o);
    REQUIRE(frags.size() == 4);
    // Out of order: the last fragment first, as some stacks send them.
    const std::vector<Frame> input{frags[3], frags[0], frags[2], frags[1]};
    Released out;
    const auto v = replay(c, input, {}, &out);
    CHECK(v == std::vector<Verdict>(4, pass(Reason::admitted)));
    REQUIRE(out.frames.size() == 4);
    for (size_t i = 0; i < 4; ++i) {
      CHECK(out.frames[i].first == i);          // arrival order
      CHECK(out.frames[i].second == input[i]);  // byte for byte
    }
  }
}

TEST_CASE("an incomplete datagram is never forwarded", "[pipeline][fragments]") {
  const Config c = protecting({"198.18.0.10:5060"});
  FrameOptions o;
  o.mtu = 576;
  const auto frags = build_udp(ep("198.18.0.1"), ep("198.18.0.10"), test::payload_of(1800), o);
  SECTION("missing fragment, capture ends") {
    const auto v = replay(c, {frags[0], frags[1], frags[3]});
    CHECK(v == std::vector<Verdict>(3, drop(Reason::frag_incomplete)));
  }
  SECTION("missing fragment, later traffic shows the timeout") {
    // Reassembly timeout 2 s; a frame 3 s later lets the expiry step run.
    const auto later = build_udp(ep("198.18.0.2"), ep("198.18.0.10"), test::payload_of(300))[0];
    const auto v = replay(c, {frags[0], frags[1], later}, {1'000'000, 1'000'100, 4'000'000});
    CHECK(v == std::vector<Verdict>{drop(Reason::frag_timeout), drop(Reason::frag_timeout),
                                    pass(Reason::admitted)});
  }
  SECTION("the missing fragment after the timeout does not complete it") {
    const auto v = replay(c, {frags[0], frags[1], frags[2], frags[3]},
                          {1'000'000, 1'000'100, 1'000'200, 3'500'000});
    CHECK(v == std::vector<Verdict>{drop(Reason::frag_timeout), drop(Reason::frag_timeout),
                                    drop(Reason::frag_timeout), drop(Reason::frag_incomplete)});
  }
}

TEST_CASE("reassembled datagrams are judged by their UDP header", "[pipeline][fragments]") {
  Config c = protecting({"198.18.0.10:5060"});
  c.default_action = Action::drop;
  FrameOptions o;
  o.mtu = 576;
  SECTION("to another port of a protected address: default action") {
    const auto frags =
        build_udp(ep("198.18.0.1"), ep("198.18.0.10", 9999), test::payload_of(1000), o);
    CHECK(replay(c, frags) == std::vector<Verdict>(frags.size(), drop(Reason::not_protected)));
  }
  SECTION("UDP length beyond the reassembled datagram") {
    auto frags = build_udp(ep("198.18.0.1"), ep("198.18.0.10"), test::payload_of(1000), o);
    frags[0][14 + 20 + 4] = 0x7f;  // UDP length 0x7f..
    CHECK(replay(c, frags) == std::vector<Verdict>(frags.size(), drop(Reason::udp_bad_length)));
  }
  SECTION("fragments to an unprotected address are not held") {
    const auto frags = build_udp(ep("198.18.0.1"), ep("198.18.0.99"), test::payload_of(1000), o);
    CHECK(replay(c, {frags[0]}) == std::vector<Verdict>{drop(Reason::not_protected)});
  }
}

TEST_CASE("a first-fragment flood does not starve a legitimate fragmented INVITE",
          "[pipeline][fragments]") {
  Config c = protecting({"198.18.0.10:5060"});
  c.reassembly.max_datagrams = 256;
  c.reassembly.max_held = 512;
  FrameOptions o;
  o.mtu = 576;
  std::vector<Frame> frames;
  std::vector<uint64_t> times;
  uint64_t t = 1'000'000;
  // 5000 first fragments from spoofed sources, 20 per millisecond, with a legitimate
  // fragmented datagram every 500 flood frames.
  std::vector<size_t> legit;
  for (uint32_t i = 0; i < 5000; ++i) {
    FrameOptions f = o;
    f.ip_id = i;
    char src[32];
    std::snprintf(src, sizeof src, "198.19.%u.%u", (i >> 8) & 0xff, i & 0xff);
    frames.push_back(build_udp(ep(src), ep("198.18.0.10"), test::payload_of(1200), f)[0]);
    times.push_back(t += 50);
    if (i % 500 == 250) {
      FrameOptions g = o;
      g.ip_id = 40000 + i;
      // Each from its own phone: the per-source meters are not what this test is about.
      const std::string phone = "198.18.1." + std::to_string(1 + i / 500);
      for (auto& frag :
           build_udp(ep(phone.c_str()), ep("198.18.0.10"), test::payload_of(1500), g)) {
        legit.push_back(frames.size());
        frames.push_back(frag);
        times.push_back(t += 20);
      }
    }
  }
  const auto v = replay(c, frames, times);
  for (size_t i : legit) CHECK(v[i] == pass(Reason::admitted));
  size_t flood_dropped = 0;
  for (size_t i = 0; i < v.size(); ++i) flood_dropped += v[i].action == Action::drop;
  CHECK(flood_dropped == 5000);
}

TEST_CASE("a frame larger than one mbuf segment is dropped by name", "[pipeline]") {
  const Config c = protecting({"198.18.0.10:5060"});
  FrameOptions o;
  o.mtu = 9600;
  const auto jumbo = build_udp(ep("198.18.0.1"), ep("198.18.0.10"), test::payload_of(9500), o);
  REQUIRE(jumbo.size() == 1);
  CHECK(replay(c, jumbo) == std::vector<Verdict>{drop(Reason::frame_segmented)});
}

TEST_CASE("datagrams to a protected service must be SIP the tokenizer accepts", "[pipeline][sip]") {
  const Config c = protecting({"198.18.0.10:5060"});
  std::string no_call_id = test::payload_of(300);
  const auto at = no_call_id.find("Call-ID");
  no_call_id.erase(at, no_call_id.find("\r\n", at) + 2 - at);
  const std::vector<Frame> frames = {
      build_udp(ep("198.18.0.1"), ep("198.18.0.10"), test::payload_of(400))[0],
      build_udp(ep("198.18.0.1"), ep("198.18.0.10"), "\r\n\r\n")[0],
      build_udp(ep("198.18.0.1"), ep("198.18.0.10"), std::string("\x16\x03\x01junk"))[0],
      build_udp(ep("198.18.0.1"), ep("198.18.0.10"), "HELLO-THIS-IS-NOT-SIP")[0],
      build_udp(ep("198.18.0.1"), ep("198.18.0.10"), no_call_id)[0],
      build_udp(ep("198.18.0.1"), ep("198.18.0.10", 9), "junk to another port")[0],
  };
  CHECK(replay(c, frames) ==
        std::vector<Verdict>{pass(Reason::admitted), pass(Reason::sip_keepalive),
                             drop(Reason::sip_control_bytes), drop(Reason::sip_bad_start_line),
                             drop(Reason::sip_missing_call_id), pass(Reason::not_protected)});
}

TEST_CASE("a replaced scanner judges from the next frame on; the old one keeps its hits",
          "[pipeline][signatures]") {
  test::ensure_eal();
  Config c = protecting({"198.18.0.10:5060"});
  c.policy.probe_mode = ProbeMode::never;  // a new source per frame would be a surge
  const auto rule = [](const char* id, const char* pattern) {
    return fmt::format(R"({{"id": "{}", "pattern": "{}", "scope": "header:Call-ID",
                          "action": "drop"}})",
                       id, pattern);
  };
  c.signature_rules = parse_rules(fmt::format(R"({{"rules": [{}]}})", rule("payload", "payload")));
  const SignatureDatabase reloaded(
      parse_rules(fmt::format(R"({{"rules": [{}]}})", rule("nothing", "no-such-call-id"))));
  const KeyedHash hash(1);
  Replay r(c, hash, nullptr);
  uint64_t time_us = 1'000'000;
  const auto feed_burst = [&] {  // a whole burst is judged as it fills; one source per frame
    for (unsigned i = 0; i < kBurstSize; ++i, time_us += 1000) {
      const std::string source = fmt::format("198.18.2.{}", time_us / 1000 % 250);
      r.feed(time_us, build_udp(ep(source.c_str()), ep("198.18.0.10"), test::payload_of(400))[0]);
    }
  };
  feed_burst();
  auto old = r.pipeline().replace_scanner(std::make_unique<SignatureScanner>(reloaded));
  feed_burst();
  REQUIRE(old);
  CHECK(old->database().rules()[0].id == "payload");
  CHECK(old->hits()[0] == kBurstSize);
  CHECK(r.pipeline().scanner()->database().rules()[0].id == "nothing");
  auto none = r.pipeline().replace_scanner(nullptr);  // "signatures": {"rules": "none"}
  CHECK(none->hits()[0] == 0);
  feed_burst();
  r.finish();
  CHECK(r.pipeline().scanner() == nullptr);
  std::map<std::string, size_t> first, later;
  for (size_t i = 0; i < r.verdicts().size(); ++i)
    ++(i < kBurstSize ? first : later)[fmt::format("{}/{}", action_name(r.verdicts()[i].action),
                                                   reason_name(r.verdicts()[i].reason))];
  CHECK(first == std::map<std::string, size_t>{{"drop/sip_signature", kBurstSize}});
  CHECK(later == std::map<std::string, size_t>{{"pass/admitted", 2 * kBurstSize}});
}

TEST_CASE("a fragmented SIP message is tokenized whole", "[pipeline][sip][fragments]") {
  const Config c = protecting({"198.18.0.10:5060"});
  FrameOptions o;
  o.mtu = 576;
  std::string msg = test::payload_of(1500);
  auto good = build_udp(ep("198.18.0.1"), ep("198.18.0.10"), msg, o);
  // The same message with a NUL in the last fragment's part of the body is still valid SIP
  // (bodies may hold any byte); a NUL in a header of the first fragment is not.
  std::string bad = msg;
  bad[bad.find("Max-Forwards") + 2] = '\0';
  auto broken = build_udp(ep("198.18.0.1"), ep("198.18.0.10"), bad, o);
  REQUIRE(good.size() == 3);
  CHECK(replay(c, good) == std::vector<Verdict>(3, pass(Reason::admitted)));
  CHECK(replay(c, broken) == std::vector<Verdict>(3, drop(Reason::sip_control_bytes)));
}
