// Per-worker verdict counters (single-writer, core/counter.hpp), summed by the main lcore.
#pragma once

#include <array>
#include <cstdint>

#include <nlohmann/json_fwd.hpp>

#include "core/counter.hpp"
#include "core/reasons.hpp"

namespace sipshield {

enum class Direction : uint8_t { from_outside = 0, from_inside = 1 };
inline constexpr const char* direction_name(Direction d) {
  return d == Direction::from_outside ? "outside" : "inside";
}

// What became of a probe the policy asked for: sent, or held back by a limit, or too long for the
// request it would replace (a probe never amplifies).
inline constexpr size_t kProbeOutcomes = 5;
inline constexpr std::array<const char*, kProbeOutcomes> kProbeOutcomeNames = {
    "sent", "rate_limited", "prefix_limited", "already_probed", "no_room"};

struct alignas(64) WorkerCounters {
  std::array<uint64_t, 2> rx{};         // by Direction
  std::array<uint64_t, 2> tx{};         // frames sent out of the opposite port
  std::array<uint64_t, 2> tx_failed{};  // the TX ring stayed full: freed, not sent
  std::array<uint64_t, kReasonCount> passed{};
  std::array<uint64_t, kReasonCount> dropped{};

  // Return-routability probes (lib/admission), by what became of them.
  std::array<uint64_t, kProbeOutcomes> probes{};

  void count(Verdict v) {
    bump((v.action == Action::pass ? passed : dropped)[static_cast<size_t>(v.reason)]);
  }
};

// A consistent-enough sum of several workers' counters (each field read once, relaxed).
struct CounterTotals {
  std::array<uint64_t, 2> rx{}, tx{}, tx_failed{};
  std::array<uint64_t, kReasonCount> passed{}, dropped{};
  std::array<uint64_t, kProbeOutcomes> probes{};

  void add(const WorkerCounters& w);
  uint64_t total_passed() const;
  uint64_t total_dropped() const;
  nlohmann::json to_json() const;
};

}  // namespace sipshield
