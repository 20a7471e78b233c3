// How full the per-worker tables are, summed over pipelines (workers), and where each service's
// untrusted budget stands: what an operator checks when newcomers stop getting in. The daemon's
// final report and its live stats line read the same summary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sipshield {

class Pipeline;

struct StateSummary {
  struct Table {  // summed over the workers
    uint64_t in_use = 0, capacity = 0, insert_failures = 0, evictions = 0;
  };
  Table sources, probation, verified, dialogs, esp_sas;
  uint64_t familiar_prefixes = 0, datagrams_held = 0;
  // Per protected service: the lowest share any worker allows, the slowest response time any
  // worker measured, and the samples of all.
  struct Budget {
    uint32_t percent = 100, latency_ms = 0;
    uint64_t samples = 0;
  };
  std::vector<Budget> budgets;
};

// Sizes are single-writer gauges: the main lcore may read them while the workers run.
StateSummary summarize_state(const std::vector<const Pipeline*>& pipelines);

// {"sources": {"in_use", "capacity", "insert_failures"}, "probation": {"in_use", "capacity",
// "evictions", "insert_failures"}, "dialogs": {"in_use", "insert_failures"},
// "familiar_prefixes", "verified_sources": {"in_use", "capacity", "insert_failures"},
// "esp_sas": {"in_use", "capacity", "insert_failures"} (zeros with esp off),
// "untrusted_budget": [{"percent", "latency_ms", "samples"} per protected service],
// "datagrams_held"}
nlohmann::json state_report(const std::vector<const Pipeline*>& pipelines);

// For the stats line: " | sources 20/65536 (refused 0), probation 9000/262144 (evicted 0),
// dialogs 12 | budget 100% at 4 ms" (one budget per protected service, comma-separated).
std::string state_line(const StateSummary& s);

}  // namespace sipshield
