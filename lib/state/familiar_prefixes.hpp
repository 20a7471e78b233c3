// Address prefixes that have produced trusted users: history-based IP filtering (Peng, Leckie
// and Ramamohanarao, 2003). A first contact from one of them is likelier a new subscriber than
// a forged source, because a flood that forges random addresses rarely falls inside the few
// prefixes real users come from. Per worker, fixed memory, keyed hashing, open addressing over
// a few slots. It is a cache: when those slots are taken, the entry nearest its end gives way.
#pragma once

#include <cstdint>
#include <vector>

#include "packet/ip_address.hpp"
#include "state/keyed_hash.hpp"

namespace sipshield {

class FamiliarPrefixes {
 public:
  // `capacity` 0 turns the memory off. Lengths: of the IPv4 prefix (within its 32 bits) and of
  // the IPv6 one.
  FamiliarPrefixes(uint32_t capacity, uint8_t ipv4_length, uint8_t ipv6_length,
                   const KeyedHash& hash);

  // The prefix of `address` is familiar until `until_ms` (or later, if it already was).
  void learn(const IpAddress& address, uint32_t until_ms, uint32_t now_ms);
  bool familiar(const IpAddress& address, uint32_t now_ms) const;
  uint32_t size(uint32_t now_ms) const;

 private:
  struct Slot {
    IpAddress prefix;       // 16
    uint32_t until_ms = 0;  // 4
    uint32_t in_use = 0;    // 4
  };
  static_assert(sizeof(Slot) == 24);
  static constexpr unsigned kProbes = 8;

  IpAddress prefix_of(const IpAddress& address) const;
  bool live(const Slot& s, uint32_t now_ms) const;

  const KeyedHash& hash_;
  uint8_t ipv4_bits_, ipv6_bits_;  // bits kept of the 128-bit (v4-mapped) address
  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
};

}  // namespace sipshield
