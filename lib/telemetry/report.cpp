#include "telemetry/report.hpp"

#include <fmt/format.h>

namespace sipshield {

std::string render_verdict_table(const CounterTotals& t) {
  const uint64_t passed = t.total_passed(), dropped = t.total_dropped();
  const uint64_t all = passed + dropped;
  const auto share = [all](uint64_t n) { return all ? 100.0 * double(n) / double(all) : 0.0; };
  std::string out = fmt::format("  {:<26} {:>12} {:>8}\n", "verdict / reason", "frames", "share");
  const auto section = [&](const char* title, uint64_t total,
                           const std::array<uint64_t, kReasonCount>& by_reason) {
    out += fmt::format("  {:<26} {:>12} {:>7.2f}%\n", title, total, share(total));
    for (size_t r = 0; r < kReasonCount; ++r)
      if (by_reason[r])
        out += fmt::format("    {:<24} {:>12} {:>7.2f}%  {}\n", kReasonNames[r], by_reason[r],
                           share(by_reason[r]), kReasonDescriptions[r]);
  };
  section("passed", passed, t.passed);
  section("dropped", dropped, t.dropped);
  return out;
}

}  // namespace sipshield
