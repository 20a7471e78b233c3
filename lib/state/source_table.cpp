#include "state/source_table.hpp"

namespace sipshield {

namespace {

// Trusted or banned now: such an entry is neither expired nor evicted.
bool holds_state(const SourceEntry& e, uint32_t now_ms) {
  return (e.trusted_until_ms && before(now_ms, e.trusted_until_ms)) ||
         (e.banned_until_ms && before(now_ms, e.banned_until_ms));
}

// One message and no challenge: a spoofed or one-off source, the first to go.
bool one_shot(const SourceEntry& e) {
  return e.messages <= 1 && e.nonce_hash == 0;
}

}  // namespace

SourceEntry* SourceTable::find_or_insert(const SourceKey& key, uint64_t hash, uint32_t now_ms) {
  if (SourceEntry* e = find(key, hash)) return e;
  // Each insertion pays for expiry: a flood of new sources moves the clock hand as fast as it
  // takes entries, so stray ones come back in time. A full table gets one larger try.
  expire_step(now_ms, kExpiryPerInsert);
  if (pool_.full()) expire_step(now_ms, kExpiryWhenFull);
  if (pool_.full() && when_full_ == WhenFull::evict) {
    pool_.evict_one(
        kEvictionLook, [&](const SourceEntry& e) { return one_shot(e) && !holds_state(e, now_ms); },
        [&](const SourceEntry& e) { return !holds_state(e, now_ms); },
        [&](const SourceEntry& e) { return hash_of_entry(e); });
  }
  SourceEntry* e = pool_.insert(hash);
  if (!e) return nullptr;
  e->ip = key.ip;
  e->port = key.port;
  e->last_seen_ms = e->meter_ms = e->demerit_window_ms = e->first_seen_ms = now_ms;
  e->tokens.fill(UINT16_MAX);  // full buckets: the profile's burst caps them on first use
  return e;
}

void SourceTable::expire_step(uint32_t now_ms, unsigned budget) {
  pool_.sweep(
      budget,
      [&](const SourceEntry& e) {
        // A one-shot entry is not worth a slot for long.
        const uint32_t idle = one_shot(e) ? stray_idle_ms_ : idle_ms_;
        return !holds_state(e, now_ms) && now_ms - e.last_seen_ms >= idle;
      },
      [&](const SourceEntry& e) { return hash_of_entry(e); });
}

}  // namespace sipshield
