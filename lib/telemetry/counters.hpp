// Per-worker counters: written by one worker with plain stores, read by the main lcore off the
// fast path. std::atomic_ref with relaxed order compiles to plain moves on x86: no lock prefix.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include <nlohmann/json_fwd.hpp>

#include "telemetry/reasons.hpp"

namespace sipshield {

enum class Direction : uint8_t { from_outside = 0, from_inside = 1 };
inline constexpr const char* direction_name(Direction d) {
  return d == Direction::from_outside ? "outside" : "inside";
}

inline void bump(uint64_t& counter, uint64_t by = 1) {
  std::atomic_ref<uint64_t> ref(counter);
  ref.store(ref.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
inline uint64_t read(const uint64_t& counter) {
  return std::atomic_ref<const uint64_t>(counter).load(std::memory_order_relaxed);
}

struct alignas(64) WorkerCounters {
  std::array<uint64_t, 2> rx{};         // by Direction
  std::array<uint64_t, 2> tx{};         // frames sent out of the opposite port
  std::array<uint64_t, 2> tx_failed{};  // the TX ring stayed full: freed, not sent
  std::array<uint64_t, kReasonCount> passed{};
  std::array<uint64_t, kReasonCount> dropped{};

  void count(Verdict v) {
    bump((v.action == Action::pass ? passed : dropped)[static_cast<size_t>(v.reason)]);
  }
};

// A consistent-enough sum of several workers' counters (each field read once, relaxed).
struct CounterTotals {
  std::array<uint64_t, 2> rx{}, tx{}, tx_failed{};
  std::array<uint64_t, kReasonCount> passed{}, dropped{};

  void add(const WorkerCounters& w);
  uint64_t total_passed() const;
  uint64_t total_dropped() const;
  nlohmann::json to_json() const;
};

}  // namespace sipshield
