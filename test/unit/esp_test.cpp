// IMS Gm ESP: the RFC 4303 anti-replay window, ICV verification with Intel IPsec-MB against
// published HMAC vectors (RFC 2202, RFC 4231) truncated as ESP uses them, the SA table, the keys
// file, and ESP through the pipeline: SAs learned from the P-CSCF's 401, unknown SPIs, replays
// and forged ICVs dropped, the inner SIP of null encryption judged as plain SIP.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/replay.hpp"
#include "esp/icv.hpp"
#include "esp/keys_file.hpp"
#include "esp/replay_window.hpp"
#include "esp/sa_table.hpp"
#include "packet/builder.hpp"
#include "support.hpp"

using namespace sipshield;

namespace {

std::vector<uint8_t> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}
std::vector<uint8_t> repeated(uint8_t b, size_t n) {
  return std::vector<uint8_t>(n, b);
}
std::vector<uint8_t> from_hex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}
std::vector<uint8_t> counting(uint8_t first, uint8_t last) {
  std::vector<uint8_t> out;
  for (unsigned b = first; b <= last; ++b) out.push_back(static_cast<uint8_t>(b));
  return out;
}

struct Vector {
  AuthAlgorithm algorithm;
  std::vector<uint8_t> key, data;
  std::string digest;  // the full HMAC from the RFC; ESP keeps its first icv_length bytes
};

