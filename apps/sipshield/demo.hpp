#pragma once
#include <atomic>
#include <optional>
#include <string>

#include "dataplane/daemon.hpp"
namespace sipshield {
// Captures go to `keep_dir` when given (kept), else to a temporary directory removed on return,
// on an error too. A stop request before the report ends the demo with 130.
int run_demo(const RunOptions& options, const std::atomic<bool>& stop,
             const std::optional<std::string>& keep_dir);
}  // namespace sipshield
