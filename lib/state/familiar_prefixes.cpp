#include "state/familiar_prefixes.hpp"

#include <bit>

#include "core/deadline.hpp"

namespace sipshield {
namespace {

constexpr uint32_t fingerprint_of(uint64_t word) {
  return static_cast<uint32_t>(word >> 32);
}
constexpr uint32_t until_of(uint64_t word) {
  return static_cast<uint32_t>(word);
}
constexpr uint64_t pack(uint32_t fingerprint, uint32_t until_ms) {
  return uint64_t{fingerprint} << 32 | until_ms;
}
bool live(uint64_t word, uint32_t now_ms) {
  return word && before(now_ms, until_of(word));
}

}  // namespace

FamiliarPrefixes::FamiliarPrefixes(uint32_t capacity, uint8_t ipv4_length, uint8_t ipv6_length,
                                   const KeyedHash& hash)
    : hash_(hash),
      ipv4_bits_(static_cast<uint8_t>(96 + ipv4_length)),
      ipv6_bits_(ipv6_length),
      slots_(capacity ? std::bit_ceil(uint64_t{capacity}) : 0),
      mask_(slots_.empty() ? 0 : slots_.size() - 1) {}

FamiliarPrefixes::Key FamiliarPrefixes::key_of(const IpAddress& address) const {
  const uint64_t h = hash_(address.masked(address.is_v4() ? ipv4_bits_ : ipv6_bits_));
  // The slot from the low bits, the fingerprint from the high ones: independent of each other.
  const auto fingerprint = static_cast<uint32_t>(h >> 32);
  return {h, fingerprint ? fingerprint : 1};
}

void FamiliarPrefixes::learn(const IpAddress& address, uint32_t until_ms, uint32_t now_ms) {
  if (slots_.empty()) return;
  const Key key = key_of(address);
  Slot* victim = nullptr;
  uint64_t victim_word = 0;
  for (unsigned i = 0; i < kProbes; ++i) {
    Slot& s = slots_[(key.index + i) & mask_];
    const uint64_t word = s.load(std::memory_order_relaxed);
    if (word && fingerprint_of(word) == key.fingerprint) {
      if (before(until_of(word), until_ms))
        s.store(pack(key.fingerprint, until_ms), std::memory_order_relaxed);
      return;
    }
    // A free or expired slot, else the live one nearest its end.
    if (!victim || (live(victim_word, now_ms) &&
                    (!live(word, now_ms) || before(until_of(word), until_of(victim_word))))) {
      victim = &s;
      victim_word = word;
    }
  }
  victim->store(pack(key.fingerprint, until_ms), std::memory_order_relaxed);
}

bool FamiliarPrefixes::familiar(const IpAddress& address, uint32_t now_ms) const {
  if (slots_.empty()) return false;
  const Key key = key_of(address);
  for (unsigned i = 0; i < kProbes; ++i) {
    const uint64_t word = slots_[(key.index + i) & mask_].load(std::memory_order_relaxed);
    if (word && fingerprint_of(word) == key.fingerprint) return live(word, now_ms);
  }
  return false;
}

uint32_t FamiliarPrefixes::size(uint32_t now_ms) const {
  uint32_t n = 0;
  for (const Slot& s : slots_) n += live(s.load(std::memory_order_relaxed), now_ms);
  return n;
}

}  // namespace sipshield
