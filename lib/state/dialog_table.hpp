// Per-worker memory of transactions and dialogs, one leg at a time: a Call-ID seen between a
// client address and the protected servers. With symmetric IP-only RSS both directions of a
// client-server leg reach the same worker, so the worker that sees the server's INVITE to a
// callee is the one that sees the callee's answers. Fixed memory, keyed hashing, a clock hand
// for expiry; a full table refuses new entries (counted).
// Cost (the dialog stage; scripts/bench.sh --json, 2026-12-02, one worker, 2.1 GHz EPYC VM): 24-26
// cycles a frame.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/ip_address.hpp"
#include "core/keyed_hash.hpp"
#include "state/chained_pool.hpp"

namespace sipshield {

struct DialogKey {
  IpAddress client;
  uint64_t call_id_hash = 0;
  friend bool operator==(const DialogKey&, const DialogKey&) = default;
};
static_assert(sizeof(DialogKey) == 24);

struct DialogEntry {
  DialogKey key;        // 24
  uint32_t next;        // 4
  uint32_t expires_ms;  // 4
  uint8_t in_use;       // 1
  uint8_t established;  // 1: a 2xx to INVITE went through
  uint8_t pad[6];
};
static_assert(sizeof(DialogEntry) == 40);

class DialogTable {
 public:
  DialogTable(uint32_t capacity, const KeyedHash& hash);

  // Hash of a Call-ID with the table's secret (the key stores the hash, not the text).
  uint64_t call_id_hash(std::string_view call_id) const;

  DialogEntry* find(const DialogKey& key, uint32_t now_ms);  // null if absent or expired
  // Creates or refreshes an entry lasting at least `lifetime_ms`; null when full.
  DialogEntry* touch(const DialogKey& key, uint32_t now_ms, uint32_t lifetime_ms);
  // The dialog ended (its BYE was answered): it lingers at most `linger_ms` more, for
  // retransmissions, instead of its full lifetime. Nothing when absent.
  void end(const DialogKey& key, uint32_t now_ms, uint32_t linger_ms);
  void expire_step(uint32_t now_ms, unsigned budget);

  uint32_t size() const { return pool_.size(); }
  uint32_t capacity() const { return pool_.capacity(); }
  uint64_t insert_failures() const { return pool_.insert_failures(); }

 private:
  const KeyedHash& hash_;
  ChainedPool<DialogEntry> pool_;
};

}  // namespace sipshield
