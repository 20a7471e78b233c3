// A sampled copy of the frames a worker drops, for the operators: top talkers (sipshield-ctl
// top, periodic events) and sipshield-ctl capture --drops. The worker copies one dropped frame in
// `every_` (its first kSnapBytes, its verdict and time) into a single-producer ring; once a
// second it sets `every_` so that about `per_second` frames a second are copied whatever the
// flood's rate, and each copy stands for `every_` drops. The main lcore drains the ring. On the
// fast path: a decrement and a branch per drop; a copy only for the sampled ones.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/counter.hpp"
#include "core/reasons.hpp"

namespace sipshield {

struct DropSample {
  static constexpr size_t kSnapBytes = 1536;
  uint64_t time_ns = 0;  // the worker's clock (TSC or capture time)
  uint32_t weight = 1;   // drops this copy stands for
  uint16_t length = 0;   // the frame's length (bytes[] holds at most kSnapBytes of it)
  Reason reason = Reason::admitted;
  uint16_t rule = kNoRule;
  std::array<uint8_t, kSnapBytes> bytes;
};

class DropSampler {
 public:
  static constexpr uint32_t kCapacity = 1024;  // power of two

  DropSampler() : ring_(kCapacity) {}

  // Worker side, for each dropped frame: whether to copy this one (then take()). The frame
  // itself is touched only when it is copied: a frame held long (a timed-out fragment) may have
  // left the cache.
  bool due(uint64_t now_ns) {
    if (now_ns - second_ns_ >= 1'000'000'000) roll(now_ns);
    ++in_second_;
    if (--countdown_ != 0) return false;
    countdown_ = every_;
    return true;
  }
  void dropped(const uint8_t* frame, uint32_t length, Verdict v, uint64_t now_ns) {
    if (due(now_ns)) take(frame, length, v, now_ns);
  }
  // Copies the frame (when due()).
  void take(const uint8_t* frame, uint32_t length, Verdict v, uint64_t now_ns) {
    const uint32_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_.load(std::memory_order_acquire) == kCapacity) {
      // Nobody drains (an offline replay, a bench) or not fast enough: sample half as often
      // until the next second says otherwise, so a full ring costs the fast path nothing.
      bump(lost_);
      every_ = std::min<uint64_t>(every_ * 2, uint64_t{1} << 30);
      countdown_ = every_;
      return;
    }
    DropSample& s = ring_[head & (kCapacity - 1)];
    s.time_ns = now_ns;
    s.weight = static_cast<uint32_t>(std::min<uint64_t>(every_, UINT32_MAX));
    s.length = static_cast<uint16_t>(std::min<uint32_t>(length, UINT16_MAX));
    s.reason = v.reason;
    s.rule = v.rule;
    std::memcpy(s.bytes.data(), frame, std::min<size_t>(length, DropSample::kSnapBytes));
    head_.store(head + 1, std::memory_order_release);
  }

  // Main lcore: copies per second to aim for (a capture raises it).
  void set_per_second(uint32_t n) { per_second_.store(n, std::memory_order_relaxed); }
  // Main lcore: the next sample, if any.
  bool next(DropSample& out) {
    const uint32_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_.load(std::memory_order_acquire)) return false;
    out = ring_[tail & (kCapacity - 1)];
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }
  uint64_t lost() const { return read(lost_); }  // sampled, but the ring was full

 private:
  // A new second: one copy in every_ drops aims at per_second copies, at last second's rate.
  void roll(uint64_t now_ns) {
    const uint32_t target = std::max<uint32_t>(per_second_.load(std::memory_order_relaxed), 1);
    every_ = std::max<uint64_t>(1, in_second_ / target);
    countdown_ = std::min(countdown_, every_);
    in_second_ = 0;
    second_ns_ = now_ns;
  }

  std::vector<DropSample> ring_;
  alignas(64) std::atomic<uint32_t> head_{0};  // written by the worker
  alignas(64) std::atomic<uint32_t> tail_{0};  // written by the main lcore
  alignas(64) std::atomic<uint32_t> per_second_{200};
  uint64_t every_ = 1;
  uint64_t countdown_ = 1;
  uint64_t in_second_ = 0;
  uint64_t second_ns_ = 0;
  uint64_t lost_ = 0;
};

}  // namespace sipshield
