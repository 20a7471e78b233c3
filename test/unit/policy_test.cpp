// The per-source policy through the replay: trust learned from the servers' answers, meters per
// tier, demerits and bans, the shared untrusted budget. Time comes from the frames' timestamps.
#include <catch2/catch.hpp>

#include <algorithm>
#include <tuple>

#include <nlohmann/json.hpp>

#include "dataplane/reload.hpp"
#include "dataplane/replay.hpp"
#include "policy/budget_shares.hpp"
#include "policy/mitigation.hpp"
#include "policy/prefix_lists.hpp"
#include "state/familiar_prefixes.hpp"
#include "state/source_table.hpp"
#include "support.hpp"
#include "telemetry/events.hpp"

using namespace sipshield;
using test::ep;

namespace {

std::string request(const std::string& method, const std::string& extra = "",
                    const std::string& user = "1001") {
  return method + " sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.16.1;branch=z9hG4bK" +
         user + "\r\nMax-Forwards: 70\r\nFrom: <sip:" + user +
         "@example.test>;tag=f\r\nTo: <sip:" + user + "@example.test>\r\nCall-ID: c-" + user +
         "\r\nCSeq: 1 " + method + "\r\n" + extra + "Content-Length: 0\r\n\r\n";
}

std::string response(const std::string& status, const std::string& method,
                     const std::string& extra = "") {
  return "SIP/2.0 " + status +
         "\r\nVia: SIP/2.0/UDP 198.18.16.1;branch=z9hG4bK1\r\n"
         "From: <sip:1001@example.test>;tag=f\r\nTo: <sip:1001@example.test>;tag=s\r\n"
         "Call-ID: c-1001\r\nCSeq: 1 " +
         method + "\r\n" + extra + "Content-Length: 0\r\n\r\n";
}

struct Run {
  Config config;
  std::vector<Frame> frames;
  std::vector<uint64_t> times;
  uint64_t t = 1'000'000'000;
  uint64_t source_insert_failures = 0;  // after go()
  uint32_t proven_sources = 0;          // after go(): entries in the table of proven sources
  uint64_t probation_evictions = 0;     // after go()
  std::vector<Event> events;            // after go()
  Mitigation::BudgetState budget{};     // after go(): the first service's budget control
  // Probes off: these cases are about the budget and the tables, which a surge of first
  // contacts would otherwise hold back for probes (admission_test.cpp).
  Run()
      : config(parse_config_text(
            R"({"protected": ["198.18.0.10:5060"], "policy": {"probe": {"mode": "never"}}})")) {}
  void from(const char* client, const std::string& payload, uint64_t gap_us = 1000,
            const char* server = "198.18.0.10", uint16_t port = 5060) {
    frames.push_back(build_udp(ep(client, port), ep(server), payload)[0]);
    times.push_back(t += gap_us);
  }
  void to(const char* client, const std::string& payload, uint64_t gap_us = 1000) {
    frames.push_back(build_udp(ep("198.18.0.10"), ep(client), payload)[0]);
    times.push_back(t += gap_us);
  }
  std::vector<Verdict> go() {
    test::ensure_eal();
    const KeyedHash hash(5);
    struct Events : ReplayListener {
      std::vector<Event>* out;
      void released(uint64_t, std::span<const uint8_t>, uint64_t, Verdict) override {}
      void event(const Event& e) override { out->push_back(e); }
    } listener;
    listener.out = &events;
    Replay r(config, hash, &listener);
    for (size_t i = 0; i < frames.size(); ++i) r.feed(times[i], frames[i]);
    r.finish();
    source_insert_failures = r.pipeline().mitigation().table().insert_failures();
    proven_sources = r.pipeline().mitigation().table().size();
    probation_evictions = r.pipeline().mitigation().probation().evictions();
    budget = r.pipeline().mitigation().budget_state(0);
    return r.verdicts();
  }
};

size_t count(const std::vector<Verdict>& v, Reason r, size_t from = 0) {
  size_t n = 0;
  for (size_t i = from; i < v.size(); ++i) n += v[i].reason == r;
  return n;
}

}  // namespace

TEST_CASE("a 200 OK to REGISTER trusts the client for the granted expiry", "[policy]") {
  Run run;
  run.from("198.18.16.1", request("REGISTER"));
  run.to("198.18.16.1",
         response("200 OK", "REGISTER", "Contact: <sip:1001@198.18.16.1>;expires=60\r\n"));
  for (int i = 0; i < 15; ++i) run.from("198.18.16.1", request("REGISTER"), 10'000);
  for (int i = 0; i < 15; ++i) run.from("198.18.16.2", request("REGISTER", "", "1002"), 10'000);
  // After the expiry, the same client is untrusted again.
  run.from("198.18.16.1", request("REGISTER"), 61'000'000);
  for (int i = 0; i < 9; ++i) run.from("198.18.16.1", request("REGISTER"), 1000);
  const auto v = run.go();
  CHECK(count(v, Reason::admitted, 0) >= 2 + 15 + 5);
  for (int i = 2; i < 17; ++i) CHECK(v[i].reason == Reason::admitted);  // trusted: burst 20
  CHECK(count(v, Reason::rate_limited, 17) >= 10 + 5);                  // untrusted: burst 5, 1/s
  CHECK(count(v, Reason::admitted, 17) <= 5 + 5);
}

TEST_CASE("echoing the server's nonce from the same address earns trust", "[policy]") {
  Run run;
  run.config.policy.untrusted_budget_pps = 1;
  run.config.policy.untrusted_budget_burst = 1;
  run.from("198.18.16.7", request("REGISTER"));
  run.to("198.18.16.7", response("401 Unauthorized", "REGISTER",
                                 "WWW-Authenticate: Digest realm=\"x\", nonce=\"abc123\"\r\n"));
  run.from("198.18.16.7", request("REGISTER",
                                  "Authorization: Digest username=\"1001\", realm=\"x\", "
                                  "nonce=\"abc123\", uri=\"sip:x\", response=\"00\"\r\n"));
  run.from("198.18.16.8", request("REGISTER",
                                  "Authorization: Digest username=\"1001\", realm=\"x\", "
                                  "nonce=\"abc123\", uri=\"sip:x\", response=\"00\"\r\n",
                                  "1002"));
  const auto v = run.go();
  CHECK(v[0].reason == Reason::admitted);          // the budget's one token
  CHECK(v[2].reason == Reason::admitted);          // trusted by the nonce: no budget needed
  CHECK(v[3].reason == Reason::untrusted_budget);  // another address echoing it: no trust
}

TEST_CASE("credentials with a nonce the server did not send there are dropped", "[policy]") {
  const auto with_nonce = [](const std::string& nonce) {
    return request("REGISTER", "Authorization: Digest username=\"1001\", realm=\"x\", nonce=\"" +
                                   nonce + "\", uri=\"sip:x\", response=\"00\"\r\n");
  };
  Run run;
  run.from("198.18.16.7", with_nonce("cached"));  // no challenge seen yet: pre-emptive, fine
  run.to("198.18.16.7", response("401 Unauthorized", "REGISTER",
                                 "WWW-Authenticate: Digest realm=\"x\", nonce=\"abc123\"\r\n"));
  run.from("198.18.16.7", with_nonce("guess1"));
  run.from("198.18.16.7", with_nonce("abc123"));  // the real echo still earns trust
  run.from("198.18.16.8", request("REGISTER", "", "1002"));
  run.to("198.18.16.8", response("403 Forbidden", "REGISTER"));
  run.from("198.18.16.8", with_nonce("guess2"));             // refused: credentials must wait for
  run.from("198.18.16.8", request("REGISTER", "", "1002"));  // a fresh challenge
  const auto v = run.go();
  CHECK(v[0].reason == Reason::admitted);
  CHECK(v[2].reason == Reason::nonce_mismatch);
  CHECK(v[3].reason == Reason::admitted);
  CHECK(v[4].reason == Reason::admitted);
  CHECK(v[6].reason == Reason::nonce_mismatch);
  CHECK(v[7].reason == Reason::admitted);
}

TEST_CASE("demerits for malformed messages end in a ban", "[policy]") {
  Run run;
  std::string broken = request("OPTIONS");
  broken.erase(broken.find("Call-ID"), broken.find("CSeq") - broken.find("Call-ID"));
  for (int i = 0; i < 4; ++i) run.from("198.18.66.1", broken);  // 4 x 5 demerits = 20
  run.from("198.18.66.1", request("OPTIONS"));
  run.from("198.18.66.2", request("OPTIONS"));  // a neighbour is not affected
  const auto v = run.go();
  for (int i = 0; i < 4; ++i) CHECK(v[i].reason == Reason::sip_missing_call_id);
  CHECK(v[4].reason == Reason::source_banned);
  CHECK(v[5].reason == Reason::admitted);
}

TEST_CASE("a trusted source that misbehaves is demoted before it is banned", "[policy]") {
  Run run;
  std::string broken = request("OPTIONS");
  broken.erase(broken.find("Call-ID"), broken.find("CSeq") - broken.find("Call-ID"));
  run.from("198.18.16.1", request("REGISTER"));
  run.to("198.18.16.1", response("200 OK", "REGISTER", "Expires: 300\r\n"));
  for (int i = 0; i < 10; ++i)
    run.from("198.18.16.1", request("OPTIONS"), 100);  // trusted: burst 20
  const size_t before = run.frames.size();
  run.from("198.18.16.1", broken, 100);
  run.from("198.18.16.1", broken, 100);  // 10 demerits: demoted, not banned (20)
  for (int i = 0; i < 10; ++i) run.from("198.18.16.1", request("OPTIONS"), 100);
  const auto v = run.go();
  CHECK(count(v, Reason::admitted, 2) - count(v, Reason::admitted, before) == 10);
  CHECK(count(v, Reason::source_banned, before) == 0);
  // Untrusted now: its OPTIONS meter allows a burst of 5.
  CHECK(count(v, Reason::rate_limited, before + 2) >= 5);
  const auto demoted = std::count_if(run.events.begin(), run.events.end(), [](const Event& e) {
    return e.type == EventType::source_demoted && e.reason == Reason::sip_missing_call_id;
  });
  CHECK(demoted == 1);
}

TEST_CASE("a ban rule bans the source; its later messages stop at the lookup", "[policy]") {
  Run run;
  run.from("198.18.66.3", request("OPTIONS", "User-Agent: friendly-scanner\r\n"));
  run.from("198.18.66.3", request("OPTIONS"), 1'000'000);
  run.from("198.18.66.3", request("OPTIONS"), 3601'000'000ull);  // after the rule's hour
  const auto v = run.go();
  CHECK(v[0].reason == Reason::sip_signature);
  CHECK(v[1].reason == Reason::source_banned);
  CHECK(v[2].reason == Reason::admitted);
}

TEST_CASE("trusted sources skip the signature scan", "[policy]") {
  Run run;
  run.config.signature_rules = parse_rules(R"({"rules": [{"id": "opt", "pattern": "OPTIONS",
      "scope": "start_line", "action": "drop"}]})");
  run.from("198.18.16.1", request("OPTIONS"));
  run.to("198.18.16.1", response("200 OK", "REGISTER", "Expires: 300\r\n"));
  run.from("198.18.16.1", request("OPTIONS"));
  const auto v = run.go();
  CHECK(v[0].reason == Reason::sip_signature);
  CHECK(v[2].reason == Reason::admitted);
}

