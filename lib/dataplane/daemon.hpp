// The daemon's life: EAL, ports, mempool, workers on their lcores, the main lcore's stats loop,
// and an orderly stop that drains every worker before the ports close.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "telemetry/counters.hpp"

namespace sipshield {

struct RunOptions {
  std::string program = "sipshield";
  std::vector<std::string> extra_eal_args;  // from the command line, after the config's
  unsigned idle_exit_ms = 0;  // stop once no frame arrived for this long (replays, tests); 0: never
  double duration_s = 0;      // stop after this long; 0: until a signal
  std::string events_file;    // JSON lines of bans and attacks; empty: not written
  // Reload (SIGHUP): when the flag is raised, the daemon lowers it, reads the config again
  // (the loader throws ConfigError naming the JSON path) and swaps its signature rules and
  // allow/deny prefixes in on every worker. A refused reload keeps the tables in use.
  std::atomic<bool>* reload_requested = nullptr;
  std::function<Config()> reload_config;
};

struct RunResult {
  CounterTotals totals;
  nlohmann::json summary;  // workers, ports, clock, uptime, reassembly state, counters
};

// Runs until a signal sets `stop_requested`, the duration passes or the links go idle.
// Throws DataplaneError (or ConfigError) when start-up checks refuse; outputs (events) are
// opened before any worker starts, and workers already launched when an error is thrown are
// stopped and joined before it leaves.
RunResult run_dataplane(const Config& config, const RunOptions& options,
                        const std::atomic<bool>& stop_requested);

}  // namespace sipshield
