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

// The tier of the source a protected-service verdict judged: banned, trusted (a registration
// or an echoed nonce), verified (answered a probe), untrusted, or in an allow prefix.
inline constexpr size_t kTiers = 5;
inline constexpr std::array<const char*, kTiers> kTierNames = {"banned", "trusted", "verified",
                                                               "untrusted", "allowed"};
enum class Tier : uint8_t { banned, trusted, verified, untrusted, allowed };
// Services counted one by one (the config allows at most this many).
inline constexpr size_t kCountedServices = 64;
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

  // Verdicts on messages to protected services, [pass, drop], by the source's tier and by the
  // service (its index in `protected`).
  std::array<std::array<uint64_t, 2>, kTiers> by_tier{};
  std::array<std::array<uint64_t, 2>, kCountedServices> by_service{};

  void count_judged(Verdict v, Tier tier, size_t service) {
    const size_t a = v.action == Action::pass ? 0 : 1;
    bump(by_tier[static_cast<size_t>(tier)][a]);
    bump(by_service[service % kCountedServices][a]);
  }

  void count(Verdict v) {
    bump((v.action == Action::pass ? passed : dropped)[static_cast<size_t>(v.reason)]);
  }
};

// A consistent-enough sum of several workers' counters (each field read once, relaxed).
struct CounterTotals {
  std::array<uint64_t, 2> rx{}, tx{}, tx_failed{};
  std::array<uint64_t, kReasonCount> passed{}, dropped{};
  std::array<uint64_t, kProbeOutcomes> probes{};
  std::array<std::array<uint64_t, 2>, kTiers> by_tier{};
  std::array<std::array<uint64_t, 2>, kCountedServices> by_service{};

  void add(const WorkerCounters& w);
  uint64_t total_passed() const;
  uint64_t total_dropped() const;
  nlohmann::json to_json() const;
};

}  // namespace sipshield
