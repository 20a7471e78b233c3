#include "packet/reassembly.hpp"

#include <bit>
#include <cstring>

namespace sipshield {

Reassembler::Reassembler(const ReassemblyLimits& limits, const KeyedHash& hash)
    : limits_(limits), hash_(hash), assembled_(65536) {
  slots_.resize(limits.max_datagrams);
  buckets_.assign(std::bit_ceil(uint64_t{limits.max_datagrams} * 2), kNone);
  bucket_mask_ = buckets_.size() - 1;
  per_source_.assign(std::bit_ceil(uint64_t{limits.max_datagrams} * 4), 0);
  for (uint32_t i = 0; i < limits.max_datagrams; ++i)
    slots_[i].bucket_next = i + 1 < limits.max_datagrams ? i + 1 : kNone;
  free_head_ = limits.max_datagrams ? 0 : kNone;
}

uint32_t Reassembler::source_counter(const IpAddress& src) const {
  return static_cast<uint32_t>(hash_(src) & (per_source_.size() - 1));
}

uint32_t Reassembler::find(const FragmentKey& key, uint64_t hash) const {
  for (uint32_t i = buckets_[hash & bucket_mask_]; i != kNone; i = slots_[i].bucket_next)
    if (slots_[i].key == key) return i;
  return kNone;
}

void Reassembler::release(uint32_t index) {
  Slot& slot = slots_[index];
  // Unlink from its hash chain.
  uint32_t* link = &buckets_[hash_(slot.key) & bucket_mask_];
  while (*link != index) link = &slots_[*link].bucket_next;
  *link = slot.bucket_next;
  // Unlink from the age list.
  (slot.age_prev == kNone ? age_head_ : slots_[slot.age_prev].age_next) = slot.age_next;
  (slot.age_next == kNone ? age_tail_ : slots_[slot.age_next].age_prev) = slot.age_prev;
  --per_source_[slot.source_counter];
  held_ -= slot.count;
  slot.bucket_next = free_head_;
  free_head_ = index;
  --in_use_;
}

void Reassembler::give_up(uint32_t index, Reason reason, DropSink drops) {
  Slot& slot = slots_[index];
  for (uint16_t i = 0; i < slot.count; ++i) drops(slot.owner[i], reason);
  release(index);
}

uint32_t Reassembler::allocate(const FragmentKey& key, uint64_t hash, uint64_t now_ns,
                               DropSink drops) {
  if (free_head_ == kNone) {
    if (age_head_ == kNone) return kNone;  // a table of zero datagrams
    give_up(age_head_,
            expired(slots_[age_head_], now_ns) ? Reason::frag_timeout : Reason::frag_evicted,
            drops);
  }
  const uint32_t index = free_head_;
  Slot& slot = slots_[index];
  free_head_ = slot.bucket_next;
  slot.key = key;
  slot.first_seen_ns = now_ns;
  slot.received = 0;
  slot.total = 0;
  slot.count = 0;
  slot.first_skip = 0;
  slot.l4_proto = 0;
  slot.source_counter = source_counter(key.src);
  ++per_source_[slot.source_counter];
  uint32_t& bucket = buckets_[hash & bucket_mask_];
  slot.bucket_next = bucket;
  bucket = index;
  slot.age_prev = age_tail_;
  slot.age_next = kNone;
  (age_tail_ == kNone ? age_head_ : slots_[age_tail_].age_next) = index;
  age_tail_ = index;
  ++in_use_;
  return index;
}

Reassembler::State Reassembler::add(const FragmentKey& key, const Fragment& frag, uint64_t now_ns,
                                    DropSink drops) {
  const uint64_t hash = hash_(key);
  uint32_t index = find(key, hash);
  if (index != kNone && expired(slots_[index], now_ns)) {
    give_up(index, Reason::frag_timeout, drops);
    index = kNone;
  }
  if (index == kNone) {
    if (per_source_[source_counter(key.src)] >= limits_.max_per_source) {
      drops(frag.owner, Reason::frag_source_quota);
      return State::dropped;
    }
    index = allocate(key, hash, now_ns, drops);
    if (index == kNone) {
      drops(frag.owner, Reason::frag_evicted);
      return State::dropped;
    }
  }
  Slot& slot = slots_[index];

  const uint32_t begin = frag.offset, end = frag.offset + frag.length;
  for (uint16_t i = 0; i < slot.count; ++i) {
    const uint32_t held_begin = slot.offset[i], held_end = held_begin + slot.length[i];
    if (held_begin == begin && held_end == end) {
      drops(frag.owner, Reason::frag_duplicate);  // a copy: keep the first, the datagram lives on
      return State::dropped;
    }
    if (begin < held_end && held_begin < end) {
      drops(frag.owner, Reason::frag_overlap);
      give_up(index, Reason::frag_overlap, drops);
      return State::dropped;
    }
  }
  const bool inconsistent = [&] {
    if (!frag.more) {
      if (slot.total != 0 && slot.total != end) return true;
      for (uint16_t i = 0; i < slot.count; ++i)
        if (slot.offset[i] + slot.length[i] > end) return true;
    } else if (slot.total != 0 && end > slot.total) {
      return true;
    }
    return false;
  }();
  const Reason refusal = inconsistent                          ? Reason::frag_inconsistent
                         : slot.count >= limits_.max_fragments ? Reason::frag_too_many
                                                               : Reason::admitted;
  if (refusal != Reason::admitted) {
    drops(frag.owner, refusal);
    give_up(index, refusal, drops);
    return State::dropped;
  }

  // Room for one more fragment: the oldest datagrams go first, the new one last.
  while (held_ >= limits_.max_held) {
    const bool self = age_head_ == index;
    give_up(age_head_,
            expired(slots_[age_head_], now_ns) ? Reason::frag_timeout : Reason::frag_evicted,
            drops);
    if (self) {
      drops(frag.owner, Reason::frag_evicted);
      return State::dropped;
    }
  }
  slot.offset[slot.count] = begin;
  slot.length[slot.count] = frag.length;
  slot.data[slot.count] = frag.data;
  slot.owner[slot.count] = frag.owner;
  ++slot.count;
  ++held_;
  slot.received += frag.length;
  if (!frag.more) slot.total = end;
  if (begin == 0) {
    slot.first_skip = frag.first_skip;
    slot.l4_proto = frag.l4_proto;
  }
  // Without overlaps, the bytes held add up to the total exactly when every byte is covered.
  if (slot.total == 0 || slot.received != slot.total) return State::held;

  for (uint16_t i = 0; i < slot.count; ++i) {
    std::memcpy(assembled_.data() + slot.offset[i], slot.data[i], slot.length[i]);
    completed_owners_[i] = slot.owner[i];
  }
  completed_ = Completed{{completed_owners_.data(), slot.count},
                         {assembled_.data(), slot.total},
                         slot.first_skip,
                         slot.l4_proto};
  release(index);
  return State::completed;
}

void Reassembler::expire(uint64_t now_ns, unsigned budget, DropSink drops) {
  while (budget-- > 0 && age_head_ != kNone && expired(slots_[age_head_], now_ns))
    give_up(age_head_, Reason::frag_timeout, drops);
}

void Reassembler::flush(Reason reason, DropSink drops) {
  while (age_head_ != kNone) give_up(age_head_, reason, drops);
}

}  // namespace sipshield
