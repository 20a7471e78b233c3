// Sources (address and port) that answered a return-routability probe with a valid cookie, until
// an expiry. Only a source that receives at its address can enter, so a forged flood cannot fill
// it, however many addresses it forges. Per worker: symmetric RSS brings a source's answer to the
// worker that probed it. Fixed memory; full: refused (counted), never evicts.
#pragma once

#include <cstdint>

#include "core/deadline.hpp"
#include "core/ip_address.hpp"
#include "core/keyed_hash.hpp"
#include "state/chained_pool.hpp"
#include "state/source_table.hpp"

namespace sipshield {

struct VerifiedEntry {
  IpAddress ip;          // 16
  uint16_t port;         // 2
  uint8_t in_use;        // 1
  uint8_t pad;           // 1
  uint32_t next;         // 4
  uint32_t until_ms;     // 4
  uint32_t verified_ms;  // 4: when it answered
};
static_assert(sizeof(VerifiedEntry) == 32, "two verified sources per cache line");

class VerifiedTable {
 public:
  VerifiedTable(uint32_t capacity, const KeyedHash& hash) : hash_(hash), pool_(capacity) {}

  // The hash of SourceKey{ip, port} under the table's KeyedHash: the source table's own, so the
  // pipeline hashes each source once per burst and prefetches both tables with it.
  uint64_t hash_of(const IpAddress& ip, uint16_t port) const {
    return hash_(SourceKey{ip, port, {}});
  }
  bool verified(const IpAddress& ip, uint16_t port, uint64_t hash, uint32_t now_ms) {
    if (pool_.size() == 0) return false;  // the common case under no probing: no lookup
    const VerifiedEntry* e = find(ip, port, hash);
    return e && before(now_ms, e->until_ms);
  }
  bool verified(const IpAddress& ip, uint16_t port, uint32_t now_ms) {
    return verified(ip, port, hash_of(ip, port), now_ms);
  }
  // Bulk lookups, as the source table's: buckets first, then the entries they lead to.
  void prefetch_bucket(uint64_t hash) const {
    if (pool_.size()) pool_.prefetch_bucket(hash);
  }
  void prefetch_entry(uint64_t hash) const {
    if (pool_.size()) pool_.prefetch_entry(hash);
  }
  // Verified until now + lifetime; false when the table is full.
  bool verify(const IpAddress& ip, uint16_t port, uint32_t now_ms, uint32_t lifetime_ms) {
    const uint64_t hash = hash_of(ip, port);
    VerifiedEntry* e = find(ip, port, hash);
    if (!e) {
      expire_step(now_ms, 4);
      e = pool_.insert(hash);
      if (!e) return false;
      e->ip = ip;
      e->port = port;
    }
    e->verified_ms = now_ms;
    e->until_ms = now_ms + lifetime_ms;
    return true;
  }
  void expire_step(uint32_t now_ms, unsigned budget) {
    pool_.sweep(
        budget, [&](const VerifiedEntry& e) { return !before(now_ms, e.until_ms); },
        [&](const VerifiedEntry& e) { return hash_of(e.ip, e.port); });
  }
  uint32_t size() const { return pool_.size(); }
  uint32_t capacity() const { return pool_.capacity(); }
  uint64_t insert_failures() const { return pool_.insert_failures(); }

 private:
  VerifiedEntry* find(const IpAddress& ip, uint16_t port, uint64_t hash) {
    return pool_.find(hash, [&](const VerifiedEntry& e) { return e.port == port && e.ip == ip; });
  }

  const KeyedHash& hash_;
  ChainedPool<VerifiedEntry> pool_;
};

}  // namespace sipshield
