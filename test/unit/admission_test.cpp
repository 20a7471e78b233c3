// Return-routability probes: the cookie, the probe frame, the limits, and the loop through the
// pipeline: a newcomer the budget refused answers the probe and gets in on its retransmission;
// a forged source cannot answer, a forged answer does not verify, and an AOR lock that forged
// REGISTERs set does not bind a verified source.
#include <catch2/catch.hpp>

#include <map>

#include "admission/probe_cookie.hpp"
#include "admission/probe_frame.hpp"
#include "admission/probe_limiter.hpp"
#include "config/config.hpp"
#include "dataplane/replay.hpp"
#include "sip/message.hpp"
#include "support.hpp"

using namespace sipshield;

namespace {

const std::array<uint8_t, 16> kSecret = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

std::string text(const ProbeCookie::Text& t) {
  return {t.data(), t.size()};
}

std::string header(const std::string& sip, const std::string& name) {
  const auto at = sip.find("\r\n" + name + ": ");
  REQUIRE(at != std::string::npos);
  const auto from = at + 4 + name.size();
  return sip.substr(from, sip.find("\r\n", from) - from);
}

// What a user agent answers to an OPTIONS (RFC 3261 8.2.6.2: Via, From, Call-ID, CSeq copied).
std::string answer(const std::string& probe) {
  const std::string a = probe_answer_text(probe);
  for (const char* name : {"Via", "From", "Call-ID", "CSeq"})
    REQUIRE(header(a, name) == header(probe, name));
  REQUIRE(header(a, "To") == header(probe, "To") + ";tag=ua");
  return a;
}

std::string register_from(const std::string& user, const std::string& host) {
  return "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP " + host + ":5060;branch=z9hG4bK" +
         user + "\r\nMax-Forwards: 70\r\nFrom: <sip:" + user + "@example.test>;tag=f" + user +
         "\r\nTo: <sip:" + user + "@example.test>\r\nCall-ID: r-" + user +
         "\r\nCSeq: 1 REGISTER\r\nContact: <sip:" + user + "@" + host +
         ":5060>\r\nUser-Agent: Yealink SIP-T46S\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n";
}

// A replay fed step by step: each step's frames are judged before the next step is built, so a
// test can answer the probes the filter sent (as a real client would).
struct Loop : ReplayListener {
  Config config;
  std::unique_ptr<KeyedHash> hash = std::make_unique<KeyedHash>(7);
  std::unique_ptr<Replay> replay;
  std::vector<Verdict> verdicts;
  std::map<uint64_t, std::string> probes;  // by frame index
  uint64_t t = 1'000'000'000, next = 0;

  explicit Loop(const std::string& policy)
      : config(
            parse_config_text(R"({"protected": ["198.18.0.10:5060"], "policy": )" + policy + "}")) {
    test::ensure_eal();
    replay = std::make_unique<Replay>(config, *hash, this);
  }
  void released(uint64_t index, std::span<const uint8_t>, uint64_t, Verdict v) override {
    if (verdicts.size() <= index) verdicts.resize(index + 1);
    verdicts[index] = v;
  }
  void probe(uint64_t index, std::string_view sip) override { probes[index] = std::string(sip); }
  // Sends `sip` from `client` to the service `gap_us` later; returns the frame's index.
  uint64_t from(const char* client, const std::string& sip, uint64_t gap_us = 1000,
                uint16_t port = 5060) {
    replay->feed(t += gap_us, build_udp(test::ep(client, port), test::ep("198.18.0.10"), sip)[0]);
    return next++;
  }
  uint64_t to(const char* client, const std::string& sip, uint64_t gap_us = 1000) {
    replay->feed(t += gap_us, build_udp(test::ep("198.18.0.10"), test::ep(client), sip)[0]);
    return next++;
  }
  Reason judged(uint64_t index) {
    replay->finish();
    REQUIRE(index < verdicts.size());
    return verdicts[index].reason;
  }
};

// A budget the first message drains, so that newcomers meet the pressure; first contacts come
// slower than the newcomers' bucket refills, so there is no surge.
constexpr const char* kTightBudget = R"({"untrusted_budget": {"rate_per_s": 0, "burst": 1,
    "newcomer": {"rate_per_s": 100000, "burst": 1}, "familiar": {"rate_per_s": 100000,
    "burst": 1}}})";

}  // namespace

