// Per-worker state of each source (IP address and UDP port): its trust, bans, demerits and
// meters, in one 64-byte entry. Memory is fixed at start; the table is keyed-hashed; expiry is a
// clock hand that visits a few entries per burst. A table either never evicts (proven sources:
// a newcomer without room is judged without state, so a flood cannot push registered users out)
// or, full, evicts its oldest one-shot entry (the probation area of first contacts: a forged
// flood of any size costs fixed memory and pushes out only its own kind first).
// Cost (the source stage: lookup or insert and the ban check; scripts/bench.sh --json, 2026-12-02,
// one worker, 2.1 GHz EPYC VM): 26 cycles a frame for 1,024 repeating sources, 82 for 65,536 banned
// ones (cache misses).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/deadline.hpp"
#include "core/ip_address.hpp"
#include "core/keyed_hash.hpp"
#include "state/chained_pool.hpp"

namespace sipshield {

// Method classes metered separately (requests by method, then every response).
enum class MethodClass : uint8_t { register_, invite, options, other, response, count };
inline constexpr size_t kMethodClasses = static_cast<size_t>(MethodClass::count);

struct SourceKey {
  IpAddress ip;
  uint16_t port = 0;
  uint8_t pad[6] = {};
  friend bool operator==(const SourceKey&, const SourceKey&) = default;
};
static_assert(sizeof(SourceKey) == 24);

// What an address's aggregate entry (port 0) counts in place of demerits, within its window:
// first messages from source ports new to the table, and messages from ports that came back.
struct PortCounts {
  uint8_t fresh;
  uint8_t returning;
};

// Times are milliseconds of the worker's clock (uint32: about 49 days; differences wrap safely).
struct alignas(64) SourceEntry {
  IpAddress ip;         // 16
  uint16_t port;        // 2
  union {               // 2
    uint16_t demerits;  // a source: within the current window
    PortCounts ports;   // an address (port 0): never demerited, never trusted or banned
  };
  uint32_t next;               // 4: hash chain
  uint32_t last_seen_ms;       // 4
  uint32_t trusted_until_ms;   // 4: 0 = never trusted
  uint32_t banned_until_ms;    // 4: 0 = not banned
  uint32_t demerit_window_ms;  // 4: start of the demerit window (of `ports`, for an address)
  uint32_t meter_ms;           // 4: when the buckets were last filled
  uint32_t nonce_hash;         // 4: the last nonce the server challenged this source with, or a
                               //    mark that it refused the source (403)
  std::array<uint16_t, kMethodClasses> tokens;  // 10: per class, in 1/64 token units
  uint8_t in_use;                               // 1
  uint8_t messages;                             // 1: messages seen, saturating at 255
  uint32_t first_seen_ms;                       // 4: its pace is messages over its age
};
static_assert(sizeof(SourceEntry) == 64, "a source entry is one cache line");

// What a full table does with a new source: refuse it (counted), or evict the oldest entry that
// saw one message and no challenge (else the oldest neither trusted nor banned; counted).
enum class WhenFull : uint8_t { refuse, evict };

class SourceTable {
 public:
  // `stray_idle_ms`: how long an entry that saw one message and no challenge (a spoofed or
  // one-off source) is kept idle; others are kept `idle_ms`.
  SourceTable(uint32_t capacity, uint32_t idle_ms, uint32_t stray_idle_ms, const KeyedHash& hash,
              WhenFull when_full = WhenFull::refuse)
      : hash_(hash),
        idle_ms_(idle_ms),
        stray_idle_ms_(stray_idle_ms),
        when_full_(when_full),
        pool_(capacity) {}

  // A reload's idle times (the entries stay).
  void set_idle(uint32_t idle_ms, uint32_t stray_idle_ms) {
    idle_ms_ = idle_ms;
    stray_idle_ms_ = stray_idle_ms;
  }
  uint64_t hash_of(const SourceKey& key) const { return hash_(key); }
  uint64_t hash_of_entry(const SourceEntry& e) const {
    return hash_of(SourceKey{e.ip, e.port, {}});
  }
  SourceEntry* find(const SourceKey& key) { return find(key, hash_of(key)); }
  SourceEntry* find(const SourceKey& key, uint64_t hash) {
    if (pool_.capacity() == 0) return nullptr;
    return pool_.find(hash, [&](const SourceEntry& e) { return matches(e, key); });
  }
  // The entry, created if absent; nullptr when the table is full and may not evict.
  SourceEntry* find_or_insert(const SourceKey& key, uint32_t now_ms) {
    return find_or_insert(key, hash_of(key), now_ms);
  }
  // With the hash already computed (bulk lookups: see prefetch_bucket).
  SourceEntry* find_or_insert(const SourceKey& key, uint64_t hash, uint32_t now_ms);
  void prefetch_bucket(uint64_t hash) const { pool_.prefetch_bucket(hash); }
  void prefetch_entry(uint64_t hash) const { pool_.prefetch_entry(hash); }
  // Visits up to `budget` entries; frees those neither trusted nor banned at `now_ms` that were
  // idle longer than idle_ms (stray_idle_ms for one message without a challenge).
  void expire_step(uint32_t now_ms, unsigned budget);
  // Frees `e`, an entry of this table (it moved to another).
  void erase(SourceEntry* e) { pool_.erase(e, hash_of_entry(*e)); }
  bool owns(const SourceEntry* e) const { return pool_.owns(e); }
  template <class Visit>
  void for_each(Visit&& visit) {
    pool_.for_each(visit);
  }

  uint32_t size() const { return pool_.size(); }
  uint32_t capacity() const { return pool_.capacity(); }
  uint64_t insert_failures() const { return pool_.insert_failures(); }
  uint64_t evictions() const { return pool_.evictions(); }

 private:
  static constexpr unsigned kExpiryPerInsert = 4;  // entries visited per insertion
  static constexpr unsigned kExpiryWhenFull = 64;
  static constexpr unsigned kEvictionLook = 8;  // entries an eviction looks at for a one-shot
  static bool matches(const SourceEntry& e, const SourceKey& key) {
    return e.port == key.port && e.ip == key.ip;
  }

  const KeyedHash& hash_;
  uint32_t idle_ms_;
  uint32_t stray_idle_ms_;
  WhenFull when_full_;
  ChainedPool<SourceEntry> pool_;
};

}  // namespace sipshield
