#include "state/familiar_prefixes.hpp"

#include <bit>

#include "state/deadline.hpp"

namespace sipshield {

FamiliarPrefixes::FamiliarPrefixes(uint32_t capacity, uint8_t ipv4_length, uint8_t ipv6_length,
                                   const KeyedHash& hash)
    : hash_(hash),
      ipv4_bits_(static_cast<uint8_t>(96 + ipv4_length)),
      ipv6_bits_(ipv6_length),
      slots_(capacity ? std::bit_ceil(uint64_t{capacity}) : 0),
      mask_(slots_.empty() ? 0 : slots_.size() - 1) {}

IpAddress FamiliarPrefixes::prefix_of(const IpAddress& address) const {
  IpAddress p = address;
  const unsigned keep = address.is_v4() ? ipv4_bits_ : ipv6_bits_;
  for (unsigned bit = keep; bit < 128; ++bit)
    p.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return p;
}

bool FamiliarPrefixes::live(const Slot& s, uint32_t now_ms) const {
  return s.in_use && before(now_ms, s.until_ms);
}

void FamiliarPrefixes::learn(const IpAddress& address, uint32_t until_ms, uint32_t now_ms) {
  if (slots_.empty()) return;
  const IpAddress prefix = prefix_of(address);
  const uint64_t h = hash_(prefix);
  Slot* victim = nullptr;
  for (unsigned i = 0; i < kProbes; ++i) {
    Slot& s = slots_[(h + i) & mask_];
    if (s.in_use && s.prefix == prefix) {
      if (before(s.until_ms, until_ms)) s.until_ms = until_ms;
      return;
    }
    // A free or expired slot, else the live one nearest its end.
    if (!victim ||
        (live(*victim, now_ms) && (!live(s, now_ms) || before(s.until_ms, victim->until_ms))))
      victim = &s;
  }
  *victim = Slot{prefix, until_ms, 1};
}

bool FamiliarPrefixes::familiar(const IpAddress& address, uint32_t now_ms) const {
  if (slots_.empty()) return false;
  const IpAddress prefix = prefix_of(address);
  const uint64_t h = hash_(prefix);
  for (unsigned i = 0; i < kProbes; ++i) {
    const Slot& s = slots_[(h + i) & mask_];
    if (s.in_use && s.prefix == prefix) return live(s, now_ms);
  }
  return false;
}

uint32_t FamiliarPrefixes::size(uint32_t now_ms) const {
  uint32_t n = 0;
  for (const Slot& s : slots_) n += live(s, now_ms);
  return n;
}

}  // namespace sipshield
