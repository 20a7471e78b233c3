// ESP building blocks: the RFC 4303 anti-replay window and ICV verification with Intel
// IPsec-MB against published HMAC vectors (RFC 2202, RFC 4231), truncated as ESP uses them.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "esp/icv.hpp"
#include "esp/replay_window.hpp"

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