TEST_CASE("a probe cookie verifies for its client and service, its slot and the next",
          "[admission]") {
  ProbeCookie cookie(kSecret, {8, 3600});
  const auto client = test::ip("198.18.99.77"), service = test::ip("198.18.0.10");
  const uint64_t t = 3'599'000;  // one second before a key rotation
  const std::string c = text(cookie.make(client, 5060, service, 5060, t));
  CHECK(cookie.check(c, client, 5060, service, 5060, t));
  CHECK(cookie.check(c, client, 5060, service, 5060, t + 8'000));         // the next slot, next key
  CHECK_FALSE(cookie.check(c, client, 5060, service, 5060, t + 16'000));  // two slots late
  CHECK_FALSE(cookie.check(c, client, 5061, service, 5060, t));           // another port
  CHECK_FALSE(cookie.check(c, test::ip("198.18.99.78"), 5060, service, 5060, t));
  CHECK_FALSE(cookie.check(c, client, 5060, test::ip("198.18.0.11"), 5060, t));
  std::string altered = c;
  altered.back() = altered.back() == '0' ? '1' : '0';
  CHECK_FALSE(cookie.check(altered, client, 5060, service, 5060, t));
  CHECK_FALSE(cookie.check("zz" + c.substr(2), client, 5060, service, 5060, t));
  CHECK_FALSE(cookie.check(c.substr(0, 20), client, 5060, service, 5060, t));
  // Another secret (another filter, or a restart) knows nothing of it.
  auto other_secret = kSecret;
  other_secret[0] ^= 1;
  ProbeCookie other(other_secret, {8, 3600});
  CHECK_FALSE(other.check(c, client, 5060, service, 5060, t));
  CHECK(text(other.make(client, 5060, service, 5060, t)) != c);
}

TEST_CASE("a burst's cookies made together (multi-buffer) are those made one by one",
          "[admission]") {
  ProbeCookie batch(kSecret, {8, 3600}), single(kSecret, {8, 3600});
  std::vector<ProbeCookie::Request> requests;
  for (uint32_t i = 0; i < 32; ++i) {  // across a key rotation (3600 s) and two slots
    const std::string client = "198.18.99." + std::to_string(i + 1);
    requests.push_back({test::ip(client.c_str()), test::ip("198.18.0.10"),
                        static_cast<uint16_t>(5060 + i), 5060, 3'599'000 + i * 100});
  }
  std::vector<ProbeCookie::Text> texts(requests.size());
  batch.make(requests, texts);
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    INFO("request " << i);
    CHECK(texts[i] == single.make(r.client, r.client_port, r.service, r.service_port, r.now_ms));
    CHECK(
        single.check(text(texts[i]), r.client, r.client_port, r.service, r.service_port, r.now_ms));
  }
}

TEST_CASE("a probe is an OPTIONS back to the source, never longer than its request",
          "[admission]") {
  ProbeCookie cookie(kSecret, {});
  for (const char* client : {"198.18.99.77", "2001:db8:99::77"}) {
    INFO(client);
    const bool v6 = std::string_view(client).find(':') != std::string_view::npos;
    const char* service = v6 ? "2001:db8::10" : "198.18.0.10";
    std::string request = register_from("1077", client);
    Frame frame = build_udp(test::ep(client, 5062), test::ep(service), request)[0];
    PacketMeta in;
    REQUIRE(parse_frame(frame.data(), static_cast<uint32_t>(frame.size()), in).ok);
    char sip[kProbeTextMax];
    const size_t n = write_probe_text(sip, in.src, in.src_port, in.dst, in.dst_port,
                                      cookie.make(in.src, in.src_port, in.dst, in.dst_port, 0));
    const std::string probe(sip, n);
    SipMessage m;
    REQUIRE(tokenize(probe, m).ok);
    CHECK(m.method == SipMethod::OPTIONS);
    CHECK(m.top_via.branch.in(probe).starts_with(ProbeCookie::kBranchPrefix));
    const size_t length = rewrite_as_probe(frame.data(), in, probe);
    REQUIRE(length > 0);
    CHECK(length <= frame.size());
    PacketMeta out;
    REQUIRE(parse_frame(frame.data(), static_cast<uint32_t>(length), out).ok);
    CHECK(out.src == in.dst);
    CHECK(out.dst == in.src);
    CHECK(out.src_port == 5060);
    CHECK(out.dst_port == 5062);
    CHECK(std::string(reinterpret_cast<const char*>(frame.data()) + out.payload_offset,
                      out.payload_length) == probe);
    // The UDP checksum verifies: summed with it, the pseudo-header and datagram give 0xffff.
    const std::span<const uint8_t> udp(frame.data() + out.l4_offset, out.udp_length);
    std::vector<uint8_t> zeroed(udp.begin(), udp.end());
    zeroed[6] = zeroed[7] = 0;
    CHECK(udp_checksum(out.src, out.dst, zeroed) == (udp[6] << 8 | udp[7]));
    // A request shorter than the probe is never answered with one.
    Frame short_frame = build_udp(test::ep(client), test::ep(service), "OPTIONS x")[0];
    PacketMeta s;
    REQUIRE(parse_frame(short_frame.data(), static_cast<uint32_t>(short_frame.size()), s).ok);
    CHECK(rewrite_as_probe(short_frame.data(), s, probe) == 0);
  }
}

TEST_CASE("probes are limited per worker, per destination prefix and per source and slot",
          "[admission]") {
  const KeyedHash hash(3);
  using O = ProbeLimiter::Outcome;
  const auto at = [](const std::string& prefix, int i) {
    return test::ip((prefix + std::to_string(i)).c_str());
  };
  ProbeLimiter limiter({1, 50, 6}, 8, hash);  // the worker's bucket refills 1/s: no help below
  // One source: once per slot.
  CHECK(limiter.take(at("198.18.99.", 1), 5060, 0) == O::send);
  CHECK(limiter.take(at("198.18.99.", 1), 5060, 10) == O::already_probed);
  CHECK(limiter.take(at("198.18.99.", 1), 5060, 8000) == O::send);
  // One /24, first refusals: the upper half of its burst of 6 (one token taken just above).
  int sent = 0;
  for (int i = 2; i < 40; ++i) sent += limiter.take(at("198.18.99.", i), 5060, 8000) == O::send;
  CHECK(sent == 2);
  // Sources refused again within 5 s (retransmissions) may take the prefix's last tokens.
  CHECK(limiter.take(at("198.18.99.", 30), 5060, 8001) == O::send);
  CHECK(limiter.take(at("198.18.99.", 31), 5060, 8001) == O::send);
  CHECK(limiter.take(at("198.18.99.", 32), 5060, 8001) == O::send);
  CHECK(limiter.take(at("198.18.99.", 33), 5060, 8001) == O::prefix_limited);
  // Many /24s, first refusals: the worker's bucket (44 of 50 left) down to its upper half.
  const auto net = [](int i) { return test::ip(("198.19." + std::to_string(i) + ".1").c_str()); };
  sent = 0;
  for (int i = 0; i < 100; ++i) sent += limiter.take(net(i), 5060, 8001) == O::send;
  CHECK(sent == 19);
  // Their retransmissions find the lower half; those probed already are not probed again.
  sent = 0;
  for (int i = 0; i < 100; ++i) sent += limiter.take(net(i), 5060, 8002) == O::send;
  CHECK(sent == 25);
}

TEST_CASE("a newcomer the budget refused answers the probe and gets in; forgeries do not",
          "[admission][policy]") {
  Loop loop(kTightBudget);
  for (int i = 1; i <= 20; ++i) {  // a spoofed flood drains the budget
    const std::string bot = "198.19.6." + std::to_string(i);
    loop.from(bot.c_str(), register_from(std::to_string(8000 + i), bot));
  }
  const std::string newcomer = register_from("1077", "198.18.99.77");
  const uint64_t first = loop.from("198.18.99.77", newcomer);
  const uint64_t silent = loop.from("198.18.98.5", register_from("1078", "198.18.98.5"));
  CHECK(loop.judged(first) == Reason::untrusted_budget);
  REQUIRE(loop.probes.count(first));
  REQUIRE(loop.probes.count(silent));
  CHECK(loop.replay->pipeline().counters().probes[0] >= 2);
  // A forged answer: the right form, a cookie of its own making.
  std::string forged = answer(loop.probes[silent]);
  forged.replace(forged.find("z9hG4bK-ssp-") + 20, 4, "0000");
  const uint64_t fake = loop.from("198.18.98.5", forged);
  // The probed source answers from the port it was probed at; another port does not count.
  const uint64_t wrong_port = loop.from("198.18.99.77", answer(loop.probes[first]), 1000, 5070);
  const uint64_t answered = loop.from("198.18.99.77", answer(loop.probes[first]), 20'000);
  CHECK(loop.judged(fake) == Reason::probe_cookie_invalid);
  CHECK(loop.judged(wrong_port) == Reason::probe_cookie_invalid);
  CHECK(loop.judged(answered) == Reason::probe_answer);
  // Timer E: both clients retransmit 0.5 s after their first send. Only the verified one gets in.
  const uint64_t retransmitted = loop.from("198.18.99.77", newcomer, 480'000);
  const uint64_t still_out = loop.from("198.18.98.5", register_from("1078", "198.18.98.5"));
  CHECK(loop.judged(retransmitted) == Reason::admitted);
  CHECK(loop.judged(still_out) == Reason::untrusted_budget);
  CHECK(loop.replay->pipeline().mitigation().verified_table().size() == 1);
}

TEST_CASE("an AOR lock set by forged REGISTERs does not bind a verified source",
          "[admission][policy]") {
  Loop loop(R"({"aor": {"failures": 3}})");
  // Forged REGISTERs for 1077 that the server challenges: the lock closes on 1077.
  for (int i = 1; i <= 3; ++i) {
    const std::string bot = "198.19.7." + std::to_string(i);
    loop.from(bot.c_str(), register_from("1077", bot), 200'000);
    loop.to(bot.c_str(),
            "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP " + bot +
                ";branch=z9hG4bK1\r\nFrom: <sip:1077@example.test>;tag=f\r\nTo: "
                "<sip:1077@example.test>;tag=s\r\nCall-ID: r-1077\r\nCSeq: 1 REGISTER\r\n"
                "WWW-Authenticate: Digest realm=\"example.test\", nonce=\"n" +
                std::to_string(i) + "\"\r\nContent-Length: 0\r\n\r\n");
  }
  // The real 1077 registers for the first time: locked out, and probed for it.
  const std::string newcomer = register_from("1077", "198.18.99.77");
  const uint64_t locked = loop.from("198.18.99.77", newcomer, 10'000);
  CHECK(loop.judged(locked) == Reason::aor_locked);
  REQUIRE(loop.probes.count(locked));
  CHECK(loop.judged(loop.from("198.18.99.77", answer(loop.probes[locked]))) ==
        Reason::probe_answer);
  CHECK(loop.judged(loop.from("198.18.99.77", newcomer, 480'000)) == Reason::admitted);
  // A forged source naming 1077 stays locked out.
  CHECK(loop.judged(loop.from("198.19.7.9", register_from("1077", "198.19.7.9"))) ==
        Reason::aor_locked);
}

TEST_CASE("while first contacts surge, each is held until it answers a probe", "[admission]") {
  // The newcomers' bucket refills 100/s: more than 10 first contacts in 100 ms are a surge.
  Loop loop(R"({"untrusted_budget": {"newcomer": {"rate_per_s": 100, "burst": 500}}})");
  std::vector<uint64_t> flood;
  for (int i = 1; i <= 30; ++i) {  // 30 forged first contacts in 30 ms
    const std::string bot = "198.19.6." + std::to_string(i);
    flood.push_back(loop.from(bot.c_str(), register_from(std::to_string(8000 + i), bot)));
  }
  const std::string newcomer = register_from("1077", "198.18.99.77");
  const uint64_t first = loop.from("198.18.99.77", newcomer);
  size_t admitted = 0, held = 0;
  for (uint64_t i : flood) {
    admitted += loop.judged(i) == Reason::admitted;
    held += loop.judged(i) == Reason::unverified;
  }
  CHECK(admitted == 10);  // until the surge was seen; the bucket had room for 500
  CHECK(held == 20);
  CHECK(loop.judged(first) == Reason::unverified);
  REQUIRE(loop.probes.count(first));
  loop.from("198.18.99.77", answer(loop.probes[first]), 20'000);
  CHECK(loop.judged(loop.from("198.18.99.77", newcomer, 480'000)) == Reason::admitted);
  // 200 ms without a surge: first contacts spend the newcomers' bucket again.
  CHECK(loop.judged(loop.from("198.18.97.1", register_from("1079", "198.18.97.1"), 200'000)) ==
        Reason::admitted);
}

TEST_CASE("in a surge, an address that rotates ports is held like any first contact",
          "[admission]") {
  // The newcomers' bucket refills 100/s: the forged first contacts below are a surge.
  Loop loop(R"({"untrusted_budget": {"newcomer": {"rate_per_s": 100, "burst": 500}}})");
  for (int i = 1; i <= 20; ++i) {
    const std::string forged = "198.19.6." + std::to_string(i);
    loop.from(forged.c_str(), register_from(std::to_string(8000 + i), forged));
  }
  // One address, a new source port for every request: a bot by its address, but a hold is
  // decided by the source's own history, so each port waits for a probe of its own.
  std::vector<uint64_t> bot;
  for (int i = 0; i < 12; ++i)
    bot.push_back(loop.from("198.19.9.9", register_from(std::to_string(9000 + i), "198.19.9.9"),
                            1000, static_cast<uint16_t>(30000 + i)));
  for (uint64_t i : bot) CHECK(loop.judged(i) == Reason::unverified);
  // The per-prefix limit (20 a second per /24) caps the probes its ports earn.
  size_t probed = 0;
  for (uint64_t i : bot) probed += loop.probes.count(i);
  CHECK(probed > 0);
  CHECK(probed <= 12);
}

TEST_CASE("the closed-loop replay: real clients answer probes and retransmit, forgers do not",
          "[admission][replay]") {
  test::ensure_eal();
  for (const bool closed : {true, false}) {
    const Config config = parse_config_text(R"({"protected": ["198.18.0.10:5060"]})");
    const KeyedHash hash(8);
    Replay replay(config, hash);
    std::vector<bool> real;
    if (closed) replay.close_loop({[&](uint64_t i) { return bool(real[i]); }});
    std::vector<uint64_t> newcomers;
    uint64_t t = 1'000'000'000;
    for (int i = 0; i < 5000; ++i) {  // 1 s of a spoofed flood at 5000/s
      const std::string forged =
          "198.19." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
      real.push_back(false);
      replay.feed(t += 200, build_udp(test::ep(forged.c_str(), 7000), test::ep("198.18.0.10"),
                                      register_from(std::to_string(10000 + i), forged))[0]);
      if (i % 1000 == 500) {  // a newcomer registers for the first time during the flood
        const std::string host = "198.18.99." + std::to_string(i / 1000 + 1);
        real.push_back(true);
        replay.feed(t += 100, build_udp(test::ep(host.c_str()), test::ep("198.18.0.10"),
                                        register_from(std::to_string(1000 + i), host))[0]);
        newcomers.push_back(real.size() - 1);
      }
    }
    replay.finish();
    INFO("closed loop " << closed << ": answers " << replay.loop_counts().answers
                        << ", retransmissions " << replay.loop_counts().retransmissions
                        << ", passed " << replay.loop_counts().retransmissions_passed);
    const auto& v = replay.verdicts();
    size_t forged_passed = 0;
    for (size_t i = 0; i < v.size(); ++i) forged_passed += !real[i] && v[i].action == Action::pass;
    CHECK(forged_passed <= 30);  // what came before the surge was seen (25 in 100 ms)
    for (uint64_t i : newcomers) {
      if (closed) {
        INFO("newcomer frame " << i << ": " << reason_name(v[i].reason));
        CHECK(v[i].reason == Reason::admitted);
        CHECK(replay.retransmissions(i) == 1);
      } else {
        CHECK(v[i].reason == Reason::unverified);
        CHECK(replay.retransmissions(i) == 0);
      }
    }
    CHECK(replay.loop_counts().answers == (closed ? newcomers.size() : 0));
    CHECK(replay.loop_counts().retransmissions_passed == (closed ? newcomers.size() : 0));
  }
}

TEST_CASE("with probes off nothing is probed and answers are not recognised", "[admission]") {
  Loop loop(R"({"probe": {"mode": "never"}, "untrusted_budget": {"rate_per_s": 0, "burst": 1,
      "newcomer": {"rate_per_s": 0, "burst": 1}}})");
  loop.from("198.19.6.1", register_from("8001", "198.19.6.1"));
  const uint64_t refused = loop.from("198.18.99.77", register_from("1077", "198.18.99.77"));
  CHECK(loop.judged(refused) == Reason::untrusted_budget);
  CHECK(loop.probes.empty());
  CHECK(loop.replay->pipeline().counters().probes[0] == 0);
}

TEST_CASE("in mode always every first contact waits for its probe's answer", "[admission]") {
  Loop loop(R"({"probe": {"mode": "always"}})");
  const std::string newcomer = register_from("1077", "198.18.99.77");
  const uint64_t first = loop.from("198.18.99.77", newcomer);
  CHECK(loop.judged(first) == Reason::unverified);
  REQUIRE(loop.probes.count(first));
  loop.from("198.18.99.77", answer(loop.probes[first]));
  CHECK(loop.judged(loop.from("198.18.99.77", newcomer, 480'000)) == Reason::admitted);
}

TEST_CASE("a full verified table leaves an answering source unverified, and counts it",
          "[admission]") {
  Loop loop(std::string(kTightBudget).insert(1, R"("probe": {"verified_max": 1}, )"));
  loop.from("198.19.6.1", register_from("8001", "198.19.6.1"));  // takes the only tokens
  const std::string first = register_from("1077", "198.18.99.77");
  const std::string second = register_from("1078", "198.18.98.5");
  const uint64_t a = loop.from("198.18.99.77", first);
  const uint64_t b = loop.from("198.18.98.5", second);
  CHECK(loop.judged(b) == Reason::untrusted_budget);
  REQUIRE(loop.probes.count(a));
  REQUIRE(loop.probes.count(b));
  CHECK(loop.judged(loop.from("198.18.99.77", answer(loop.probes[a]))) == Reason::probe_answer);
  CHECK(loop.judged(loop.from("198.18.98.5", answer(loop.probes[b]))) == Reason::probe_answer);
  const auto& table = loop.replay->pipeline().mitigation().verified_table();
  CHECK(table.size() == 1);
  CHECK(table.insert_failures() == 1);
  CHECK(loop.judged(loop.from("198.18.99.77", first, 480'000)) == Reason::admitted);
  CHECK(loop.judged(loop.from("198.18.98.5", second)) == Reason::untrusted_budget);
}

TEST_CASE("a first contact held for a probe is not scanned; its next message is",
          "[admission][signatures]") {
  Loop loop(R"({"probe": {"mode": "always"}})");
  std::string scan = register_from("100", "198.19.7.7");
  const std::string agent = "Yealink SIP-T46S";
  scan.replace(scan.find(agent), agent.size(), "friendly-scanner");
  // Held whatever it says: a ban now could fall on the owner of a forged address.
  CHECK(loop.judged(loop.from("198.19.7.7", scan)) == Reason::unverified);
  CHECK(loop.judged(loop.from("198.19.7.8", scan)) == Reason::unverified);
  // The same source again: scanned, and the scanner's rule bans it.
  CHECK(loop.judged(loop.from("198.19.7.7", scan, 600'000)) == Reason::sip_signature);
  CHECK(loop.judged(loop.from("198.19.7.7", scan)) == Reason::source_banned);
  // The other first contact was never banned: 600 ms on, it paces like a retransmitting client.
  CHECK(loop.judged(loop.from("198.19.7.8", register_from("101", "198.19.7.8"))) ==
        Reason::admitted);
}
