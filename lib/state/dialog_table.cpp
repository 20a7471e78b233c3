#include "state/dialog_table.hpp"

#include <algorithm>
#include <cstring>

#include "core/deadline.hpp"

namespace sipshield {

DialogTable::DialogTable(uint32_t capacity, const KeyedHash& hash) : hash_(hash), pool_(capacity) {}

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
  DialogEntry* e = pool_.find(hash_(key), [&](const DialogEntry& x) { return x.key == key; });
  return e && before(now_ms, e->expires_ms) ? e : nullptr;
}

DialogEntry* DialogTable::touch(const DialogKey& key, uint32_t now_ms, uint32_t lifetime_ms) {
  const uint64_t hash = hash_(key);
  const uint32_t until = now_ms + lifetime_ms;
  if (DialogEntry* e = pool_.find(hash, [&](const DialogEntry& x) { return x.key == key; })) {
    if (!before(now_ms, e->expires_ms) || before(e->expires_ms, until)) e->expires_ms = until;
    return e;
  }
  DialogEntry* e = pool_.insert(hash);
  if (!e) return nullptr;
  e->key = key;
  e->expires_ms = until;
  return e;
}

void DialogTable::end(const DialogKey& key, uint32_t now_ms, uint32_t linger_ms) {
  DialogEntry* e = pool_.find(hash_(key), [&](const DialogEntry& x) { return x.key == key; });
  const uint32_t until = now_ms + linger_ms;
  if (e && before(until, e->expires_ms)) e->expires_ms = until;
}

void DialogTable::expire_step(uint32_t now_ms, unsigned budget) {
  pool_.sweep(
      budget, [&](const DialogEntry& e) { return !before(now_ms, e.expires_ms); },
      [&](const DialogEntry& e) { return hash_(e.key); });
}

}  // namespace sipshield
