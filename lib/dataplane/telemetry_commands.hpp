// DPDK telemetry commands under /sipshield/ (stats, workers, reasons, sources, bans, config),
// readable with dpdk-telemetry.py on the EAL's telemetry socket. Telemetry answers on a thread
// of its own; so the main lcore publishes each command's answer once a second, and a command
// returns the last one: a JSON object flattened to "a/b/c" keys (a telemetry dict is flat, its
// names only letters, digits, _ and /, and it holds at most 256 entries: longer answers are cut
// and say so).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sipshield {

// Registers the commands with rte_telemetry (after rte_eal_init; once per process).
void register_telemetry_commands();
// The answer to /sipshield/`name` from now on.
void publish_telemetry(const std::string& name, const nlohmann::json& answer);

}  // namespace sipshield
