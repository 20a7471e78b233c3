#include "telemetry/counters.hpp"

#include <numeric>

#include <nlohmann/json.hpp>

namespace sipshield {

void CounterTotals::add(const WorkerCounters& w) {
  for (size_t t = 0; t < kTiers; ++t)
    for (size_t a = 0; a < 2; ++a) by_tier[t][a] += read(w.by_tier[t][a]);
  for (size_t s = 0; s < kCountedServices; ++s)
    for (size_t a = 0; a < 2; ++a) by_service[s][a] += read(w.by_service[s][a]);
  for (size_t d = 0; d < 2; ++d) {
    rx[d] += read(w.rx[d]);
    tx[d] += read(w.tx[d]);
    tx_failed[d] += read(w.tx_failed[d]);
  }
  for (size_t r = 0; r < kReasonCount; ++r) {
    passed[r] += read(w.passed[r]);
    dropped[r] += read(w.dropped[r]);
  }
  for (size_t o = 0; o < kProbeOutcomes; ++o) probes[o] += read(w.probes[o]);
}

uint64_t CounterTotals::total_passed() const {
  return std::accumulate(passed.begin(), passed.end(), uint64_t{0});
}
uint64_t CounterTotals::total_dropped() const {
  return std::accumulate(dropped.begin(), dropped.end(), uint64_t{0});
}

nlohmann::json CounterTotals::to_json() const {
  nlohmann::json passed_by = nlohmann::json::object(), dropped_by = nlohmann::json::object();
  for (size_t r = 0; r < kReasonCount; ++r) {
    if (passed[r]) passed_by[std::string(kReasonNames[r])] = passed[r];
    if (dropped[r]) dropped_by[std::string(kReasonNames[r])] = dropped[r];
  }
  nlohmann::json ports = nlohmann::json::object();
  for (size_t d = 0; d < 2; ++d)
    ports[direction_name(static_cast<Direction>(d))] = {
        {"rx", rx[d]}, {"forwarded", tx[d]}, {"tx_failed", tx_failed[d]}};
  nlohmann::json probe_outcomes = nlohmann::json::object();
  for (size_t o = 0; o < kProbeOutcomes; ++o) probe_outcomes[kProbeOutcomeNames[o]] = probes[o];
  return {{"ports", ports},
          {"probes", probe_outcomes},
          {"passed", total_passed()},
          {"dropped", total_dropped()},
          {"passed_by_reason", passed_by},
          {"dropped_by_reason", dropped_by}};
}

}  // namespace sipshield