TEST_CASE("one message in sample_trusted from trusted sources is scanned", "[policy]") {
  for (const uint32_t sample : {4u, 0u}) {
    Run run;
    run.config.signature_sample_trusted = sample;
    run.config.signature_rules = parse_rules(R"({"rules": [{"id": "opt", "pattern": "OPTIONS",
        "scope": "start_line", "action": "drop"}]})");
    run.from("198.18.16.1", request("REGISTER"));
    run.to("198.18.16.1", response("200 OK", "REGISTER", "Expires: 300\r\n"));
    for (int i = 0; i < 8; ++i) run.from("198.18.16.1", request("OPTIONS"));
    const auto v = run.go();
    INFO("sample_trusted " << sample);
    for (size_t i = 2; i < v.size(); ++i) {
      const bool scanned = sample && (i - 1) % sample == 0;  // the 4th and the 8th
      CHECK(v[i].reason == (scanned ? Reason::sip_signature : Reason::admitted));
    }
  }
}

TEST_CASE("the untrusted budget is shared; trusted users do not spend it", "[policy]") {
  Run run;
  run.config.policy.untrusted_budget_pps = 10;
  run.config.policy.untrusted_budget_burst = 10;
  run.from("198.18.16.1", request("REGISTER"));
  run.to("198.18.16.1", response("200 OK", "REGISTER", "Expires: 300\r\n"));
  for (int i = 0; i < 40; ++i) {
    const std::string bot = "198.19.0." + std::to_string(i + 1);
    run.from(bot.c_str(), request("INVITE", "", std::to_string(2000 + i)), 100);
  }
  for (int i = 0; i < 5; ++i) run.from("198.18.16.1", request("INVITE"), 100);
  const auto v = run.go();
  // 40 newcomers spend the 10 tokens down to their floor (a quarter): about 8 admitted.
  CHECK(count(v, Reason::untrusted_budget) >= 30);
  CHECK(count(v, Reason::untrusted_budget) <= 33);
  for (size_t i = v.size() - 5; i < v.size(); ++i) CHECK(v[i].reason == Reason::admitted);
}

TEST_CASE("the budget sheds bursty sources first, then newcomers; polite ones keep the rest",
          "[policy]") {
  Run run;
  run.config.policy.untrusted_budget_pps = 10;
  run.config.policy.untrusted_budget_burst = 10;  // floors: newcomers 2 tokens, bursty 5
  run.config.policy.newcomer_budget = {1000, 1000};
  std::string broken = request("OPTIONS", "", "1300");
  broken.erase(broken.find("Call-ID"), broken.find("CSeq") - broken.find("Call-ID"));
  run.from("198.18.16.50", request("OPTIONS", "", "1050"));  // polite later: one message in 5 s
  run.from("198.18.66.5", broken);                           // 5 demerits: bursty for a minute
  run.from("198.18.66.5", request("OPTIONS", "", "1300"));   // a full bucket: even bursty pass
  for (int i = 0; i < 40; ++i) {
    const std::string bot = "198.19.1." + std::to_string(i + 1);
    run.from(bot.c_str(), request("INVITE", "", std::to_string(2000 + i)),
             i == 0 ? 5'000'000 : 100);
  }
  const size_t after_flood = run.frames.size();
  run.from("198.18.66.5", request("OPTIONS", "", "1300"), 100);
  run.from("198.18.16.50", request("OPTIONS", "", "1050"), 100);
  run.from("198.18.16.99", request("OPTIONS", "", "1099"), 100);
  const auto v = run.go();
  CHECK(v[1].reason == Reason::sip_missing_call_id);
  CHECK(v[2].reason == Reason::admitted);
  // The newcomers stop at their floor: 10 tokens, 2 held back.
  CHECK(count(v, Reason::admitted, 3) - count(v, Reason::admitted, after_flood) == 8);
  CHECK(v[after_flood].reason == Reason::untrusted_budget);      // bursty: above half only
  CHECK(v[after_flood + 1].reason == Reason::admitted);          // polite: the reserve
  CHECK(v[after_flood + 2].reason == Reason::untrusted_budget);  // a newcomer: still shed
}

