#include "state/source_table.hpp"

#include <bit>
#include <cstring>

namespace sipshield {

SourceTable::SourceTable(uint32_t capacity, uint32_t idle_ms, uint32_t stray_idle_ms,
                         const KeyedHash& hash)
    : hash_(hash), idle_ms_(idle_ms), stray_idle_ms_(stray_idle_ms), entries_(capacity) {
  buckets_.assign(std::bit_ceil(uint64_t{capacity} * 2), kNone);
  bucket_mask_ = buckets_.size() - 1;
  for (uint32_t i = 0; i < capacity; ++i) {
    entries_[i] = SourceEntry{};
    entries_[i].next = i + 1 < capacity ? i + 1 : kNone;
  }
  free_head_ = capacity ? 0 : kNone;
}

SourceEntry* SourceTable::find(const SourceKey& key) {
  for (uint32_t i = buckets_[hash_of(key) & bucket_mask_]; i != kNone; i = entries_[i].next)
    if (entries_[i].port == key.port && entries_[i].ip == key.ip) return &entries_[i];
  return nullptr;
}

SourceEntry* SourceTable::find_or_insert(const SourceKey& key, uint64_t hash, uint32_t now_ms) {
  uint32_t& bucket = buckets_[hash & bucket_mask_];
  for (uint32_t i = bucket; i != kNone; i = entries_[i].next)
    if (entries_[i].port == key.port && entries_[i].ip == key.ip) return &entries_[i];
  // Each insertion pays for expiry: a flood of new sources moves the clock hand as fast as it
  // takes entries, so stray ones come back in time. A full table gets one larger try.
  expire_step(now_ms, kExpiryPerInsert);
  if (free_head_ == kNone) expire_step(now_ms, kExpiryWhenFull);
  if (free_head_ == kNone) {
    ++insert_failures_;
    return nullptr;
  }
  const uint32_t index = free_head_;
  SourceEntry& e = entries_[index];
  free_head_ = e.next;
  e = SourceEntry{};
  e.ip = key.ip;
  e.port = key.port;
  e.in_use = 1;
  e.last_seen_ms = e.meter_ms = e.demerit_window_ms = e.first_seen_ms = now_ms;
  e.tokens.fill(UINT16_MAX);  // full buckets: the profile's burst caps them on first use
  e.next = bucket;
  bucket = index;
  ++size_;
  return &e;
}

void SourceTable::unlink(uint32_t index) {
  SourceEntry& e = entries_[index];
  SourceKey key{e.ip, e.port, {}};
  uint32_t* link = &buckets_[hash_of(key) & bucket_mask_];
  while (*link != index) link = &entries_[*link].next;
  *link = e.next;
  e.in_use = 0;
  e.next = free_head_;
  free_head_ = index;
  --size_;
}

void SourceTable::expire_step(uint32_t now_ms, unsigned budget) {
  if (entries_.empty()) return;
  while (budget-- > 0) {
    const uint32_t i = hand_;
    hand_ = hand_ + 1 == entries_.size() ? 0 : hand_ + 1;
    const SourceEntry& e = entries_[i];
    if (!e.in_use) continue;
    const bool trusted = e.trusted_until_ms && before(now_ms, e.trusted_until_ms);
    const bool banned = e.banned_until_ms && before(now_ms, e.banned_until_ms);
    // One message and no challenge: a spoofed or one-off source, not worth a slot for long.
    const uint32_t idle = e.messages <= 1 && e.nonce_hash == 0 ? stray_idle_ms_ : idle_ms_;
    if (!trusted && !banned && now_ms - e.last_seen_ms >= idle) unlink(i);
  }
}

}  // namespace sipshield
