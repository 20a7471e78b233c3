#include "state/dialog_table.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "state/source_table.hpp"

namespace sipshield {

DialogTable::DialogTable(uint32_t capacity, const KeyedHash& hash)
    : hash_(hash), entries_(capacity) {
  buckets_.assign(std::bit_ceil(uint64_t{capacity} * 2), kNone);
  bucket_mask_ = buckets_.size() - 1;
  for (uint32_t i = 0; i < capacity; ++i) {
    entries_[i] = DialogEntry{};
    entries_[i].next = i + 1 < capacity ? i + 1 : kNone;
  }
  free_head_ = capacity ? 0 : kNone;
}

uint64_t DialogTable::call_id_hash(std::string_view call_id) const {
  // Keyed and chained: each block is the previous hash and the next 56 bytes of the Call-ID.
  uint64_t h = call_id.size();
  uint8_t block[KeyedHash::kMaxKeyBytes];
  size_t at = 0;
  do {
    std::memset(block, 0, sizeof block);
    std::memcpy(block, &h, sizeof h);
    const size_t n = std::min(sizeof block - sizeof h, call_id.size() - at);
    std::memcpy(block + sizeof h, call_id.data() + at, n);
    h = hash_(block, sizeof block);
    at += n;
  } while (at < call_id.size());
  return h;
}

DialogEntry* DialogTable::find(const DialogKey& key, uint32_t now_ms) {
  for (uint32_t i = buckets_[hash_(key) & bucket_mask_]; i != kNone; i = entries_[i].next) {
    DialogEntry& e = entries_[i];
    if (e.key == key) return before(now_ms, e.expires_ms) ? &e : nullptr;
  }
  return nullptr;
}

DialogEntry* DialogTable::touch(const DialogKey& key, uint32_t now_ms, uint32_t lifetime_ms) {
  uint32_t& bucket = buckets_[hash_(key) & bucket_mask_];
  for (uint32_t i = bucket; i != kNone; i = entries_[i].next) {
    DialogEntry& e = entries_[i];
    if (e.key == key) {
      const uint32_t until = now_ms + lifetime_ms;
      if (!before(now_ms, e.expires_ms) || before(e.expires_ms, until)) e.expires_ms = until;
      return &e;
    }
  }
  if (free_head_ == kNone) {
    ++insert_failures_;
    return nullptr;
  }
  const uint32_t index = free_head_;
  DialogEntry& e = entries_[index];
  free_head_ = e.next;
  e = DialogEntry{};
  e.key = key;
  e.in_use = 1;
  e.expires_ms = now_ms + lifetime_ms;
  e.next = bucket;
  bucket = index;
  ++size_;
  return &e;
}

void DialogTable::unlink(uint32_t index) {
  DialogEntry& e = entries_[index];
  uint32_t* link = &buckets_[hash_(e.key) & bucket_mask_];
  while (*link != index) link = &entries_[*link].next;
  *link = e.next;
  e.in_use = 0;
  e.next = free_head_;
  free_head_ = index;
  --size_;
}

void DialogTable::expire_step(uint32_t now_ms, unsigned budget) {
  if (entries_.empty()) return;
  while (budget-- > 0) {
    const uint32_t i = hand_;
    hand_ = hand_ + 1 == entries_.size() ? 0 : hand_ + 1;
    if (entries_[i].in_use && !before(now_ms, entries_[i].expires_ms)) unlink(i);
  }
}

}  // namespace sipshield