std::vector<Vector> published_vectors() {
  const auto sha1 = AuthAlgorithm::hmac_sha1_96, md5 = AuthAlgorithm::hmac_md5_96,
             sha256 = AuthAlgorithm::hmac_sha256_128;
  const auto hi = bytes_of("Hi There"), jefe = bytes_of("Jefe"),
             want = bytes_of("what do ya want for nothing?"),
             trunc = bytes_of("Test With Truncation");
  return {
      // RFC 2202 section 3 (HMAC-SHA-1), test cases 1-5
      {sha1, repeated(0x0b, 20), hi, "b617318655057264e28bc0b6fb378c8ef146be00"},
      {sha1, jefe, want, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
      {sha1, repeated(0xaa, 20), repeated(0xdd, 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
      {sha1, counting(1, 25), repeated(0xcd, 50), "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
      {sha1, repeated(0x0c, 20), trunc, "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
      // RFC 2202 section 2 (HMAC-MD5), test cases 1, 2, 3, 5
      {md5, repeated(0x0b, 16), hi, "9294727a3638bb1c13f48ef8158bfc9d"},
      {md5, jefe, want, "750c783e6ab0b503eaa86e310a5db738"},
      {md5, repeated(0xaa, 16), repeated(0xdd, 50), "56be34521d144c88dbb8c733f0e8b3f6"},
      {md5, repeated(0x0c, 16), trunc, "56461ef2342edc00f9bab995690efd4c"},
      // RFC 4231 (HMAC-SHA-256), test cases 1-5 (case 5 is the 128-bit truncation)
      {sha256, repeated(0x0b, 20), hi,
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {sha256, jefe, want, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {sha256, repeated(0xaa, 20), repeated(0xdd, 50),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {sha256, counting(1, 25), repeated(0xcd, 50),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {sha256, repeated(0x0c, 20), trunc, "a3b6167473100ee06e0c796c2955552b"},
  };
}

}  // namespace

TEST_CASE("ICVs match the published HMAC vectors, truncated as ESP uses them", "[esp][icv]") {
  IcvVerifier verifier;
  for (const auto& v : published_vectors()) {
    INFO(std::string(auth_algorithm_name(v.algorithm)) + " " + v.digest);
    const auto key = verifier.prepare(v.algorithm, v.key);
    REQUIRE(key);
    const auto want = from_hex(v.digest);
    std::vector<uint8_t> tag(icv_length(v.algorithm));
    verifier.compute(*key, v.data.data(), v.data.size(), tag.data());
    CHECK(std::equal(tag.begin(), tag.end(), want.begin()));
    IcvVerifier::Check check{&*key, v.data.data(), static_cast<uint32_t>(v.data.size()),
                             want.data(), false};
    CHECK(verifier.verify_one(check));
  }
}

TEST_CASE("a multi-buffer batch verifies each check on its own", "[esp][icv]") {
  IcvVerifier verifier;
  const auto vectors = published_vectors();
  std::vector<AuthKey> keys;
  std::vector<std::vector<uint8_t>> icvs;
  for (const auto& v : vectors) {
    keys.push_back(*verifier.prepare(v.algorithm, v.key));
    icvs.push_back(from_hex(v.digest));
  }
  // Every vector three times, mixed algorithms; every third ICV forged by one flipped bit.
  std::vector<IcvVerifier::Check> checks;
  std::vector<std::vector<uint8_t>> forged;
  forged.reserve(3 * vectors.size());
  for (size_t round = 0; round < 3; ++round)
    for (size_t i = 0; i < vectors.size(); ++i) {
      forged.push_back(icvs[i]);
      if ((checks.size() % 3) == 2)
        forged.back()[checks.size() % icv_length(keys[i].algorithm)] ^= 1;
      checks.push_back({&keys[i], vectors[i].data.data(),
                        static_cast<uint32_t>(vectors[i].data.size()), forged.back().data(),
                        false});
    }
  REQUIRE(checks.size() <= IcvVerifier::kMaxBatch);
  verifier.verify(checks);
  for (size_t i = 0; i < checks.size(); ++i) {
    INFO("check " << i);
    CHECK(checks[i].ok == ((i % 3) != 2));
  }
}

TEST_CASE("keys: refused when empty or longer than a block, wiped to zero", "[esp][icv]") {
  IcvVerifier verifier;
  CHECK_FALSE(verifier.prepare(AuthAlgorithm::hmac_sha1_96, {}));
  CHECK_FALSE(verifier.prepare(AuthAlgorithm::hmac_sha1_96, repeated(1, 65)));
  CHECK_FALSE(verifier.prepare(AuthAlgorithm::none, repeated(1, 20)));
  auto key = verifier.prepare(AuthAlgorithm::hmac_sha1_96, repeated(0x42, 20));
  REQUIRE(key);
  CHECK(std::any_of(key->inner.begin(), key->inner.end(), [](uint8_t b) { return b != 0; }));
  key->wipe();
  CHECK(std::all_of(key->inner.begin(), key->inner.end(), [](uint8_t b) { return b == 0; }));
  CHECK(std::all_of(key->outer.begin(), key->outer.end(), [](uint8_t b) { return b == 0; }));
  CHECK(key->algorithm == AuthAlgorithm::none);
  CHECK(auth_algorithm_from_name("hmac-sha-1-96") == AuthAlgorithm::hmac_sha1_96);
  CHECK(auth_algorithm_from_name("hmac-md5-96") == AuthAlgorithm::hmac_md5_96);
  CHECK(auth_algorithm_from_name("hmac-sha-256-128") == AuthAlgorithm::hmac_sha256_128);
  CHECK_FALSE(auth_algorithm_from_name("des-ede3-cbc"));
}

TEST_CASE("the anti-replay window: fresh, replayed, too old, and its edges", "[esp][replay]") {
  using C = ReplayWindow::Check;
  ReplayWindow w(64);
  CHECK(w.check(0) == C::zero);
  CHECK(w.check(1) == C::fresh);
  w.accept(1);
  CHECK(w.check(1) == C::replayed);
  // Out of order within the window: each accepted once.
  w.accept(10);
  CHECK(w.check(5) == C::fresh);
  w.accept(5);
  CHECK(w.check(5) == C::replayed);
  CHECK(w.check(10) == C::replayed);
  // The window's edge: top - 63 is the oldest still inside, top - 64 is too old.
  w.accept(100);
  CHECK(w.check(37) == C::fresh);
  CHECK(w.check(36) == C::too_old);
  w.accept(37);
  CHECK(w.check(37) == C::replayed);
  // A move of exactly one word, of more than the whole bitmap, and of a word and some bits.
  w.accept(164);
  CHECK(w.check(100) == C::too_old);  // 64 behind the new top: outside a 64-wide window
  CHECK(w.check(101) == C::fresh);
  w.accept(1000);
  CHECK(w.check(164) == C::too_old);
  CHECK(w.check(999) == C::fresh);
  // A wider window keeps more: 256 wide, numbers 200 below the top are still checked.
  ReplayWindow wide(256);
  for (uint32_t s = 1; s <= 300; s += 3) wide.accept(s);
  CHECK(wide.top() == 298);
  CHECK(wide.check(298 - 200) == C::fresh);     // 98: never sent (98 % 3 == 2)
  CHECK(wide.check(298 - 201) == C::replayed);  // 97 = 1 + 3 * 32
  CHECK(wide.check(298 - 255) == C::replayed);  // 43 = 1 + 3 * 14, the oldest inside
  CHECK(wide.check(298 - 254) == C::fresh);     // 44: never sent
  CHECK(wide.check(298 - 252) == C::replayed);  // 46 = 1 + 3 * 15
  wide.accept(299);  // one step: every bit moves one place, the 256-wide bitmap carries over words
  CHECK(wide.check(97) == C::replayed);
  CHECK(wide.check(43) == C::too_old);
  // The highest sequence number.
  ReplayWindow top(64);
  top.accept(UINT32_MAX);
  CHECK(top.check(UINT32_MAX) == C::replayed);
  CHECK(top.check(UINT32_MAX - 1) == C::fresh);
}

namespace {

constexpr const char* kPcscf = "198.18.0.10";
constexpr const char* kUe = "198.18.5.1";

// The P-CSCF's 401 to a first REGISTER (TS 33.203 7.2): its Security-Server names the SPIs it
// receives on, spi-c on its client port and spi-s on its server port.
std::string challenge(uint32_t spi_c, uint32_t spi_s, const std::string& ealg = "null") {
  return "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 198.18.5.1:5060;branch=z9hG4bK1\r\n"
         "From: <sip:u1@ims.test>;tag=1\r\nTo: <sip:u1@ims.test>;tag=2\r\nCall-ID: c1\r\n"
         "CSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm=\"ims.test\", nonce=\"abc\"\r\n"
         "Security-Server: ipsec-3gpp; alg=hmac-sha-1-96; ealg=" +
         ealg + "; spi-c=" + std::to_string(spi_c) + "; spi-s=" + std::to_string(spi_s) +
         "; port-c=5066; port-s=5064\r\nContent-Length: 0\r\n\r\n";
}

// The protected REGISTER the UE sends on the SA, from its client port to the server port.
std::string protected_register(int cseq) {
  return "REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.5.1:5062;branch=z9hG4bKp" +
         std::to_string(cseq) +
         "\r\nMax-Forwards: 70\r\nFrom: <sip:u1@ims.test>;tag=1\r\nTo: <sip:u1@ims.test>\r\n"
         "Call-ID: c1\r\nCSeq: " +
         std::to_string(cseq) +
         " REGISTER\r\nContact: <sip:u1@198.18.5.1:5062>\r\nExpires: 600000\r\n"
         "Content-Length: 0\r\n\r\n";
}

struct EspRun {
  Config config;
  std::vector<Frame> frames;
  std::vector<uint64_t> times;
  uint64_t t = 1'000'000'000;
  IcvVerifier icv;

  explicit EspRun(const std::string& esp = "")
      : config(parse_config_text(
            R"({"protected": ["198.18.0.10:5060", "198.18.0.10:5064", "198.18.0.10:5066"],)"
            R"( "policy": {"probe": {"mode": "never"}}, "esp": {"enabled": true)" +
            esp + "}}")) {}
  void add(Frame f, uint64_t gap_us = 1000) {
    frames.push_back(std::move(f));
    times.push_back(t += gap_us);
  }
  void from_pcscf(const std::string& sip) {
    add(build_udp(test::ep(kPcscf), test::ep(kUe), sip)[0]);
  }
  // ESP from `ue` on `spi` carrying `sip`; the ICV computed with `key` (zero without), one bit
  // of it flipped when `forged`.
  // With `mtu`, the signed packet goes as IP fragments; returns how many frames it took.
  size_t esp(const char* ue, uint32_t spi, uint32_t seq, const std::string& sip,
             const AuthKey* key = nullptr, bool forged = false, uint16_t mtu = 1500) {
    auto e = build_esp(test::ep(ue, 5062), test::ep(kPcscf, 5064), spi, seq,
                       std::span(reinterpret_cast<const uint8_t*>(sip.data()), sip.size()), 12);
    if (key)
      icv.compute(*key, e.frame.data() + e.esp_offset, e.icv_offset - e.esp_offset,
                  e.frame.data() + e.icv_offset);
    if (forged) e.frame[e.icv_offset + 3] ^= 0x10;
    FrameOptions o;
    o.mtu = mtu;
    o.ip_id = seq;
    const auto frames = build_ip(test::ip(ue), test::ip(kPcscf), kProtoEsp,
                                 std::span(e.frame).subspan(e.esp_offset, e.esp_length), o);
    for (const auto& f : frames) add(f);
    return frames.size();
  }
  std::vector<Verdict> go() {
    test::ensure_eal();
    const KeyedHash hash(5);
    Replay r(config, hash, nullptr);
    for (size_t i = 0; i < frames.size(); ++i) r.feed(times[i], frames[i]);
    r.finish();
    return r.verdicts();
  }
};

std::string temp_file(const std::string& name, const std::string& content) {
  const std::string path = "/tmp/sipshield-esp-test-" + std::to_string(getpid()) + "-" + name;
  std::ofstream(path) << content;
  return path;
}

}  // namespace

TEST_CASE("ESP to a P-CSCF: SAs from its 401, unknown SPIs and replays dropped, inner SIP judged",
          "[esp][pipeline]") {
  EspRun run;
  run.esp(kUe, 3002, 1, protected_register(2));           // 0: before any sec-agree
  run.from_pcscf(challenge(3001, 3002));                  // 1: the SAs are announced
  run.esp(kUe, 3002, 1, protected_register(2));           // 2
  run.esp(kUe, 3002, 1, protected_register(2));           // 3: the same number again
  run.esp(kUe, 3002, 0, protected_register(3));           // 4: zero is never sent
  run.esp("198.18.5.2", 3002, 5, protected_register(3));  // 5: the SPI from another address
  run.esp(kUe, 4444, 1, protected_register(3));           // 6: an SPI nobody announced
  run.esp(kUe, 3001, 1, "this is not SIP at all");        // 7: inner junk on the other SA
  run.esp(kUe, 3002, 3, protected_register(3));           // 8: out of order but fresh
  auto short_esp = build_esp(test::ep(kUe, 5062), test::ep(kPcscf, 5064), 3002, 9,
                             std::span<const uint8_t>(), 0);
  const size_t l3 = l3_offset({});
  short_esp.frame.resize(short_esp.esp_offset + 6);  // a truncated ESP header
  short_esp.frame[l3 + 3] = 26;                      // IPv4 total length 20 + 6
  refresh_ipv4_checksum(short_esp.frame, l3);
  short_esp.frame.resize(60);
  run.add(short_esp.frame);  // 9
  // ESP to an address nothing protects: the default for unprotected traffic.
  run.add(build_esp(test::ep(kUe, 5062), test::ep("198.18.0.99", 5064), 3002, 10,
                    std::span<const uint8_t>(), 12)
              .frame);  // 10
  const auto v = run.go();
  REQUIRE(v.size() == 11);
  CHECK(v[0].reason == Reason::esp_unknown_spi);
  CHECK(v[1].reason == Reason::from_inside);
  CHECK(v[2].action == Action::pass);
  CHECK(v[2].reason == Reason::admitted);  // the inner REGISTER, through the SIP policy
  CHECK(v[3].reason == Reason::esp_replayed);
  CHECK(v[4].reason == Reason::esp_replayed);
  CHECK(v[5].reason == Reason::esp_unknown_spi);
  CHECK(v[6].reason == Reason::esp_unknown_spi);
  CHECK(v[7].action == Action::drop);
  CHECK(v[7].reason == Reason::sip_bad_start_line);  // the tokenizer's own reason
  CHECK(v[8].reason == Reason::admitted);
  CHECK(v[9].reason == Reason::esp_malformed);
  CHECK(v[10].reason == Reason::not_protected);
}

TEST_CASE("ESP of an encrypted SA is checked but its inner message is not classified",
          "[esp][pipeline]") {
  EspRun run;
  run.from_pcscf(challenge(3001, 3002, "aes-cbc"));
  run.esp(kUe, 3002, 1, "ciphertext the filter cannot read");
  run.esp(kUe, 3002, 1, "ciphertext the filter cannot read");
  const auto v = run.go();
  REQUIRE(v.size() == 3);
  CHECK(v[1].action == Action::pass);
  CHECK(v[1].reason == Reason::esp_checked);
  CHECK(v[2].reason == Reason::esp_replayed);
}

TEST_CASE("keyed SAs: forged ICVs dropped in the burst's batch, the window moved only by real ones",
          "[esp][pipeline][icv]") {
  const std::string key_hex = "0102030405060708090a0b0c0d0e0f1011121314";
  const std::string keys = temp_file(
      "keys.json", R"({"sas": [{"destination": "198.18.0.10", "spi": 3002, "source": "198.18.5.1",)"
                   R"( "auth": "hmac-sha-1-96", "auth_key": ")" +
                       key_hex + R"(", "encryption": "null"}]})");
  EspRun run(R"(, "keys_file": ")" + keys + "\"");
  std::vector<uint8_t> raw;
  for (size_t i = 0; i < key_hex.size(); i += 2)
    raw.push_back(static_cast<uint8_t>(std::stoi(key_hex.substr(i, 2), nullptr, 16)));
  const AuthKey key = *run.icv.prepare(AuthAlgorithm::hmac_sha1_96, raw);
  run.esp(kUe, 3002, 1, protected_register(2), &key);           // 0: verified, admitted
  run.esp(kUe, 3002, 2, protected_register(3), &key, true);     // 1: forged
  run.esp(kUe, 3002, 2, protected_register(3), &key);           // 2: the real 2 still fresh
  run.esp(kUe, 3002, 1000, protected_register(4), &key, true);  // 3: a forged jump ahead
  run.esp(kUe, 3002, 3, protected_register(4), &key);           // 4: not too old: no jump was made
  run.esp(kUe, 3002, 4, protected_register(5), &key);           // 5
  run.esp(kUe, 3002, 4, protected_register(5), &key);           // 6: a copy in the same batch
  run.esp(kUe, 3002, 5, protected_register(6));                 // 7: no ICV at all (zeros)
  const auto v = run.go();
  std::remove(keys.c_str());
  REQUIRE(v.size() == 8);
  CHECK(v[0].reason == Reason::admitted);
  CHECK(v[1].reason == Reason::esp_bad_icv);
  CHECK(v[2].reason == Reason::admitted);
  CHECK(v[3].reason == Reason::esp_bad_icv);
  CHECK(v[4].reason == Reason::admitted);
  CHECK(v[5].reason == Reason::admitted);
  CHECK(v[6].reason == Reason::esp_replayed);
  CHECK(v[7].reason == Reason::esp_bad_icv);
}

TEST_CASE("ESP past the MTU is reassembled and checked whole: SPI, ICV, window, inner SIP",
          "[esp][pipeline][fragments]") {
  const std::string key_hex = "0102030405060708090a0b0c0d0e0f1011121314";
  const std::string keys =
      temp_file("keys2.json", R"({"sas": [{"destination": "198.18.0.10", "spi": 3002, "source": )"
                              R"("198.18.5.1", "auth": "hmac-sha-1-96", "auth_key": ")" +
                                  key_hex + R"("}]})");
  EspRun run(R"(, "keys_file": ")" + keys + "\"");
  std::vector<uint8_t> raw;
  for (size_t i = 0; i < key_hex.size(); i += 2)
    raw.push_back(static_cast<uint8_t>(std::stoi(key_hex.substr(i, 2), nullptr, 16)));
  const AuthKey key = *run.icv.prepare(AuthAlgorithm::hmac_sha1_96, raw);
  std::vector<std::pair<size_t, Reason>> expected;  // frames, and the verdict of each
  const auto send = [&](uint32_t spi, uint32_t seq, bool forged, Reason want) {
    const size_t n =
        run.esp(kUe, spi, seq, protected_register(static_cast<int>(seq) + 1), &key, forged, 200);
    REQUIRE(n >= 2);
    expected.emplace_back(n, want);
  };
  send(3002, 1, false, Reason::admitted);         // signed, its inner REGISTER admitted
  send(3002, 2, true, Reason::esp_bad_icv);       // forged
  send(3002, 1, false, Reason::esp_replayed);     // the first again
  send(4444, 1, false, Reason::esp_unknown_spi);  // nobody's SPI
  const auto v = run.go();
  std::remove(keys.c_str());
  size_t at = 0;
  for (const auto& [n, want] : expected)
    for (size_t i = 0; i < n; ++i, ++at) {
      INFO("frame " << at);
      REQUIRE(at < v.size());
      CHECK(v[at].reason == want);
    }
  CHECK(at == v.size());
}

