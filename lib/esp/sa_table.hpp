// The ESP security associations inbound at the protected P-CSCFs, per worker: learned from the
// sec-agree exchange the filter already sees (RFC 3329, TS 33.203: the Security-Server header of
// the P-CSCF's 401 names the SPIs it will receive on, and the 401's destination is the UE that
// will send on them), and given keys by the operator (esp.keys_file). Keyed by (destination,
// SPI); each carries its peer, algorithms, anti-replay window and, when known, the key states.
// Symmetric RSS on the address pair brings the 401 and the UE's ESP to the same worker. Fixed
// memory; full: refused (counted). An SA deleted (idle, replaced) has its key states wiped.
// Cost (the esp stage: SA lookup, anti-replay, trailer; scripts/bench.sh --json, 2026-12-02, one
// worker, 2.1 GHz EPYC VM): 38-43 cycles a frame for unknown-SPI and replay floods; ICVs:
// lib/esp/icv.hpp.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/deadline.hpp"
#include "core/ip_address.hpp"
#include "core/keyed_hash.hpp"
#include "esp/icv.hpp"
#include "esp/replay_window.hpp"
#include "state/chained_pool.hpp"

namespace sipshield {

enum class EspEncryption : uint8_t { null, aes_cbc, other };

// RFC 3329's mechanism name for TS 33.203 IPsec, ignoring case.
inline bool is_ipsec_3gpp(std::string_view mechanism) {
  constexpr std::string_view kName = "ipsec-3gpp";
  if (mechanism.size() != kName.size()) return false;
  for (size_t i = 0; i < kName.size(); ++i)
    if ((mechanism[i] | 0x20) != kName[i]) return false;  // folds letters; '-' and digits stay
  return true;
}

struct EspSaKey {
  IpAddress destination;  // the P-CSCF
  uint32_t spi;
  uint32_t pad = 0;
};
static_assert(sizeof(EspSaKey) == 24);

struct EspSa {
  EspSaKey key;
  IpAddress peer;  // the UE: the only source the SA accepts
  uint32_t next;
  uint32_t seen_ms;  // last packet, or when learned: idle SAs go after esp.idle_s
  uint8_t in_use;
  AuthAlgorithm auth;  // from sec-agree or the keys file; none: not announced
  EspEncryption encryption;
  bool keyed;  // `key_states` holds the operator's key
  ReplayWindow window;
  AuthKey key_states;
};

class EspSaTable {
 public:
  EspSaTable(uint32_t capacity, uint32_t window, const KeyedHash& hash)
      : hash_(hash), window_(window), pool_(capacity) {}
  ~EspSaTable() {
    pool_.for_each([](EspSa& sa) { sa.key_states.wipe(); });
  }

  uint64_t hash_of(const IpAddress& destination, uint32_t spi) const {
    return hash_(EspSaKey{destination, spi});
  }
  EspSa* find(const IpAddress& destination, uint32_t spi) {
    return pool_.find(hash_of(destination, spi), [&](const EspSa& sa) {
      return sa.key.spi == spi && sa.key.destination == destination;
    });
  }
  // The SA (destination, spi) from `peer`: found, or created with a fresh window (null when the
  // table is full). A different peer for a known SPI replaces the SA (a new registration of the
  // SPI to another UE): its window restarts and a key it had is wiped.
  EspSa* learn(const IpAddress& destination, uint32_t spi, const IpAddress& peer, uint32_t now_ms) {
    EspSa* sa = find(destination, spi);
    if (sa && !(sa->peer == peer)) {
      erase(sa);
      sa = nullptr;
    }
    if (!sa) {
      expire_step(now_ms, 4);
      sa = pool_.insert(hash_of(destination, spi));
      if (!sa) return nullptr;
      sa->key = {destination, spi};
      sa->peer = peer;
      sa->window = ReplayWindow(window_);
      sa->auth = AuthAlgorithm::none;
      sa->encryption = EspEncryption::null;
      sa->keyed = false;
    }
    sa->seen_ms = now_ms;
    return sa;
  }
  void erase(EspSa* sa) {
    sa->key_states.wipe();
    sa->keyed = false;
    pool_.erase(sa, hash_of(sa->key.destination, sa->key.spi));
  }
  void set_idle(uint32_t idle_ms) { idle_ms_ = idle_ms; }
  // Deletes learned SAs idle for the idle time (their keys wiped), a few per call. The
  // operator's keyed SAs stay for as long as the daemon runs.
  void expire_step(uint32_t now_ms, unsigned budget) {
    pool_.sweep(
        budget,
        [&](EspSa& sa) {
          if (sa.keyed || before(now_ms, sa.seen_ms + idle_ms_)) return false;
          sa.key_states.wipe();
          return true;
        },
        [&](const EspSa& sa) { return hash_of(sa.key.destination, sa.key.spi); });
  }
  uint32_t size() const { return pool_.size(); }
  uint32_t capacity() const { return pool_.capacity(); }
  uint64_t insert_failures() const { return pool_.insert_failures(); }

 private:
  const KeyedHash& hash_;
  uint32_t window_;
  uint32_t idle_ms_ = 3'600'000;
  ChainedPool<EspSa> pool_;
};

}  // namespace sipshield
