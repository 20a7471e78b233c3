// Structured events for SIEMs: bans, and attacks starting and ending per drop reason with their
// peak rate. A worker records events into its own single-producer ring (no allocation, no
// locks, no I/O); the main lcore (or the offline replay) drains them and writes ECS-style JSON
// lines. Recording is rate-limited so that an attack cannot flood the event stream: what is
// suppressed is counted and reported in an event of its own.
#pragma once

#include <array>
#include <atomic>
#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/ip_address.hpp"
#include "core/reasons.hpp"

namespace sipshield {

struct Rule;

enum class EventType : uint8_t {
  source_banned,
  source_unbanned,
  source_demoted,
  attack_started,
  attack_ended,
  suppressed,
  budget_changed
};
inline constexpr size_t kEventTypes = static_cast<size_t>(EventType::budget_changed) + 1;

struct Event {
  uint64_t time_ns = 0;
  EventType type = EventType::source_banned;
  Reason reason = Reason::admitted;  // the ban's cause, or the attack's drop reason
  // The signature rule behind a ban. A pointer, not an index: rules reloaded while the event
  // waits in its ring still resolve (the daemon frees old rules only once the rings are drained).
  const Rule* rule = nullptr;
  uint16_t port = 0;
  IpAddress ip;
  uint32_t seconds = 0;  // ban length
  uint64_t peak_pps = 0;
  uint64_t count = 0;  // frames dropped during the attack, or events suppressed
  // budget_changed: the protected service (its index in `protected`), its untrusted budget now
  // (percent of the configured one), and the servers' smoothed response time that moved it.
  uint16_t service = 0;
  uint16_t budget_percent = 0;
  uint32_t latency_ms = 0;
  enum class BudgetCause : uint8_t { fast, slow, overloaded } budget_cause = BudgetCause::fast;
};

class EventRing {
 public:
  static constexpr uint32_t kCapacity = 4096;  // power of two
  static constexpr uint32_t kPerSecond = 200;  // events recorded per second at most

  // Worker side. Returns false (and counts) when rate-limited or full.
  bool record(const Event& e);
  // Reader side: the next event, if any.
  bool next(Event& out);

 private:
  bool push(const Event& e);

  std::array<Event, kCapacity> events_{};
  alignas(64) std::atomic<uint32_t> head_{0};  // written by the worker
  alignas(64) std::atomic<uint32_t> tail_{0};  // written by the reader
  alignas(64) uint64_t second_ = 0;
  uint32_t in_second_ = 0;
  uint64_t suppressed_ = 0;
};

// Across workers, one attack per drop reason however many workers see it (RSS spreads a flood
// over all of them): the first worker's start is reported, and the end when the last worker's
// attack ends, with the frames all of them dropped and the sum of their peaks (an upper bound:
// the workers' peak seconds need not coincide). Bans and the rest pass unchanged.
class AttackMerger {
 public:
  static constexpr unsigned kMaxWorkers = 128;
  // Whether `e`, drained from `worker`'s ring, is to be written; an ending is rewritten with the
  // totals.
  bool pass(Event& e, unsigned worker);

 private:
  struct Attack {
    std::bitset<kMaxWorkers> workers;
    uint64_t peak_pps = 0;
    uint64_t count = 0;
  };
  std::array<Attack, kReasonCount> attacks_{};
};

// Watches drops per reason per second: an attack starts when a reason drops at least
// `threshold_pps` frames in a second, and ends after `quiet_s` seconds below it.
class AttackDetector {
 public:
  explicit AttackDetector(uint32_t threshold_pps = 100, uint32_t quiet_s = 5)
      : threshold_(threshold_pps), quiet_s_(quiet_s) {}
  // One dropped frame at `now_ns` (packet or TSC time).
  void dropped(Reason r, uint64_t now_ns, EventRing& ring) {
    roll(now_ns, ring);
    ++state_[static_cast<size_t>(r)].this_second;
  }
  void tick(uint64_t now_ns, EventRing& ring) { roll(now_ns, ring); }

 private:
  struct State {
    uint64_t this_second = 0;
    uint64_t peak = 0;
    uint64_t total = 0;
    uint32_t quiet = 0;
    bool active = false;
  };
  void roll(uint64_t now_ns, EventRing& ring);

  uint32_t threshold_, quiet_s_;
  uint64_t second_ = 0;
  std::array<State, kReasonCount> state_{};
};

// One ECS-style JSON line (no trailing newline).
std::string event_json(const Event& e, unsigned worker);
// Its event.action ("source-banned", ...), also the syslog MSGID.
const char* event_action(EventType type);
// An alarm level of drop reason `reason` moved `from` one level `to` another at `pps`
// ("alarm-raised" or "alarm-cleared").
std::string alarm_json(uint64_t time_ns, Reason reason, const char* from, const char* to,
                       bool raised, uint64_t pps);
// The top droppers of the last second (`sources`: [{"source", "dropped_per_s", "reason"}]).
std::string top_talkers_json(uint64_t time_ns, const nlohmann::json& sources);
// An operator's ban set or lifted with sipshield-ctl (`action`: "operator-ban" or
// "operator-unban"); `until_s` and `why` for a ban.
std::string operator_ban_json(uint64_t time_ns, std::string_view action, const std::string& prefix,
                              uint64_t until_s, const std::string& why);
// The same for a reload (SIGHUP): applied, with what is now in force (`in_force`, an object)
// and the settings that wait for a restart; or refused for `error`, the old tables in force.
std::string reload_json(uint64_t time_ns, const nlohmann::json& in_force,
                        const std::vector<std::string>& need_restart, const std::string& error);

}  // namespace sipshield
