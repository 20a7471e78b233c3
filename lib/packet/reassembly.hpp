// Per-worker IP fragment reassembly that keeps the original fragments. A datagram for a protected
// service is judged whole, then its fragments are forwarded (or dropped) together as they came:
// an incomplete datagram never reaches the servers, and the servers still see the sender's frames.
//
// Memory is fixed at construction. Entries are keyed-hashed, aged in arrival order, expired a few
// per burst; a full table evicts its oldest datagram (legitimate fragments arrive within
// microseconds of each other, flood leftovers are the old ones) and a per-source quota keeps one
// sender from filling it.
// Cost (the reassembly stage; scripts/bench.sh --json, 2026-12-02, one worker, 2.1 GHz EPYC VM):
// 199 cycles a frame under a flood of spoofed first fragments (each evicts the oldest datagram).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/ip_address.hpp"
#include "core/keyed_hash.hpp"
#include "core/reasons.hpp"
#include "core/table_memory.hpp"

namespace sipshield {

inline constexpr unsigned kMaxFragmentsPerDatagram = 32;

struct ReassemblyLimits {
  uint32_t max_datagrams = 4096;  // datagrams under reassembly at once, per worker
  uint16_t max_fragments = 16;    // fragments one datagram may have (<= kMaxFragmentsPerDatagram)
  uint16_t max_per_source = 16;   // incomplete datagrams one source address may hold
  uint32_t max_held = 16384;      // fragments (mbufs) held at once: bounds the pool it can pin
  uint64_t timeout_ns = 2'000'000'000;
};

struct FragmentKey {
  IpAddress src;
  IpAddress dst;
  uint32_t id = 0;
  uint8_t ip_version = 0;
  uint8_t proto = 0;  // IPv4 only (part of its reassembly key, RFC 791); 0 for IPv6
  uint8_t pad[2] = {};
  friend bool operator==(const FragmentKey&, const FragmentKey&) = default;
};
static_assert(sizeof(FragmentKey) == 40);

struct Fragment {
  void* owner;          // opaque to the table: the mbuf (daemon) or frame record (tests)
  const uint8_t* data;  // this fragment's share of the fragmentable part
  uint16_t length;
  uint32_t offset;  // bytes
  bool more;
  uint8_t first_skip;  // first fragment only: extension header bytes before the L4 header
  uint8_t l4_proto;    // first fragment: the upper-layer protocol after any extension headers
};

// Called for every fragment the table gives up, with the reason.
struct DropSink {
  void (*fn)(void* context, void* owner, Reason reason);
  void* context;
  void operator()(void* owner, Reason reason) const { fn(context, owner, reason); }
};

class Reassembler {
 public:
  enum class State : uint8_t { held, completed, dropped };

  struct Completed {
    std::span<void* const> fragments;   // in arrival order, including the last one added
    std::span<const uint8_t> datagram;  // the fragmentable part, contiguous
    uint8_t first_skip;                 // bytes before the L4 header within `datagram`
    uint8_t l4_proto;                   // as the first fragment said
  };

  Reassembler(const ReassemblyLimits& limits, const KeyedHash& hash);

  // Adds one fragment. held: kept, nothing to do. dropped: it (and possibly the rest of its
  // datagram) went to `drops`. completed: `completed()` describes the whole datagram until the
  // next call; the caller now owns all its fragments.
  State add(const FragmentKey& key, const Fragment& fragment, uint64_t now_ns, DropSink drops);
  const Completed& completed() const { return completed_; }

  // Expires at most `budget` datagrams older than the timeout (bounded work per burst).
  void expire(uint64_t now_ns, unsigned budget, DropSink drops);
  // Gives up every datagram still held (end of a replay, daemon shutdown).
  void flush(Reason reason, DropSink drops);

  uint32_t in_use() const { return in_use_; }
  uint32_t held() const { return held_; }
  const ReassemblyLimits& limits() const { return limits_; }
  // A reload: new per-datagram limits and timeout; the table's size (max_datagrams) and the
  // mbufs it may hold (max_held, which sized the pool) stay.
  void set_limits(const ReassemblyLimits& next) {
    limits_.max_fragments = next.max_fragments;
    limits_.max_per_source = next.max_per_source;
    limits_.timeout_ns = next.timeout_ns;
  }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  struct Slot {
    FragmentKey key;
    uint64_t first_seen_ns;
    uint32_t bucket_next;  // hash chain, or free list
    uint32_t age_prev, age_next;
    uint32_t received;  // payload bytes held
    uint32_t total;     // known once the last fragment arrived, else 0
    uint32_t source_counter;
    uint16_t count;
    uint8_t first_skip;
    uint8_t l4_proto;
    std::array<uint32_t, kMaxFragmentsPerDatagram> offset;
    std::array<uint16_t, kMaxFragmentsPerDatagram> length;
    std::array<const uint8_t*, kMaxFragmentsPerDatagram> data;
    std::array<void*, kMaxFragmentsPerDatagram> owner;
  };

  uint32_t find(const FragmentKey& key, uint64_t hash) const;
  uint32_t allocate(const FragmentKey& key, uint64_t hash, uint64_t now_ns, DropSink drops);
  void release(uint32_t index);
  void give_up(uint32_t index, Reason reason, DropSink drops);
  bool expired(const Slot& slot, uint64_t now_ns) const {
    return now_ns >= slot.first_seen_ns && now_ns - slot.first_seen_ns >= limits_.timeout_ns;
  }
  uint32_t source_counter(const IpAddress& src) const;

  ReassemblyLimits limits_;
  const KeyedHash& hash_;
  TableVector<Slot> slots_;
  TableVector<uint32_t> buckets_;
  TableVector<uint16_t>
      per_source_;  // incomplete datagrams per hashed source (collisions: stricter)
  uint64_t bucket_mask_;
  uint32_t free_head_ = kNone;
  uint32_t age_head_ = kNone, age_tail_ = kNone;  // oldest first
  uint32_t in_use_ = 0;
  uint32_t held_ = 0;  // fragments across all datagrams

  TableVector<uint8_t> assembled_;
  std::array<void*, kMaxFragmentsPerDatagram> completed_owners_{};
  Completed completed_{};
};

}  // namespace sipshield
