#pragma once
#include <atomic>
#include "dataplane/daemon.hpp"
namespace sipshield {
int run_demo(const RunOptions& options, const std::atomic<bool>& stop);
}