TEST_CASE("the keys file: errors name the place, never the key", "[esp][config]") {
  const std::string secret = "00112233445566778899aabbccddeeff0011223z";  // one bad digit
  const auto error_of = [](const std::string& content) {
    const std::string path = temp_file("bad.json", content);
    const IcvVerifier verifier;
    std::string what;
    try {
      read_esp_keys(path, verifier);
    } catch (const ConfigError& e) {
      what = e.what();
    }
    std::remove(path.c_str());
    return what;
  };
  const std::string sa = R"({"destination": "198.18.0.10", "spi": 3002, "source": "198.18.5.1", )";
  std::string e = error_of(R"({"sas": [)" + sa + R"("auth": "hmac-sha-1-96", "auth_key": ")" +
                           secret + R"("}]})");
  CHECK_THAT(e, Catch::Contains("$.sas[0].auth_key: expected the key as 2 to 128 hex digits"));
  CHECK_THAT(e, !Catch::Contains("00112233"));
  e = error_of(R"({"sas": [)" + sa + R"("auth": "hmac-sha-1-96", "auth_key": 42}]})");
  CHECK_THAT(e, Catch::Contains("$.sas[0].auth_key: expected the key as"));
  CHECK_THAT(e, !Catch::Contains("42"));
  e = error_of(R"({"sas": [)" + sa + R"("auth": "des", "auth_key": "0011"}]})");
  CHECK_THAT(e, Catch::Contains("$.sas[0].auth: expected \"hmac-sha-1-96\""));
  e = error_of(R"({"sas": [{"destination": "198.18.0.10", "spi": 3002, "auth_key": "0011"}]})");
  CHECK_THAT(e, Catch::Contains("$.sas[0].source: missing"));
  e = error_of(R"({"sas": [)" + sa.substr(0, sa.size() - 2) + "}] ");
  CHECK_THAT(e, Catch::Contains("not valid JSON (the content is not shown)"));
  const IcvVerifier verifier;
  CHECK_THROWS_WITH(read_esp_keys("/nonexistent/keys.json", verifier),
                    Catch::Contains("$.esp.keys_file: cannot open /nonexistent/keys.json"));
  CHECK_THAT(test::config_error([] { parse_config_text(R"({"esp": {"replay_window": 100}})"); }),
             Catch::Contains("$.esp.replay_window: expected 64 to 256 in steps of 64"));
}

