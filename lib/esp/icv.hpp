// ESP integrity check values (RFC 4303 2.8) verified with Intel IPsec-MB's multi-buffer manager:
// a burst's checks are submitted together, so the library hashes several packets in the lanes of
// one SIMD register at once, then flushed. HMAC-SHA-1-96 and HMAC-MD5-96 as TS 33.203 requires,
// HMAC-SHA-256-128 where configured. Keys are kept only as the HMAC's inner and outer states
// (what IPsec-MB takes), never as the key itself, and are wiped when dropped.
// Cost (sipshield-bench-esp, 2026-12-02, one core of the 2.1 GHz EPYC VM, bursts of 32):
// HMAC-SHA-1-96 over 700 bytes, 367 cycles a check (3,028 one at a time).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

struct IMB_MGR;

namespace sipshield {

enum class AuthAlgorithm : uint8_t { none, hmac_sha1_96, hmac_md5_96, hmac_sha256_128 };

// "hmac-sha-1-96", "hmac-md5-96" (RFC 3329 / TS 33.203 alg values), "hmac-sha-256-128".
std::optional<AuthAlgorithm> auth_algorithm_from_name(std::string_view name);
std::string_view auth_algorithm_name(AuthAlgorithm a);
// Bytes of the ICV at the end of an ESP packet.
size_t icv_length(AuthAlgorithm a);

// An SA's authentication key, as the HMAC's precomputed inner and outer hash states.
struct AuthKey {
  AuthAlgorithm algorithm = AuthAlgorithm::none;
  alignas(16) std::array<uint8_t, 32> inner{};
  alignas(16) std::array<uint8_t, 32> outer{};
  void wipe();  // zeroes the states (explicit_bzero: never optimised away)
};

class IcvVerifier {
 public:
  static constexpr size_t kMaxBatch = 64;
  static constexpr size_t kMaxKeyBytes = 64;  // one hash block; TS 33.203 keys are 16-20 bytes

  IcvVerifier();  // throws std::runtime_error when IPsec-MB cannot start
  ~IcvVerifier();
  IcvVerifier(const IcvVerifier&) = delete;
  IcvVerifier& operator=(const IcvVerifier&) = delete;

  // The states of `key` for `algorithm`; nullopt for a key longer than one hash block or empty.
  std::optional<AuthKey> prepare(AuthAlgorithm algorithm, std::span<const uint8_t> key) const;

  struct Check {
    const AuthKey* key;
    const uint8_t* data;  // from the ESP header to the Next Header byte: what the ICV covers
    uint32_t length;
    const uint8_t* icv;  // icv_length(key->algorithm) bytes
    bool ok;             // set by verify
  };
  // Multi-buffer: every check submitted, then the manager flushed (at most kMaxBatch).
  void verify(std::span<Check> checks);
  // One at a time: submit and flush each (the benchmark's reference).
  bool verify_one(Check& check);
  // The truncated tag of `data` (tests: published HMAC vectors).
  void compute(const AuthKey& key, const uint8_t* data, size_t length, uint8_t* tag);

 private:
  void submit(const AuthKey& key, const uint8_t* data, size_t length, uint8_t* tag, void* user);
  IMB_MGR* mgr_;
  std::array<std::array<uint8_t, 32>, kMaxBatch> tags_{};
};

}  // namespace sipshield
