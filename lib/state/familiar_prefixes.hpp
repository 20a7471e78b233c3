// Address prefixes that have produced trusted users: history-based IP filtering (Peng, Leckie
// and Ramamohanarao, 2003). A first contact from one of them is likelier a new subscriber than
// a forged source, because a flood that forges random addresses rarely falls inside the few
// prefixes real users come from. Fixed memory, keyed hashing, open addressing over a few slots.
// It is a cache: when those slots are taken, the entry nearest its end gives way.
//
// One table serves every worker of the daemon: RSS spreads the users of one prefix over all
// workers, and a prefix learned from a user on one must count for a newcomer on another. Each
// slot is one 64-bit word, a keyed 32-bit fingerprint of the prefix and its end, read and
// written whole with relaxed atomics: no lock, and the worst a race between two workers costs
// is one answer as of a moment earlier. A fingerprint can collide (8 slots probed: about 2 in a
// billion lookups), and the key is secret, so an attacker cannot aim at one.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "core/ip_address.hpp"
#include "core/keyed_hash.hpp"
#include "core/table_memory.hpp"

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
  static constexpr unsigned kProbes = 8;
  // fingerprint << 32 | until_ms; 0 is free (a fingerprint is never 0)
  using Slot = std::atomic<uint64_t>;
  static_assert(Slot::is_always_lock_free);

  struct Key {
    uint64_t index;
    uint32_t fingerprint;  // never 0
  };
  Key key_of(const IpAddress& address) const;

  const KeyedHash& hash_;
  uint8_t ipv4_bits_, ipv6_bits_;  // bits kept of the 128-bit (v4-mapped) address
  TableVector<Slot> slots_;
  uint64_t mask_ = 0;
};

}  // namespace sipshield