TEST_CASE("an SA deleted or gone idle has its key zeroed", "[esp][sa]") {
  test::ensure_eal();
  const KeyedHash hash(3);
  IcvVerifier verifier;
  EspSaTable table(16, 64, hash);
  table.set_idle(1000);
  const auto pcscf = test::ip(kPcscf), ue = test::ip(kUe);
  const auto keyed = [&](uint32_t spi) {
    EspSa* sa = table.learn(pcscf, spi, ue, 0);
    REQUIRE(sa);
    sa->key_states = *verifier.prepare(AuthAlgorithm::hmac_sha1_96, repeated(0x42, 20));
    sa->keyed = true;
    return sa;
  };
  const auto zero = [](const AuthKey& k) {
    return std::all_of(k.inner.begin(), k.inner.end(), [](uint8_t b) { return b == 0; }) &&
           std::all_of(k.outer.begin(), k.outer.end(), [](uint8_t b) { return b == 0; });
  };
  EspSa* a = keyed(5001);
  REQUIRE_FALSE(zero(a->key_states));
  table.erase(a);
  CHECK(zero(a->key_states));  // the slot's memory, now free
  CHECK_FALSE(table.find(pcscf, 5001));
  // A learned SA, keyed later, replaced by a new peer for its SPI: the old key goes.
  EspSa* b = keyed(5002);
  EspSa* c = table.learn(pcscf, 5002, test::ip("198.18.5.9"), 10);
  CHECK(zero(b->key_states));
  REQUIRE(c);
  CHECK_FALSE(c->keyed);
  // Idle: a learned SA goes after the idle time; an operator's keyed one stays.
  EspSa* learned = table.learn(pcscf, 5003, ue, 0);
  REQUIRE(learned);
  keyed(5004);
  for (int i = 0; i < 8; ++i) table.expire_step(5000, 16);
  CHECK_FALSE(table.find(pcscf, 5003));
  CHECK(table.find(pcscf, 5004));
}
