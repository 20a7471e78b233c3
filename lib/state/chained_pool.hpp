// The storage every per-worker table shares: entries allocated once at start, a free list,
// buckets chained through Entry::next, and a clock hand that visits a few entries per call for
// expiry. The owning table hashes its keys and says what matches and what may be freed; a full
// pool refuses new entries (counted) unless its owner evicts one first (evict_one).
#pragma once

#include <bit>
#include <cstdint>
#include <vector>

#include "core/counter.hpp"
#include "core/table_memory.hpp"

namespace sipshield {

// Entry: default-constructible, with `uint32_t next` and an integral `in_use`.
template <class Entry>
class ChainedPool {
 public:
  explicit ChainedPool(uint32_t capacity)
      : entries_(capacity), buckets_(std::bit_ceil(uint64_t{capacity} * 2), kNone) {
    bucket_mask_ = buckets_.size() - 1;
    for (uint32_t i = 0; i < capacity; ++i) entries_[i].next = i + 1 < capacity ? i + 1 : kNone;
    free_head_ = capacity ? 0 : kNone;
  }

  // The first entry of `hash`'s chain for which match(entry) holds, or null.
  template <class Match>
  Entry* find(uint64_t hash, Match&& match) {
    for (uint32_t i = buckets_[hash & bucket_mask_]; i != kNone; i = entries_[i].next)
      if (match(entries_[i])) return &entries_[i];
    return nullptr;
  }
  // A fresh entry (value-initialised, in use) chained under `hash`; null, counted, when full.
  Entry* insert(uint64_t hash) {
    if (free_head_ == kNone) {
      bump(insert_failures_);
      return nullptr;
    }
    const uint32_t index = free_head_;
    Entry& e = entries_[index];
    free_head_ = e.next;
    e = Entry{};
    e.in_use = 1;
    uint32_t& bucket = buckets_[hash & bucket_mask_];
    e.next = bucket;
    bucket = index;
    write(size_, size_ + 1);
    return &e;
  }
  // Visits up to `budget` entries; frees each in use for which expired(entry) holds.
  // hash_of(entry) gives the hash it was inserted under.
  template <class Expired, class HashOf>
  void sweep(unsigned budget, Expired&& expired, HashOf&& hash_of) {
    if (entries_.empty()) return;
    while (budget-- > 0) {
      const uint32_t i = hand_;
      hand_ = hand_ + 1 == entries_.size() ? 0 : hand_ + 1;
      if (entries_[i].in_use && expired(entries_[i])) unlink(i, hash_of(entries_[i]));
    }
  }

  // Frees one entry of a full pool: among the next `look` entries from the clock hand, the first
  // for which prefer(entry) holds, else the first for which allowed(entry) holds. Once the pool
  // is full, each slot is refilled as the hand leaves it, so the hand points at the oldest
  // insertions: eviction is first in, first out. False (nothing freed) if none may go.
  template <class Prefer, class Allowed, class HashOf>
  bool evict_one(unsigned look, Prefer&& prefer, Allowed&& allowed, HashOf&& hash_of) {
    uint32_t fallback = kNone;
    for (unsigned n = 0; n < look && !entries_.empty(); ++n) {
      const uint32_t i = hand_;
      hand_ = hand_ + 1 == entries_.size() ? 0 : hand_ + 1;
      if (!entries_[i].in_use) continue;
      if (prefer(entries_[i])) {
        fallback = i;
        break;
      }
      if (fallback == kNone && allowed(entries_[i])) fallback = i;
    }
    if (fallback == kNone) return false;
    unlink(fallback, hash_of(entries_[fallback]));
    write(evictions_, evictions_ + 1);
    return true;
  }
  // Calls visit(entry) for every entry in use (control operations between bursts, not the fast
  // path: it walks the whole pool).
  template <class Visit>
  void for_each(Visit&& visit) {
    for (Entry& e : entries_)
      if (e.in_use) visit(e);
  }
  // Frees `e`, an entry of this pool inserted under `hash`.
  void erase(Entry* e, uint64_t hash) { unlink(static_cast<uint32_t>(e - entries_.data()), hash); }
  bool owns(const Entry* e) const {
    return e >= entries_.data() && e < entries_.data() + entries_.size();
  }

  // Bulk lookups, as rte_hash does them: prefetch a burst's buckets, then the entries they lead
  // to, then look up.
  void prefetch_bucket(uint64_t hash) const { __builtin_prefetch(&buckets_[hash & bucket_mask_]); }
  void prefetch_entry(uint64_t hash) const {
    const uint32_t i = buckets_[hash & bucket_mask_];
    if (i != kNone) __builtin_prefetch(&entries_[i]);
  }

  bool full() const { return free_head_ == kNone; }
  // Readable by the main lcore while the owning worker runs (the stats line).
  uint32_t size() const { return read(size_); }
  uint32_t capacity() const { return static_cast<uint32_t>(entries_.size()); }
  uint64_t insert_failures() const { return read(insert_failures_); }
  uint64_t evictions() const { return read(evictions_); }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  void unlink(uint32_t index, uint64_t hash) {
    Entry& e = entries_[index];
    uint32_t* link = &buckets_[hash & bucket_mask_];
    while (*link != index) link = &entries_[*link].next;
    *link = e.next;
    e.in_use = 0;
    e.next = free_head_;
    free_head_ = index;
    write(size_, size_ - 1);
  }

  TableVector<Entry> entries_;
  TableVector<uint32_t> buckets_;
  uint64_t bucket_mask_ = 0;
  uint32_t free_head_ = kNone;
  uint32_t size_ = 0;
  uint32_t hand_ = 0;
  uint64_t insert_failures_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace sipshield
