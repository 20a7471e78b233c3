// Per-worker state of each source (IP address and UDP port): its trust, bans, demerits and
// meters, in one 64-byte entry. Memory is fixed at start; the table is keyed-hashed; expiry is a
// clock hand that visits a few entries per burst. A full table never evicts: a newcomer without
// room is judged without state (under the untrusted budget), so a spoofed flood cannot push
// registered users out.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "packet/ip_address.hpp"
#include "state/keyed_hash.hpp"

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

// Times are milliseconds of the worker's clock (uint32: about 49 days; differences wrap safely).
struct alignas(64) SourceEntry {
  IpAddress ip;                // 16
  uint16_t port;               // 2
  uint16_t demerits;           // 2: within the current window
  uint32_t next;               // 4: hash chain
  uint32_t last_seen_ms;       // 4
  uint32_t trusted_until_ms;   // 4: 0 = never trusted
  uint32_t banned_until_ms;    // 4: 0 = not banned
  uint32_t demerit_window_ms;  // 4: start of the demerit window
  uint32_t meter_ms;           // 4: when the buckets were last filled
  uint32_t nonce_hash;         // 4: the last nonce the server challenged this source with, or a
                               //    mark that it refused the source (403)
  std::array<uint16_t, kMethodClasses> tokens;  // 10: per class, in 1/64 token units
  uint8_t in_use;                               // 1
  uint8_t messages;                             // 1: messages seen, saturating at 255
  uint32_t first_seen_ms;                       // 4: its pace is messages over its age
};
static_assert(sizeof(SourceEntry) == 64, "a source entry is one cache line");

class SourceTable {
 public:
  // `stray_idle_ms`: how long an entry that saw one message and no challenge (a spoofed or
  // one-off source) is kept idle; others are kept `idle_ms`.
  SourceTable(uint32_t capacity, uint32_t idle_ms, uint32_t stray_idle_ms, const KeyedHash& hash);

  SourceEntry* find(const SourceKey& key);
  // The entry, created if absent; nullptr when the table is full.
  SourceEntry* find_or_insert(const SourceKey& key, uint32_t now_ms) {
    return find_or_insert(key, hash_of(key), now_ms);
  }
  // Bulk lookups, as rte_hash does them: hash every key of a burst and prefetch its bucket, then
  // prefetch the entries the buckets lead to, then look up with the hash already computed.
  uint64_t hash_of(const SourceKey& key) const { return hash_(key); }
  void prefetch_bucket(uint64_t hash) const { __builtin_prefetch(&buckets_[hash & bucket_mask_]); }
  void prefetch_entry(uint64_t hash) const {
    const uint32_t i = buckets_[hash & bucket_mask_];
    if (i != kNone) __builtin_prefetch(&entries_[i]);
  }
  SourceEntry* find_or_insert(const SourceKey& key, uint64_t hash, uint32_t now_ms);
  // Visits up to `budget` entries; frees those idle longer than idle_ms (stray_idle_ms for one
  // message without a challenge) that are neither
  // trusted nor banned at `now_ms`.
  void expire_step(uint32_t now_ms, unsigned budget);

  uint32_t size() const { return size_; }
  uint32_t capacity() const { return static_cast<uint32_t>(entries_.size()); }
  uint64_t insert_failures() const { return insert_failures_; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr unsigned kExpiryPerInsert = 4;  // entries visited per insertion
  static constexpr unsigned kExpiryWhenFull = 64;
  void unlink(uint32_t index);

  const KeyedHash& hash_;
  uint32_t idle_ms_;
  uint32_t stray_idle_ms_;
  std::vector<SourceEntry> entries_;
  std::vector<uint32_t> buckets_;
  uint64_t bucket_mask_;
  uint32_t free_head_ = kNone;
  uint32_t size_ = 0;
  uint32_t hand_ = 0;  // expiry clock hand
  uint64_t insert_failures_ = 0;
};

// Has time `t` passed `deadline`, on a wrapping millisecond clock?
inline bool before(uint32_t t, uint32_t deadline) {
  return static_cast<int32_t>(t - deadline) < 0;
}

}  // namespace sipshield
