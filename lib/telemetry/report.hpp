// The human-readable verdict table that the daemon (on exit) and sipshield-inspect print:
// passes and drops by reason, with shares and what each reason means.
#pragma once

#include <string>

#include "telemetry/counters.hpp"

namespace sipshield {

std::string render_verdict_table(const CounterTotals& totals);

}  // namespace sipshield
