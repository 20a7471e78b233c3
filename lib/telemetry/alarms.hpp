// Alarm levels per drop reason, as SBC intrusion detection raises them: a reason dropping at
// least `warning_pps` frames a second raises a warning, at least `major_pps` a major alarm; a
// level clears only after `clear_s` seconds in a row below half its threshold (hysteresis), so a
// flood that hovers around a threshold gives the SIEM one alarm, not one a second. Fed once a
// second by the main lcore with the daemon's drop totals.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/reasons.hpp"

namespace sipshield {

struct AlarmConfig {
  bool enabled = true;
  uint64_t warning_pps = 1000;
  uint64_t major_pps = 20000;
  uint32_t clear_s = 30;
  uint32_t top_talkers_s = 60;  // an event naming the top droppers this often (0: never)
};

enum class AlarmLevel : uint8_t { none, warning, major };
const char* alarm_level_name(AlarmLevel level);

class AlarmLevels {
 public:
  explicit AlarmLevels(const AlarmConfig& config) : config_(config) {}
  void configure(const AlarmConfig& config) { config_ = config; }

  struct Change {
    Reason reason;
    AlarmLevel from, to;
    uint64_t pps;  // the rate of the second that moved it
  };
  // One second's totals (frames dropped per reason since start): the levels that moved.
  std::vector<Change> second(const std::array<uint64_t, kReasonCount>& dropped);
  AlarmLevel level(Reason r) const { return state_[static_cast<size_t>(r)].level; }
  // The last second's rate of reason `r`.
  uint64_t pps(Reason r) const { return state_[static_cast<size_t>(r)].pps; }

 private:
  struct State {
    uint64_t last_total = 0;
    uint64_t pps = 0;
    uint32_t quiet_s = 0;
    AlarmLevel level = AlarmLevel::none;
  };
  AlarmConfig config_;
  std::array<State, kReasonCount> state_{};
  bool primed_ = false;
};

}  // namespace sipshield
