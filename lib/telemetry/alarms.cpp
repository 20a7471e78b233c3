#include "telemetry/alarms.hpp"

namespace sipshield {

const char* alarm_level_name(AlarmLevel level) {
  switch (level) {
    case AlarmLevel::warning:
      return "warning";
    case AlarmLevel::major:
      return "major";
    default:
      return "none";
  }
}

std::vector<AlarmLevels::Change> AlarmLevels::second(
    const std::array<uint64_t, kReasonCount>& dropped) {
  std::vector<Change> changes;
  for (size_t r = 0; r < kReasonCount; ++r) {
    State& s = state_[r];
    s.pps = primed_ ? dropped[r] - s.last_total : 0;
    s.last_total = dropped[r];
    if (!config_.enabled) {
      s.level = AlarmLevel::none;
      continue;
    }
    const AlarmLevel reached = s.pps >= config_.major_pps     ? AlarmLevel::major
                               : s.pps >= config_.warning_pps ? AlarmLevel::warning
                                                              : AlarmLevel::none;
    if (reached > s.level) {  // raised at once
      changes.push_back({static_cast<Reason>(r), s.level, reached, s.pps});
      s.level = reached;
      s.quiet_s = 0;
      continue;
    }
    if (s.level == AlarmLevel::none) continue;
    const uint64_t threshold =
        s.level == AlarmLevel::major ? config_.major_pps : config_.warning_pps;
    s.quiet_s = s.pps * 2 < threshold ? s.quiet_s + 1 : 0;
    if (s.quiet_s < config_.clear_s) continue;
    // Down to the level the rate is at now (a major alarm may step down to a warning).
    const AlarmLevel now = s.pps >= config_.warning_pps ? AlarmLevel::warning : AlarmLevel::none;
    changes.push_back({static_cast<Reason>(r), s.level, now, s.pps});
    s.level = now;
    s.quiet_s = 0;
  }
  primed_ = true;
  return changes;
}

}  // namespace sipshield
