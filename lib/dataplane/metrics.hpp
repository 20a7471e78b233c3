// The daemon's Prometheus metrics (docs/operations.md lists every family): what the workers
// counted, how full the tables are, where the budgets stand, what the NICs lost, and what the
// operations did (bans, reloads, events). Rendered by the main lcore, served by MetricsServer.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "core/reasons.hpp"
#include "dataplane/port.hpp"
#include "dataplane/worker.hpp"
#include "telemetry/events.hpp"

namespace sipshield {

// What the main lcore counted itself.
struct OperationsCounters {
  std::array<uint64_t, kEventTypes> events{};  // by EventType, as drained (after rate limits)
  uint64_t reloads_applied = 0, reloads_refused = 0;
  uint64_t operator_bans = 0;                        // in force now
  uint64_t source_bans = 0;                          // likewise, as their events told
  std::array<uint8_t, kReasonCount> alarm_levels{};  // AlarmLevel per drop reason
  uint64_t syslog_sent = 0, syslog_suppressed = 0, syslog_failed = 0;
};

struct MetricsView {
  const Config& config;
  const std::vector<std::unique_ptr<Worker>>& workers;
  const Port& outside;
  const Port& inside;
  const OperationsCounters& operations;
  const nlohmann::json& signature_hits;  // {rule id: hits}
  double uptime_s = 0;
};

std::string render_metrics(const MetricsView& v);

}  // namespace sipshield
