// How full the per-worker tables are, summed over pipelines (workers): what an operator checks
// when newcomers stop getting state (a full source table judges them without it).
#pragma once

#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sipshield {

class Pipeline;

// {"sources": {"in_use", "capacity", "insert_failures"}, "dialogs": {"in_use",
// "insert_failures"}, "familiar_prefixes", "verified_sources": {"in_use", "capacity",
// "insert_failures"}, "untrusted_budget": [{"percent",
// "latency_ms", "samples"} per protected service], "datagrams_held"}
nlohmann::json state_report(const std::vector<const Pipeline*>& pipelines);

}  // namespace sipshield