TEST_CASE("first contacts are held to their own share of the budget", "[policy]") {
  Run run;
  run.config.policy.untrusted_budget_pps = 100;
  run.config.policy.untrusted_budget_burst = 100;
  run.config.policy.newcomer_budget = {1, 3};
  run.from("198.18.16.50", request("OPTIONS", "", "1050"));
  for (int i = 0; i < 10; ++i) {
    const std::string bot = "198.19.2." + std::to_string(i + 1);
    run.from(bot.c_str(), request("REGISTER", "", std::to_string(3000 + i)),
             i == 0 ? 3'000'000 : 1000);
  }
  run.from("198.18.16.50", request("OPTIONS", "", "1050"));
  const auto v = run.go();
  // The first message, then 3 new sources (the newcomer bucket had refilled to its burst).
  CHECK(count(v, Reason::admitted, 1) - (v.back().reason == Reason::admitted) == 3);
  CHECK(count(v, Reason::untrusted_budget) == 7);
  CHECK(v.back().reason == Reason::admitted);  // a source with a polite history is not held
}

TEST_CASE("a client's retransmission ranks polite; a spoofed flood's first contacts do not",
          "[policy]") {
  Run run;
  run.config.policy.untrusted_budget_pps = 10;
  run.config.policy.untrusted_budget_burst = 10;
  run.config.policy.newcomer_budget = {1, 1};  // one first contact a second
  const auto bot = [&](int i, uint64_t gap_us) {
    const std::string address = "198.19.5." + std::to_string(i % 250 + 1);
    run.from(address.c_str(), request("REGISTER", "", std::to_string(6000 + i)), gap_us);
  };
  bot(0, 1000);                                                     // takes the newcomer token
  run.from("198.18.16.60", request("REGISTER", "", "1060"), 5000);  // a real phone: refused
  const size_t first_try = run.frames.size() - 1;
  for (int i = 1; i < 50; ++i) bot(i, 10'000);                        // the flood goes on for 0.5 s
  run.from("198.18.16.60", request("REGISTER", "", "1060"), 10'000);  // timer E: 0.5 s later
  const size_t retransmission = run.frames.size() - 1;
  bot(50, 100);
  const auto v = run.go();
  CHECK(v[0].reason == Reason::admitted);
  CHECK(v[first_try].reason == Reason::untrusted_budget);
  CHECK(count(v, Reason::untrusted_budget, first_try + 1) ==
        run.frames.size() - first_try - 2);  // every bot after the first, not the phone
  CHECK(v[retransmission].reason == Reason::admitted);
  CHECK(v.back().reason == Reason::untrusted_budget);
}

TEST_CASE("each protected service has its own untrusted budget", "[policy]") {
  Run run;
  run.config = parse_config_text(R"({"protected": ["198.18.0.10:5060", "198.18.0.20:5060"],
      "policy": {"untrusted_budget": {"rate_per_s": 1, "burst": 2,
                                      "floor_percent": {"newcomer": 0, "bursty": 0}}}})");
  for (int i = 0; i < 4; ++i) {
    const std::string bot = "198.19.3." + std::to_string(i + 1);
    run.from(bot.c_str(), request("OPTIONS", "", std::to_string(4000 + i)), 100);
  }
  for (int i = 0; i < 4; ++i) {
    const std::string bot = "198.19.4." + std::to_string(i + 1);
    run.from(bot.c_str(), request("OPTIONS", "", std::to_string(5000 + i)), 100, "198.18.0.20");
  }
  const auto v = run.go();
  for (size_t first : {0, 4}) {
    CHECK(v[first].reason == Reason::admitted);
    CHECK(v[first + 1].reason == Reason::admitted);
    CHECK(v[first + 2].reason == Reason::untrusted_budget);
    CHECK(v[first + 3].reason == Reason::untrusted_budget);
  }
}

TEST_CASE("403 answers count against the client", "[policy]") {
  Run run;
  for (int i = 0; i < 7; ++i) {
    run.from("198.18.66.9", request("REGISTER"), 100'000);
    run.to("198.18.66.9", response("403 Forbidden", "REGISTER"));
  }
  run.from("198.18.66.9", request("REGISTER"), 100'000);
  const auto v = run.go();
  CHECK(v.back().reason == Reason::source_banned);  // 7 x 3 demerits > 20
}

TEST_CASE("the source table never evicts and expires only idle untrusted entries", "[state]") {
  const KeyedHash hash(9);
  SourceTable t(4, 1000, 1000, hash);
  std::vector<SourceEntry*> e;
  for (uint16_t p = 1; p <= 4; ++p)
    e.push_back(t.find_or_insert({test::ip("198.18.1.1"), p, {}}, 0));
  for (auto* x : e) REQUIRE(x != nullptr);
  CHECK(t.find_or_insert({test::ip("198.18.1.1"), 5, {}}, 0) == nullptr);
  CHECK(t.insert_failures() == 1);
  e[0]->trusted_until_ms = 100000;
  e[1]->banned_until_ms = 100000;
  e[2]->last_seen_ms = 1500;
  t.expire_step(2000, 4);
  CHECK(t.size() == 3);  // only entry 4 (port 4): idle, untrusted, not banned
  CHECK(t.find({test::ip("198.18.1.1"), 4, {}}) == nullptr);
  CHECK(t.find({test::ip("198.18.1.1"), 1, {}}) == e[0]);
  CHECK(t.find_or_insert({test::ip("198.18.1.1"), 5, {}}, 2000) != nullptr);
}

TEST_CASE("the probation area evicts its oldest one-shot entry, never a trusted or banned one",
          "[state]") {
  const KeyedHash hash(9);
  SourceTable t(4, 300'000, 300'000, hash, WhenFull::evict);
  std::vector<SourceEntry*> e;
  for (uint16_t p = 1; p <= 4; ++p) {
    e.push_back(t.find_or_insert({test::ip("198.18.1.3"), p, {}}, 0));
    REQUIRE(e.back() != nullptr);
    e.back()->messages = 1;
  }
  e[0]->messages = 2;                // came back: kept while a one-shot entry can go
  e[1]->trusted_until_ms = 100'000;  // never evicted
  e[2]->banned_until_ms = 100'000;   // never evicted
  CHECK(t.find_or_insert({test::ip("198.18.1.3"), 5, {}}, 10) != nullptr);
  CHECK(t.find({test::ip("198.18.1.3"), 4, {}}) == nullptr);  // the one-shot entry went
  CHECK(t.find({test::ip("198.18.1.3"), 1, {}}) != nullptr);
  t.find({test::ip("198.18.1.3"), 5, {}})->messages = 2;
  // No one-shot entry left: the oldest entry neither trusted nor banned goes.
  CHECK(t.find_or_insert({test::ip("198.18.1.3"), 6, {}}, 20) != nullptr);
  CHECK(t.find({test::ip("198.18.1.3"), 1, {}}) == nullptr);
  CHECK(t.find({test::ip("198.18.1.3"), 2, {}}) == e[1]);
  CHECK(t.find({test::ip("198.18.1.3"), 3, {}}) == e[2]);
  CHECK(t.evictions() == 2);
  CHECK(t.insert_failures() == 0);
  CHECK(t.size() == 4);
  // Only trusted and banned entries: nothing may go, the newcomer is refused (counted).
  t.find({test::ip("198.18.1.3"), 5, {}})->banned_until_ms = 100'000;
  t.find({test::ip("198.18.1.3"), 6, {}})->trusted_until_ms = 100'000;
  CHECK(t.find_or_insert({test::ip("198.18.1.3"), 7, {}}, 30) == nullptr);
  CHECK(t.insert_failures() == 1);
}

TEST_CASE("entries with one message and no challenge expire sooner", "[state]") {
  const KeyedHash hash(9);
  SourceTable t(8, 300'000, 10'000, hash);  // idle 300 s, strays 10 s
  std::vector<SourceEntry*> e;
  for (uint16_t p = 1; p <= 3; ++p) {
    e.push_back(t.find_or_insert({test::ip("198.18.1.2"), p, {}}, 0));
    REQUIRE(e.back() != nullptr);
    e.back()->messages = 1;
  }
  e[1]->messages = 2;            // came back: a real client
  e[2]->nonce_hash = 12345 | 1;  // challenged: its answer may take a while
  t.expire_step(9'999, 8);
  CHECK(t.size() == 3);
  t.expire_step(10'000, 8);
  CHECK(t.size() == 2);
  CHECK(t.find({test::ip("198.18.1.2"), 1, {}}) == nullptr);
  t.expire_step(300'000, 8);
  CHECK(t.size() == 0);
}

TEST_CASE("a long spoofed flood does not fill the source table", "[policy][state]") {
  for (const uint32_t stray_idle_s : {2u, 300u}) {
    Run run;
    run.config.policy.max_sources = 1024;
    run.config.policy.probation_sources = 0;  // first contacts in the one table, as before
    run.config.policy.stray_idle_s = stray_idle_s;
    for (int i = 0; i < 3000; ++i) {  // 30 s at 100/s, each from an address never seen again
      const std::string spoofed =
          "198.19." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
      run.from(spoofed.c_str(), request("REGISTER", "", std::to_string(7000 + i)), 10'000);
    }
    INFO("stray_idle_s " << stray_idle_s);
    run.go();
    if (stray_idle_s == 2)
      CHECK(run.source_insert_failures == 0);  // about 400 entries at a time
    else
      CHECK(run.source_insert_failures > 1000);  // full after 512 sources and their addresses
  }
}

TEST_CASE(
    "a forged flood larger than every table neither pushes out registered users nor hides "
    "a client's retransmission",
    "[policy][state]") {
  for (const uint32_t probation : {16384u, 0u}) {
    Run run;
    run.config.policy.max_sources = 64;
    run.config.policy.probation_sources = probation;
    for (int u = 0; u < 20; ++u) {  // registered users: trusted by the registrar's 200 OK
      const std::string user = "198.18.20." + std::to_string(u + 1);
      run.from(user.c_str(), request("REGISTER", "", std::to_string(2000 + u)));
      run.to(user.c_str(), response("200 OK", "REGISTER", "Expires: 3600\r\n"));
    }
    const auto flood = [&](int from, int to) {  // 5000/s, each from an address never seen again
      for (int i = from; i < to; ++i) {
        const std::string spoofed =
            "198.19." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
        run.from(spoofed.c_str(), request("REGISTER", "", std::to_string(10000 + i)), 200);
      }
    };
    flood(0, 5000);
    run.from("198.18.16.60", request("REGISTER", "", "1060"), 100);  // a new phone: refused
    const size_t first_try = run.frames.size() - 1;
    flood(5000, 7500);                                               // 0.5 s more
    run.from("198.18.16.60", request("REGISTER", "", "1060"), 100);  // its retransmission
    const size_t retransmission = run.frames.size() - 1;
    flood(7500, 20000);
    for (int u = 0; u < 20; ++u) {  // after 4 s of flood, every user still trusted
      const std::string user = "198.18.20." + std::to_string(u + 1);
      run.from(user.c_str(), request("REGISTER", "", std::to_string(2000 + u)), 100);
    }
    const auto v = run.go();
    INFO("probation " << probation);
    CHECK(v[first_try].reason == Reason::untrusted_budget);
    for (size_t i = v.size() - 20; i < v.size(); ++i) CHECK(v[i].reason == Reason::admitted);
    if (probation) {
      CHECK(v[retransmission].reason == Reason::admitted);
      CHECK(run.proven_sources == 20);  // only the users: the flood stayed in probation
      CHECK(run.source_insert_failures == 0);
      // 40,000 first contacts (sources and their addresses) through 16,384 entries: those the
      // 2 s stray expiry did not free first were pushed out.
      CHECK(run.probation_evictions > 10000);
    } else {
      // One table, full of the flood: the phone has no entry, its retransmission no history.
      CHECK(v[retransmission].reason == Reason::untrusted_budget);
      CHECK(run.source_insert_failures > 10000);
    }
  }
}

TEST_CASE("an address that rotates source ports ranks as a bot; phones behind a NAT do not",
          "[policy]") {
  for (const uint8_t fresh_ports : {5, 0}) {
    Run run;
    run.config.policy.bot_fresh_ports = fresh_ports;
    run.config.policy.bot_budget = {1, 1};
    std::vector<size_t> bots, phones;
    for (int step = 0; step < 30; ++step) {  // 6 s in steps of 200 ms
      for (int b = 0; b < 5; ++b) {          // 5 bots, each INVITE from a port never used again
        const std::string bot = "198.19.7." + std::to_string(b + 1);
        run.from(bot.c_str(), request("INVITE", "", std::to_string(3000 + step * 5 + b)), 1000,
                 "198.18.0.10", static_cast<uint16_t>(20000 + step));
        bots.push_back(run.frames.size() - 1);
      }
      if (step < 25) {  // 25 phones behind one NAT, each from a port of its own: it comes back
        for (int again = 0; again < 2; ++again) {  // a challenge answered, or a retransmission
          run.from("198.18.30.1", request("REGISTER", "", std::to_string(4000 + step)), 50'000,
                   "198.18.0.10", static_cast<uint16_t>(6000 + step));
          phones.push_back(run.frames.size() - 1);
        }
      }
      run.t += 200'000 - 5'000 - (step < 25 ? 100'000 : 0);
    }
    const auto v = run.go();
    INFO("bot_fresh_ports " << int(fresh_ports));
    size_t bots_passed = 0;
    for (size_t i : bots) bots_passed += v[i].action == Action::pass;
    for (size_t i : phones) CHECK(v[i].reason == Reason::admitted);
    if (fresh_ports) {
      // 5 fresh ports each before the rank applies, then one shared token a second.
      CHECK(bots_passed <= 25 + 1 + 6);
      CHECK(count(v, Reason::port_rotating) >= 150 - 32);
    } else {
      CHECK(bots_passed == 150);  // nothing else holds them: no budget pressure, no meter
      CHECK(count(v, Reason::port_rotating) == 0);
    }
  }
}

TEST_CASE("familiar prefixes: learned per /24 and /48, forgotten when they end", "[state]") {
  const KeyedHash hash(11);
  FamiliarPrefixes f(64, 24, 48, hash);
  f.learn(test::ip("198.18.16.5"), 10'000, 0);
  f.learn(test::ip("2001:db8:16::20"), 10'000, 0);
  CHECK(f.familiar(test::ip("198.18.16.200"), 5'000));
  CHECK_FALSE(f.familiar(test::ip("198.18.17.1"), 5'000));
  CHECK(f.familiar(test::ip("2001:db8:16:ffff::1"), 5'000));
  CHECK_FALSE(f.familiar(test::ip("2001:db8:17::1"), 5'000));
  CHECK_FALSE(f.familiar(test::ip("198.18.16.200"), 10'000));  // ended
  f.learn(test::ip("198.18.16.9"), 20'000, 5'000);             // learned again: lasts longer
  CHECK(f.familiar(test::ip("198.18.16.200"), 15'000));
  CHECK(f.size(15'000) == 1);
  FamiliarPrefixes off(0, 24, 48, hash);
  off.learn(test::ip("198.18.16.5"), 10'000, 0);
  CHECK_FALSE(off.familiar(test::ip("198.18.16.5"), 0));
}

TEST_CASE("familiar prefixes: a full neighbourhood gives way to the entry nearest its end",
          "[state]") {
  const KeyedHash hash(12);
  FamiliarPrefixes f(8, 24, 48, hash);  // 8 slots, all probed: any 8 prefixes fit
  for (int i = 0; i < 8; ++i)
    f.learn(test::ip(("198.18." + std::to_string(i) + ".1").c_str()), 10'000 + i, 0);
  f.learn(test::ip("198.18.100.1"), 50'000, 0);
  CHECK(f.familiar(test::ip("198.18.100.1"), 1));
  CHECK_FALSE(f.familiar(test::ip("198.18.0.1"), 1));  // the one that would end first
  for (int i = 1; i < 8; ++i)
    CHECK(f.familiar(test::ip(("198.18." + std::to_string(i) + ".1").c_str()), 1));
}

TEST_CASE("workers share familiar prefixes: learned on one, familiar on another", "[policy]") {
  const KeyedHash hash(13);
  const PolicyConfig policy;
  FamiliarPrefixes shared(policy.familiar_prefixes, policy.familiar_ipv4_length,
                          policy.familiar_ipv6_length, hash);
  Mitigation worker0(policy, hash, 1, &shared), worker1(policy, hash, 1, &shared);
  Mitigation alone(policy, hash);  // the offline replay's: a table of its own
  // The registrar's 200 OK to a REGISTER from 198.18.16.5 crosses worker 0 (RSS sent it there).
  const std::string ok = response("200 OK", "REGISTER", "Expires: 300\r\n");
  const Frame frame = build_udp(ep("198.18.0.10"), ep("198.18.16.5"), ok)[0];
  PacketMeta meta;
  REQUIRE(parse_frame(frame.data(), static_cast<uint32_t>(frame.size()), meta).ok);
  SipMessage m;
  REQUIRE(tokenize(ok, m).ok);
  worker0.learn(meta, m, ok, 1000);
  alone.learn(meta, m, ok, 1000);
  // A first contact from the same /24 reaches worker 1: familiar there too.
  PacketMeta newcomer = meta;
  newcomer.src = test::ip("198.18.16.77");
  newcomer.src_port = 5060;
  const auto pace_on = [&](Mitigation& w, const PacketMeta& from) {
    return w.pace(w.source(from, 2000), 2000);
  };
  CHECK(pace_on(worker1, newcomer) == Pace::familiar);
  newcomer.src = test::ip("198.18.17.77");
  CHECK(pace_on(worker1, newcomer) == Pace::newcomer);
  // Without the shared table, another worker would not know it.
  Mitigation unshared(policy, hash);
  newcomer.src = test::ip("198.18.16.78");
  CHECK(pace_on(unshared, newcomer) == Pace::newcomer);
  CHECK(pace_on(alone, newcomer) == Pace::familiar);
  CHECK(&worker0.familiar() == &worker1.familiar());
}

TEST_CASE("first contacts from prefixes with trusted users have a bucket of their own",
          "[policy]") {
  for (const uint32_t remembered : {65536u, 0u}) {
    Run run;
    run.config.policy.familiar_prefixes = remembered;
    run.config.policy.newcomer_budget = {1, 1};  // drained by the flood below
    run.from("198.18.16.1", request("REGISTER"));
    run.to("198.18.16.1", response("200 OK", "REGISTER", "Expires: 300\r\n"));
    for (int i = 0; i < 20; ++i) {
      const std::string spoofed = "198.19.6." + std::to_string(i + 1);
      run.from(spoofed.c_str(), request("REGISTER", "", std::to_string(8000 + i)), 1000);
    }
    run.from("198.18.16.77", request("REGISTER", "", "1077"), 1000);  // a new subscriber
    run.from("198.18.99.77", request("REGISTER", "", "1078"), 1000);  // nobody trusted there
    const auto v = run.go();
    INFO("familiar prefixes " << remembered);
    CHECK(count(v, Reason::untrusted_budget, 2) >= 19);  // the flood: one token, then nothing
    CHECK(v[v.size() - 2].reason == (remembered ? Reason::admitted : Reason::untrusted_budget));
    CHECK(v.back().reason == Reason::untrusted_budget);
  }
}

TEST_CASE("in-dialog requests and responses must match a leg the servers know",
          "[policy][dialogs]") {
  Run run;
  const std::string to_tag = "To: <sip:1001@example.test>;tag=x\r\n";
  // An orphan BYE and an unsolicited 200 OK from a client nobody called.
  run.from("198.18.16.3",
           "BYE sip:1001@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.16.3;branch=z9hG4bK9\r\n"
           "From: <sip:1003@example.test>;tag=a\r\n" +
               to_tag + "Call-ID: orphan-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n");
  std::string ok = response("200 OK", "INVITE");
  run.from("198.18.16.3", ok);
  // The caller's INVITE opens its leg: its CANCEL and BYE pass.
  std::string invite = request("INVITE");
  run.from("198.18.16.1", invite);
  std::string cancel = invite;
  cancel.replace(0, 6, "CANCEL");
  cancel.replace(cancel.find("CSeq: 1 INVITE"), 14, "CSeq: 1 CANCEL");
  run.from("198.18.16.1", cancel);
  // The server's INVITE to a callee opens the callee's leg: its answer passes.
  std::string to_callee = request("INVITE", "", "1001");
  run.to("198.18.16.9", to_callee);
  run.from("198.18.16.9", response("180 Ringing", "INVITE"));
  // A leg lasts a transaction; a late answer finds nothing.
  run.from("198.18.16.9", response("200 OK", "INVITE"), 7201'000'000ull);
  const auto v = run.go();
  CHECK(v[0].reason == Reason::no_dialog);
  CHECK(v[1].reason == Reason::unsolicited_response);
  CHECK(v[2].reason == Reason::admitted);
  CHECK(v[3].reason == Reason::admitted);
  CHECK(v[5].reason == Reason::admitted);
  CHECK(v[6].reason == Reason::unsolicited_response);
}

TEST_CASE("a call's leg ends a transaction's time after its BYE", "[policy][dialogs]") {
  Run run;
  for (const char* caller : {"198.18.16.1", "198.18.16.2", "198.18.16.3"}) {
    run.from(caller, request("INVITE"));
    run.to(caller, response("200 OK", "INVITE"));
  }
  // .1 hangs up and the server answers; the answer may be lost: the BYE comes again, 20 s later.
  run.from("198.18.16.1", request("BYE"));
  run.to("198.18.16.1", response("200 OK", "BYE"));
  run.from("198.18.16.1", request("BYE"), 20'000'000);
  // The server hangs up on .2; .2's answer comes late once, then once more after the linger.
  run.to("198.18.16.2", request("BYE"));
  run.from("198.18.16.2", response("200 OK", "BYE"), 20'000'000);
  // Past the 32 s linger (transaction_s) both calls are gone; .3, never hung up, is not.
  run.from("198.18.16.1", request("BYE"), 20'000'000);
  run.from("198.18.16.2", response("200 OK", "BYE"));
  run.from("198.18.16.3", request("BYE"));
  const auto v = run.go();
  REQUIRE(v.size() == 14);
  CHECK(v[6].reason == Reason::admitted);
  CHECK(v[8].reason == Reason::admitted);
  CHECK(v[10].reason == Reason::admitted);
  CHECK(v[11].reason == Reason::no_dialog);
  CHECK(v[12].reason == Reason::unsolicited_response);
  CHECK(v[13].reason == Reason::admitted);
}

TEST_CASE("a grace period after start lets live calls through", "[policy][dialogs]") {
  Run run;
  run.config.policy.grace_s = 30;
  std::string other_call = response("200 OK", "INVITE");
  other_call.replace(other_call.find("c-1001"), 6, "c-9999");
  run.from("198.18.16.3", response("200 OK", "INVITE"));
  run.from("198.18.16.3", response("200 OK", "INVITE"), 31'000'000);  // the call it let through
  run.from("198.18.16.3", other_call, 1000);
  const auto v = run.go();
  CHECK(v[0].reason == Reason::admitted);
  CHECK(v[1].reason == Reason::admitted);
  CHECK(v[2].reason == Reason::unsolicited_response);
}

TEST_CASE("events are rate-limited, and what is left out is reported", "[events]") {
  EventRing ring;
  Event e;
  e.type = EventType::source_banned;
  e.time_ns = 5'000'000'000;
  size_t recorded = 0;
  for (int i = 0; i < 500; ++i) recorded += ring.record(e);
  CHECK(recorded == EventRing::kPerSecond);
  e.time_ns = 6'000'000'000;
  CHECK(ring.record(e));
  Event out;
  size_t banned = 0, suppressed_events = 0;
  uint64_t suppressed = 0;
  while (ring.next(out)) {
    if (out.type == EventType::source_banned) ++banned;
    if (out.type == EventType::suppressed) {
      ++suppressed_events;
      suppressed = out.count;
    }
  }
  CHECK(banned == EventRing::kPerSecond + 1);
  CHECK(suppressed_events == 1);
  CHECK(suppressed == 500 - EventRing::kPerSecond);
}

TEST_CASE("an attack starts above the threshold and ends after quiet seconds", "[events]") {
  EventRing ring;
  AttackDetector detector(100, 3);
  const uint64_t s = 1'000'000'000;
  for (uint64_t sec = 10; sec < 15; ++sec)  // 5 seconds at 150, then 300 drops per second
    for (int i = 0; i < (sec == 12 ? 300 : 150); ++i)
      detector.dropped(Reason::rate_limited, sec * s + i, ring);
  for (int i = 0; i < 50; ++i) detector.dropped(Reason::rate_limited, 15 * s + i, ring);  // below
  detector.tick(30 * s, ring);
  Event e;
  std::vector<Event> events;
  while (ring.next(e)) events.push_back(e);
  REQUIRE(events.size() == 2);
  CHECK(events[0].type == EventType::attack_started);
  CHECK(events[0].reason == Reason::rate_limited);
  CHECK(events[0].time_ns == 10 * s);
  CHECK(events[1].type == EventType::attack_ended);
  CHECK(events[1].peak_pps == 300);
  CHECK(events[1].count == 4 * 150 + 300 + 50);
  const auto line = nlohmann::json::parse(event_json(events[1], 2));
  CHECK(line["event"]["action"] == "attack-ended");
  CHECK(line["sipshield"]["peak_pps"] == 300);
  CHECK(line["@timestamp"].get<std::string>().find("1970-01-01T00:00:") == 0);
}

TEST_CASE("an attack seen by several workers is reported once, with their totals", "[events]") {
  AttackMerger merger;
  const auto event = [](EventType type, Reason reason, uint64_t peak = 0, uint64_t count = 0) {
    Event e;
    e.type = type;
    e.reason = reason;
    e.peak_pps = peak;
    e.count = count;
    return e;
  };
  Event e = event(EventType::attack_started, Reason::untrusted_budget);
  CHECK(merger.pass(e, 0));
  e = event(EventType::attack_started, Reason::untrusted_budget);
  CHECK_FALSE(merger.pass(e, 3));  // the same attack, on another worker
  e = event(EventType::attack_started, Reason::source_banned);
  CHECK(merger.pass(e, 3));  // another kind is another attack
  e = event(EventType::source_banned, Reason::rate_limited);
  CHECK(merger.pass(e, 1));  // bans pass as they are
  e = event(EventType::attack_ended, Reason::untrusted_budget, 300, 5000);
  CHECK_FALSE(merger.pass(e, 3));  // worker 0 still sees it
  e = event(EventType::attack_ended, Reason::untrusted_budget, 200, 4000);
  REQUIRE(merger.pass(e, 0));
  CHECK(e.peak_pps == 500);
  CHECK(e.count == 9000);
  e = event(EventType::attack_ended, Reason::rate_limited, 10, 10);
  CHECK(merger.pass(e, 2));  // its start was never seen: passed on as it is
  CHECK(e.count == 10);
  e = event(EventType::attack_started, Reason::untrusted_budget);
  CHECK(merger.pass(e, 1));  // a new attack after the end
}

TEST_CASE("deny prefixes drop first; allow prefixes skip signatures, meters and budget",
          "[policy][prefixes]") {
  Run run;
  run.config.deny = {*IpPrefix::parse("198.19.0.0/16"), *IpPrefix::parse("2001:db8:bad::/48"),
                     *IpPrefix::parse("198.18.100.7")};
  run.config.allow = {*IpPrefix::parse("198.18.100.0/24")};
  run.config.policy.untrusted_budget_pps = 1;
  run.config.policy.untrusted_budget_burst = 1;
  run.from("198.19.5.5", request("OPTIONS"));
  for (int i = 0; i < 30; ++i)
    run.from("198.18.100.1", request("INVITE", "User-Agent: friendly-scanner\r\n"), 10);
  run.from("198.18.100.7", request("OPTIONS"));  // the longer deny prefix inside the allowed /24
  run.from("198.18.16.1", request("OPTIONS"));   // the budget's one token
  run.from("198.18.16.2", request("OPTIONS"));
  FrameOptions o;
  o.mtu = 576;
  for (const auto& frag :
       build_udp(ep("2001:db8:bad::1"), ep("2001:db8::10"), test::payload_of(1200), o)) {
    run.frames.push_back(frag);
    run.times.push_back(run.t += 10);
  }
  run.config.protected_services.push_back(*ServiceMatch::parse("[2001:db8::10]:5060"));
  const auto v = run.go();
  CHECK(v[0].reason == Reason::denied_prefix);
  for (int i = 1; i <= 30; ++i) CHECK(v[i].reason == Reason::admitted);
  CHECK(v[31].reason == Reason::denied_prefix);
  CHECK(v[32].reason == Reason::admitted);
  CHECK(v[33].reason == Reason::untrusted_budget);
  for (size_t i = 34; i < v.size(); ++i) CHECK(v[i].reason == Reason::denied_prefix);
}

TEST_CASE("the bulk prefix lookup gives each address the verdict of its longest prefix",
          "[policy][prefixes]") {
  test::ensure_eal();
  const auto prefixes = [](std::initializer_list<const char*> texts) {
    std::vector<IpPrefix> out;
    for (const char* t : texts) out.push_back(*IpPrefix::parse(t));
    return out;
  };
  const PrefixLists lists(prefixes({"198.18.100.0/24", "2001:db8:a::/48"}),
                          prefixes({"198.19.0.0/16", "198.18.100.7", "2001:db8:bad::/48"}),
                          prefixes({"198.19.9.0/24", "2001:db8:bad:1::/64"}));
  const std::pair<const char*, PrefixVerdict> expected[] = {
      {"198.18.100.1", PrefixVerdict::allow},   {"198.18.100.7", PrefixVerdict::deny},
      {"198.19.5.5", PrefixVerdict::deny},      {"198.19.9.9", PrefixVerdict::ban},
      {"198.18.16.1", PrefixVerdict::none},     {"2001:db8:a::5", PrefixVerdict::allow},
      {"2001:db8:bad::1", PrefixVerdict::deny}, {"2001:db8:bad:1::1", PrefixVerdict::ban},
      {"2001:db8::1", PrefixVerdict::none}};
  // A whole burst, the families interleaved, every address twice or more.
  std::vector<IpAddress> addresses;
  std::vector<PrefixVerdict> want;
  for (size_t i = 0; i < PrefixLists::kBulkMax; ++i) {
    const auto& [text, verdict] = expected[(i * 5) % std::size(expected)];
    addresses.push_back(*IpAddress::parse(text));
    want.push_back(verdict);
  }
  std::vector<const IpAddress*> pointers;
  for (const auto& a : addresses) pointers.push_back(&a);
  std::vector<PrefixVerdict> got(addresses.size(), PrefixVerdict::allow);
  lists.lookup_bulk(pointers.data(), pointers.size(), got.data());
  for (size_t i = 0; i < addresses.size(); ++i) {
    INFO(addresses[i].to_string());
    CHECK(got[i] == want[i]);
    CHECK(lists.lookup(addresses[i]) == want[i]);
  }
  // Only IPv4 lists: IPv6 addresses get no verdict, and the other way round.
  const PrefixLists v4_only(prefixes({"198.18.100.0/24"}), {});
  const IpAddress v6 = *IpAddress::parse("2001:db8:a::5"), v4 = *IpAddress::parse("198.18.100.2");
  const IpAddress* mixed[] = {&v6, &v4};
  PrefixVerdict two[2];
  v4_only.lookup_bulk(mixed, 2, two);
  CHECK(two[0] == PrefixVerdict::none);
  CHECK(two[1] == PrefixVerdict::allow);
}

TEST_CASE("a 503 with Retry-After and a Via oc value shrink the untrusted budget",
          "[policy][overload]") {
  const auto newcomers = [](Run& run, int n, int first) {
    for (int i = 0; i < n; ++i) {
      const std::string bot = "198.19.1." + std::to_string(first + i);
      run.from(bot.c_str(), request("OPTIONS", "", std::to_string(3000 + first + i)), 10);
    }
  };
  const auto admitted = [](const std::vector<Verdict>& v, size_t from, size_t n) {
    size_t k = 0;
    for (size_t i = from; i < from + n; ++i) k += v[i].reason == Reason::admitted;
    return k;
  };
  Run plain, after_503, after_oc;
  for (Run* r : {&plain, &after_503, &after_oc}) {  // no ranks: the whole bucket for newcomers
    r->config.policy.untrusted_budget_pps = 100;
    r->config.policy.untrusted_budget_burst = 100;
    r->config.policy.floor_newcomer_percent = 0;
    r->config.policy.newcomer_budget = {1000, 1000};
  }
  plain.to("198.18.16.1", response("200 OK", "OPTIONS"));
  after_503.to("198.18.16.1",
               response("503 Service Unavailable", "OPTIONS", "Retry-After: 30\r\n"));
  std::string oc = response("500 Server Error", "OPTIONS");
  oc.replace(oc.find("branch=z9hG4bK1"), 15, "branch=z9hG4bK1;oc=50;oc-validity=10000");
  after_oc.to("198.18.16.1", oc);
  for (Run* r : {&plain, &after_503, &after_oc}) newcomers(*r, 100, 1);
  const auto p = plain.go(), a = after_503.go(), o = after_oc.go();
  CHECK(admitted(p, 1, 100) == 100);
  CHECK(admitted(a, 1, 100) <= 11);  // 10 % of the budget
  CHECK(admitted(o, 1, 100) >= 48);  // half
  CHECK(admitted(o, 1, 100) <= 52);
}

TEST_CASE("per address of record: a REGISTER meter, and a lock after repeated refusals",
          "[policy][aor]") {
  Run run;
  run.config.policy.untrusted_budget_pps = 100000;
  run.config.policy.untrusted_budget_burst = 1000;
  // The real phone of 1001 registers and is trusted.
  run.from("198.18.16.1", request("REGISTER"));
  run.to("198.18.16.1", response("200 OK", "REGISTER", "Expires: 3600\r\n"));
  // A brute force on 1001 spread over many sources, each answered with a challenge.
  for (int i = 0; i < 12; ++i) {
    const std::string bot = "198.19.2." + std::to_string(i + 1);
    run.from(bot.c_str(), request("REGISTER"), 200'000);
    run.to(bot.c_str(), response("401 Unauthorized", "REGISTER",
                                 "WWW-Authenticate: Digest realm=\"x\", nonce=\"n" +
                                     std::to_string(i) + "\"\r\n"));
  }
  run.from("198.19.3.1", request("REGISTER"), 200'000);     // 1001 is locked now
  run.from("198.19.3.2", request("REGISTER", "", "1002"));  // another AOR is not
  run.from("198.18.16.1", request("REGISTER"));             // the trusted phone is not affected
  // Twenty sources registering 1003 at once: the AOR's burst of 10 holds.
  for (int i = 0; i < 20; ++i) {
    const std::string src = "198.19.4." + std::to_string(i + 1);
    run.from(src.c_str(), request("REGISTER", "", "1003"), 1000);
  }
  const auto v = run.go();
  const size_t locked_at = 2 + 12 * 2;
  CHECK(v[locked_at].reason == Reason::aor_locked);
  CHECK(v[locked_at + 1].reason == Reason::admitted);
  CHECK(v[locked_at + 2].reason == Reason::admitted);
  CHECK(count(v, Reason::aor_rate_limited, locked_at + 3) == 10);
}

TEST_CASE("untrusted sources behind one address share a meter; trusted phones there do not",
          "[policy][nat]") {
  Run run;
  run.config.policy.untrusted_budget_pps = 100000;
  run.config.policy.untrusted_budget_burst = 1000;
  // A registered phone behind the NAT address 198.18.30.1.
  run.frames.push_back(
      build_udp(ep("198.18.30.1", 40000), ep("198.18.0.10"), request("REGISTER"))[0]);
  run.times.push_back(run.t += 1000);
  run.frames.push_back(build_udp(ep("198.18.0.10"), ep("198.18.30.1", 40000),
                                 response("200 OK", "REGISTER", "Expires: 600\r\n"))[0]);
  run.times.push_back(run.t += 1000);
  // A flood from the same address that rotates its source port: 80 ports, one OPTIONS each.
  for (uint16_t p = 0; p < 80; ++p) {
    run.frames.push_back(build_udp(ep("198.18.30.1", static_cast<uint16_t>(50000 + p)),
                                   ep("198.18.0.10"),
                                   request("OPTIONS", "", std::to_string(5000 + p)))[0]);
    run.times.push_back(run.t += 100);
  }
  run.frames.push_back(
      build_udp(ep("198.18.30.1", 40000), ep("198.18.0.10"), request("OPTIONS"))[0]);
  run.times.push_back(run.t += 100);
  const auto v = run.go();
  CHECK(count(v, Reason::address_rate_limited) >= 25);  // burst 50 of 80
  CHECK(count(v, Reason::address_rate_limited) <= 31);
  CHECK(count(v, Reason::source_banned) == 0);  // an aggregate never bans
  CHECK(v.back().reason == Reason::admitted);   // the registered phone still passes
}

// 200 first contacts a second for 4 s, each REGISTER answered by the server `delay_ms` later with
// `status`; returns how many the filter admitted, and leaves the control's state in run.budget.
size_t admitted_with_server(Run& run, uint32_t delay_ms, const std::string& status) {
  run.config.policy.untrusted_budget_pps = 100;
  run.config.policy.untrusted_budget_burst = 10;
  run.config.policy.newcomer_budget = {100, 10};
  std::vector<std::tuple<uint64_t, bool, int>> events;  // time (us), from the server, client
  for (int i = 0; i < 800; ++i) {
    events.emplace_back(uint64_t(i) * 5000, false, i);
    events.emplace_back(uint64_t(i) * 5000 + delay_ms * 1000ull, true, i);
  }
  std::sort(events.begin(), events.end());
  uint64_t last = 0;
  for (const auto& [at, from_server, i] : events) {
    const std::string client =
        "198.19." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 1);
    const std::string user = std::to_string(2000 + i);
    std::string text = from_server ? response(status, "REGISTER") : request("REGISTER", "", user);
    // Each transaction its own Call-ID, the same in the request and its answer.
    text.replace(text.find("Call-ID: c-"), 15, "Call-ID: c-" + user);
    if (from_server) {
      run.to(client.c_str(), text, at - last);
    } else {
      run.from(client.c_str(), text, at - last);
    }
    last = at;
  }
  const auto v = run.go();
  size_t admitted = 0;
  for (size_t k = 0; k < v.size(); ++k) admitted += v[k].reason == Reason::admitted;
  return admitted;
}

TEST_CASE("the untrusted budget follows the servers' response time and 503s (AIMD)",
          "[policy][budget]") {
  Run fast, slow, refusing, off;
  const size_t fast_admitted = admitted_with_server(fast, 5, "401 Unauthorized");
  CHECK(fast.budget.percent == 100);
  CHECK(fast.budget.samples > 100);
  CHECK(fast.budget.latency_ms <= 10);
  const size_t slow_admitted = admitted_with_server(slow, 400, "401 Unauthorized");
  CHECK(slow.budget.latency_ms >= 350);
  CHECK(slow.budget.percent <= 30);  // several multiplicative steps in 4 s
  CHECK(slow_admitted < fast_admitted / 2);
  // Each step is an event: down, slow answers, the last one at the budget the state shows.
  const auto budget_events = [](const Run& run) {
    std::vector<Event> out;
    for (const Event& e : run.events)
      if (e.type == EventType::budget_changed) out.push_back(e);
    return out;
  };
  const auto steps = budget_events(slow);
  REQUIRE(steps.size() >= 3);
  for (size_t i = 1; i < steps.size(); ++i)
    CHECK(steps[i].budget_percent < steps[i - 1].budget_percent);
  CHECK(steps.front().budget_cause == Event::BudgetCause::slow);
  CHECK(steps.back().budget_percent == slow.budget.percent);
  CHECK(steps.back().latency_ms > 250);  // above the target
  CHECK(budget_events(fast).empty());    // at 100 % and fast: no step changes anything
  admitted_with_server(refusing, 5, "503 Service Unavailable");
  CHECK(refusing.budget.percent <= 30);  // fast, but refusing: shrink all the same
  REQUIRE_FALSE(budget_events(refusing).empty());
  CHECK(budget_events(refusing).front().budget_cause == Event::BudgetCause::overloaded);
  off.config.policy.budget_target_ms = 0;  // the control off: the slow server changes nothing
  CHECK(admitted_with_server(off, 400, "401 Unauthorized") >= fast_admitted - 5);
  CHECK(off.budget.percent == 100);
}

TEST_CASE("a server that stops answering shrinks the untrusted budget", "[policy][budget]") {
  for (const bool answers : {true, false}) {
    Run run;
    run.config.policy.untrusted_budget_pps = 1000;
    run.config.policy.newcomer_budget = {1000, 100};
    for (int i = 0; i < 3000; ++i) {  // 6 s of new clients, 500/s
      const std::string client =
          "198.19." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 1);
      const std::string user = std::to_string(2000 + i);
      std::string text = request("REGISTER", "", user);
      run.from(client.c_str(), text, 1000);
      if (!answers) {
        run.t += 1000;
        continue;
      }
      std::string answer = response("401 Unauthorized", "REGISTER");
      answer.replace(answer.find("Call-ID: c-"), 15, "Call-ID: c-" + user);
      run.to(client.c_str(), answer, 1000);
    }
    run.go();
    INFO("the server answers: " << answers);
    CHECK(run.budget.samples > 1000);  // answers, or requests given up after the target
    if (answers) {
      CHECK(run.budget.percent == 100);
      CHECK(run.budget.latency_ms <= 5);
    } else {
      CHECK(run.budget.latency_ms >= 250);
      CHECK(run.budget.percent <= 30);
    }
  }
}

TEST_CASE("workers split one service's untrusted budget by their demand", "[policy][budget]") {
  test::ensure_eal();
  Config config = parse_config_text(R"({"protected": ["198.18.0.10:5060"], "policy": {
      "probe": {"mode": "never"},
      "untrusted_budget": {"rate_per_s": 0, "burst": 100, "floor_percent": {"newcomer": 0},
                           "newcomer": {"rate_per_s": 100000, "burst": 1000}}}})");
  const KeyedHash hash(21);
  BudgetShares shares(2, 1);
  // Each worker gets 200 first contacts at once (no refill): it admits its share of 100.
  const auto admitted = [&](BudgetShares* split, size_t worker) {
    Replay replay(config, hash);
    if (split) replay.pipeline().share_budgets(split, worker);
    uint64_t t = 1'000'000'000;
    for (int i = 0; i < 200; ++i) {
      const std::string source = "198.19." + std::to_string(worker) + "." + std::to_string(i + 1);
      replay.feed(t += 10, build_udp(ep(source.c_str()), ep("198.18.0.10"),
                                     request("OPTIONS", "", std::to_string(5000 + i)))[0]);
    }
    replay.finish();
    return count(replay.verdicts(), Reason::admitted);
  };
  CHECK(admitted(nullptr, 0) == 100);  // alone (the offline replay): the whole budget
  CHECK(admitted(&shares, 0) == 50);   // equal shares to start
  CHECK(admitted(&shares, 1) == 50);
  shares.rebalance();  // both wanted it alike: equal shares still
  CHECK(shares.share(0, 0) == BudgetShares::kWhole / 2);
  // Only worker 0 wanted the budget lately: it gets all but worker 1's floor of 1/8.
  for (int i = 0; i < 300; ++i) shares.note_demand(0, 0);
  shares.rebalance();
  CHECK(shares.share(0, 0) + shares.share(1, 0) == BudgetShares::kWhole);
  CHECK(admitted(&shares, 0) == 87);
  CHECK(admitted(&shares, 1) == 12);
  // Both admitted() calls above wanted 200 each: equal again. Then no demand: the shares stay.
  shares.rebalance();
  CHECK(shares.share(1, 0) == BudgetShares::kWhole / 2);
  shares.rebalance();
  CHECK(shares.share(1, 0) == BudgetShares::kWhole / 2);
}

TEST_CASE("a reload changes a meter for the next message and keeps trust, bans and demerits",
          "[policy][reload]") {
  test::ensure_eal();
  const KeyedHash hash(5);
  Run run;
  Replay r(run.config, hash);
  r.close_loop({[](uint64_t) { return false; }});  // each frame judged as it comes
  uint64_t t = 1'000'000;
  const auto feed = [&](const char* client, const std::string& payload, bool to_client = false) {
    const auto frame = to_client ? build_udp(ep("198.18.0.10"), ep(client), payload)[0]
                                 : build_udp(ep(client), ep("198.18.0.10"), payload)[0];
    r.feed(t += 1000, frame);
    return r.verdicts().back();
  };
  // A trusted user, a banned scanner, and a stranger past its OPTIONS burst (5).
  feed("198.18.16.1", request("REGISTER"));
  feed("198.18.16.1",
       response("200 OK", "REGISTER", "Contact: <sip:1001@198.18.16.1>;expires=600\r\n"), true);
  feed("198.18.16.6", request("OPTIONS", "User-Agent: friendly-scanner\r\n", "6"));
  for (int i = 0; i < 5; ++i)
    CHECK(feed("198.18.16.7", request("OPTIONS", "", "7")).reason == Reason::admitted);
  CHECK(feed("198.18.16.7", request("OPTIONS", "", "7")).reason == Reason::rate_limited);

  Config next = parse_config_text(R"({"protected": ["198.18.0.10:5060"], "policy": {
      "probe": {"mode": "never"}, "untrusted": {"options": {"rate_per_s": 1000, "burst": 1000}},
      "per_address": {"options": {"rate_per_s": 1000, "burst": 1000}}}})");
  REQUIRE(reload_refusals(run.config, next).empty());
  r.pipeline().reconfigure(next);
  // The new meter refills from the time of the last message: its rate at once.
  t += 10'000;
  for (int i = 0; i < 8; ++i)
    CHECK(feed("198.18.16.7", request("OPTIONS", "", "7")).reason == Reason::admitted);
  CHECK(feed("198.18.16.6", request("OPTIONS", "", "6")).reason == Reason::source_banned);
  const auto& m = r.pipeline().mitigation();
  const uint32_t now_ms = static_cast<uint32_t>(t / 1000);
  std::vector<Mitigation::Standing> standing;
  r.pipeline().mitigation().sources_in(*IpPrefix::parse("198.18.16.1"), standing, now_ms, 8);
  REQUIRE(standing.size() == 1);
  CHECK(standing[0].trusted_ms > 500'000);
  CHECK(m.config().untrusted.classes[static_cast<size_t>(MethodClass::options)].rate_per_s == 1000);
  // Counted by tier and service: the stranger's 13 admitted, its one refusal, the scanner's
  // signature drop as untrusted, then its banned message.
  const auto& c = r.pipeline().counters();
  CHECK(c.by_tier[static_cast<size_t>(Tier::untrusted)][0] == 1 + 5 + 8);  // + the REGISTER
  CHECK(c.by_tier[static_cast<size_t>(Tier::untrusted)][1] == 2);
  CHECK(c.by_tier[static_cast<size_t>(Tier::banned)][1] == 1);
  CHECK(c.by_service[0][0] + c.by_service[0][1] == 1 + 1 + 6 + 8 + 1);
}
