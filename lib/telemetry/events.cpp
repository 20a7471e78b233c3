#include "telemetry/events.hpp"

#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "signatures/rules.hpp"

namespace sipshield {

bool EventRing::push(const Event& e) {
  const uint32_t head = head_.load(std::memory_order_relaxed);
  if (head - tail_.load(std::memory_order_acquire) >= kCapacity) return false;
  events_[head & (kCapacity - 1)] = e;
  head_.store(head + 1, std::memory_order_release);
  return true;
}

bool EventRing::record(const Event& e) {
  const uint64_t second = e.time_ns / 1'000'000'000;
  if (second != second_) {
    second_ = second;
    in_second_ = 0;
    if (suppressed_) {  // say how many were left out, once there is room again
      Event s;
      s.time_ns = e.time_ns;
      s.type = EventType::suppressed;
      s.count = suppressed_;
      if (push(s)) {
        suppressed_ = 0;
        ++in_second_;
      }
    }
  }
  if (in_second_ >= kPerSecond || !push(e)) {
    ++suppressed_;
    return false;
  }
  ++in_second_;
  return true;
}

bool EventRing::next(Event& out) {
  const uint32_t tail = tail_.load(std::memory_order_relaxed);
  if (tail == head_.load(std::memory_order_acquire)) return false;
  out = events_[tail & (kCapacity - 1)];
  tail_.store(tail + 1, std::memory_order_release);
  return true;
}

void AttackDetector::roll(uint64_t now_ns, EventRing& ring) {
  const uint64_t second = now_ns / 1'000'000'000;
  if (second_ == 0) second_ = second;
  while (second_ <
         second) {  // close each second that passed (bounded: at most quiet_s idle ones matter)
    const uint64_t closing_end = (second_ + 1) * 1'000'000'000;
    for (size_t r = 0; r < kReasonCount; ++r) {
      State& s = state_[r];
      if (s.this_second >= threshold_) {
        if (!s.active) {
          s.active = true;
          s.peak = 0;
          s.total = 0;
          Event e;
          e.time_ns = second_ * 1'000'000'000;
          e.type = EventType::attack_started;
          e.reason = static_cast<Reason>(r);
          e.peak_pps = s.this_second;
          ring.record(e);
        }
        s.quiet = 0;
      } else if (s.active && ++s.quiet >= quiet_s_) {
        s.active = false;
        Event e;
        e.time_ns = closing_end;
        e.type = EventType::attack_ended;
        e.reason = static_cast<Reason>(r);
        e.peak_pps = s.peak;
        e.count = s.total + s.this_second;
        ring.record(e);
      }
      if (s.active) {
        s.peak = std::max(s.peak, s.this_second);
        s.total += s.this_second;
      }
      s.this_second = 0;
    }
    // Long idle gaps: jump, nothing is pending.
    if (second - second_ > quiet_s_ + 1) second_ = second - quiet_s_ - 1;
    ++second_;
  }
}

namespace {
std::string iso_timestamp(uint64_t time_ns) {
  const time_t secs = static_cast<time_t>(time_ns / 1'000'000'000);
  tm utc{};
  gmtime_r(&secs, &utc);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03d}Z", stamp, (time_ns / 1'000'000) % 1000);
}
}  // namespace

std::string reload_json(uint64_t time_ns, const nlohmann::json& in_force,
                        const std::vector<std::string>& need_restart, const std::string& error) {
  nlohmann::json j;
  j["@timestamp"] = iso_timestamp(time_ns);
  j["event"] = {{"kind", "event"},
                {"category", {"configuration"}},
                {"type", {"change"}},
                {"action", error.empty() ? "config-reloaded" : "config-reload-refused"},
                {"outcome", error.empty() ? "success" : "failure"},
                {"module", "sipshield"}};
  if (!error.empty()) j["message"] = error;
  j["sipshield"] = in_force;
  if (!need_restart.empty()) j["sipshield"]["need_restart"] = need_restart;
  return j.dump();
}

const char* event_action(EventType type) {
  static constexpr const char* kActions[] = {
      "source-banned", "source-unbanned",   "source-demoted", "attack-started",
      "attack-ended",  "events-suppressed", "budget-changed"};
  return kActions[static_cast<size_t>(type)];
}

std::string alarm_json(uint64_t time_ns, Reason reason, const char* from, const char* to,
                       bool raised, uint64_t pps) {
  nlohmann::json j;
  j["@timestamp"] = iso_timestamp(time_ns);
  j["event"] = {{"kind", "alert"},
                {"category", {"network", "intrusion_detection"}},
                {"action", raised ? "alarm-raised" : "alarm-cleared"},
                {"module", "sipshield"}};
  j["sipshield"] = {{"drop_reason", std::string(reason_name(reason))},
                    {"level", to},
                    {"previous_level", from},
                    {"pps", pps}};
  return j.dump();
}

std::string top_talkers_json(uint64_t time_ns, const nlohmann::json& sources) {
  nlohmann::json j;
  j["@timestamp"] = iso_timestamp(time_ns);
  j["event"] = {{"kind", "metric"},
                {"category", {"network", "intrusion_detection"}},
                {"action", "top-talkers"},
                {"module", "sipshield"}};
  j["sipshield"] = {{"top_droppers", sources}};
  return j.dump();
}

std::string operator_ban_json(uint64_t time_ns, std::string_view action, const std::string& prefix,
                              uint64_t until_s, const std::string& why) {
  nlohmann::json j;
  j["@timestamp"] = iso_timestamp(time_ns);
  j["event"] = {{"kind", "event"},
                {"category", {"network", "intrusion_detection"}},
                {"action", action},
                {"module", "sipshield"}};
  j["source"] = {{"address", prefix}};
  nlohmann::json detail = {{"set_by", "operator"}};
  if (until_s) {
    detail["until"] = iso_timestamp(until_s * 1'000'000'000);
    detail["why"] = why;
  }
  j["sipshield"] = detail;
  return j.dump();
}

std::string event_json(const Event& e, unsigned worker) {
  const std::string timestamp = iso_timestamp(e.time_ns);
  nlohmann::json j;
  j["@timestamp"] = timestamp;
  const bool metric = e.type == EventType::suppressed || e.type == EventType::budget_changed;
  j["event"] = {{"kind", metric ? "metric" : "alert"},
                {"category", {"network", "intrusion_detection"}},
                {"action", event_action(e.type)},
                {"module", "sipshield"}};
  nlohmann::json detail = {{"worker", worker}};
  switch (e.type) {
    case EventType::source_banned:
    case EventType::source_unbanned:
    case EventType::source_demoted:
      j["source"] = {{"ip", e.ip.to_string()}, {"port", e.port}};
      detail["cause"] = std::string(reason_name(e.reason));
      if (e.type == EventType::source_banned) detail["ban_seconds"] = e.seconds;
      break;
    case EventType::attack_started:
    case EventType::attack_ended:
      detail["drop_reason"] = std::string(reason_name(e.reason));
      detail["peak_pps"] = e.peak_pps;
      if (e.type == EventType::attack_ended) detail["dropped"] = e.count;
      break;
    case EventType::suppressed:
      detail["suppressed_events"] = e.count;
      break;
    case EventType::budget_changed:
      detail["service_index"] = e.service;
      detail["budget_percent"] = e.budget_percent;
      detail["latency_ms"] = e.latency_ms;
      detail["cause"] = e.budget_cause == Event::BudgetCause::fast   ? "fast_answers"
                        : e.budget_cause == Event::BudgetCause::slow ? "slow_answers"
                                                                     : "503";
      break;
  }
  if (e.rule) j["rule"] = {{"id", e.rule->id}};
  j["sipshield"] = detail;
  return j.dump();
}

bool AttackMerger::pass(Event& e, unsigned worker) {
  if (e.type != EventType::attack_started && e.type != EventType::attack_ended) return true;
  Attack& a = attacks_[static_cast<size_t>(e.reason)];
  const size_t w = worker % kMaxWorkers;
  if (e.type == EventType::attack_started) {
    const bool first = a.workers.none();
    a.workers.set(w);
    return first;
  }
  if (!a.workers.test(w)) return true;  // its start was never seen (suppressed): as it is
  a.workers.reset(w);
  a.peak_pps += e.peak_pps;
  a.count += e.count;
  if (a.workers.any()) return false;  // other workers still see the attack
  e.peak_pps = a.peak_pps;
  e.count = a.count;
  a.peak_pps = a.count = 0;
  return true;
}

}  // namespace sipshield
