// Keyed hashing for every table an attacker can fill. NH (the UMAC/VMAC inner hash) over 64-bit
// words with a secret drawn at start: for two distinct keys a collision has probability <= 2^-32
// over the secret, so a flood cannot be aimed at one bucket. A final mix spreads NH's output to
// the low bits that bucket indices use. About 2 cycles per 8 key bytes.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <random>

namespace sipshield {

class KeyedHash {
 public:
  static constexpr std::size_t kMaxKeyBytes = 64;

  // A fresh secret from the OS (getrandom), drawn at start-up (the daemon draws one per start
  // and shares it read-only between workers).
  KeyedHash() {
    std::random_device rd;
    for (auto& word : secret_) word = (uint64_t{rd()} << 32) | rd();
  }
  explicit KeyedHash(uint64_t seed) {
    std::mt19937_64 gen(seed);  // tests only: repeatable secrets
    for (auto& word : secret_) word = gen();
  }

  // `bytes` must be a multiple of 8 and at most kMaxKeyBytes (keys are padded structs).
  uint64_t operator()(const void* key, std::size_t bytes) const {
    uint64_t sum = 0;
    const auto* p = static_cast<const uint8_t*>(key);
    for (std::size_t i = 0; i < bytes / 8; ++i) {
      uint64_t word;
      std::memcpy(&word, p + 8 * i, 8);
      const uint32_t lo = static_cast<uint32_t>(word) + static_cast<uint32_t>(secret_[i]);
      const uint32_t hi =
          static_cast<uint32_t>(word >> 32) + static_cast<uint32_t>(secret_[i] >> 32);
      sum += uint64_t{lo} * hi;
    }
    return mix(sum ^ secret_[kWords]);
  }

  template <class Key>
  uint64_t operator()(const Key& key) const {
    static_assert(sizeof(Key) % 8 == 0 && sizeof(Key) <= kMaxKeyBytes);
    return (*this)(&key, sizeof(Key));
  }

 private:
  static constexpr std::size_t kWords = kMaxKeyBytes / 8;
  static uint64_t mix(uint64_t x) {  // murmur3 fmix64
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
  }
  std::array<uint64_t, kWords + 1> secret_{};
};

}  // namespace sipshield
