#include "policy/state_report.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "policy/pipeline.hpp"

namespace sipshield {

StateSummary summarize_state(const std::vector<const Pipeline*>& pipelines) {
  StateSummary s;
  std::vector<const FamiliarPrefixes*> familiar_tables;  // the daemon's workers share one
  for (const Pipeline* p : pipelines) {
    const Mitigation& m = p->mitigation();
    s.sources += m.table().size();
    s.sources_capacity += m.table().capacity();
    s.sources_refused += m.table().insert_failures();
    s.probation += m.probation().size();
    s.probation_capacity += m.probation().capacity();
    s.probation_evicted += m.probation().evictions();
    s.probation_refused += m.probation().insert_failures();
    s.verified += m.verified_table().size();
    s.verified_capacity += m.verified_table().capacity();
    s.verified_refused += m.verified_table().insert_failures();
    s.dialogs += m.dialogs().size();
    s.dialogs_refused += m.dialogs().insert_failures();
    s.datagrams_held += p->reassembler().in_use();
    const FamiliarPrefixes* f = &m.familiar();
    if (std::find(familiar_tables.begin(), familiar_tables.end(), f) != familiar_tables.end())
      continue;
    familiar_tables.push_back(f);
    s.familiar_prefixes += f->size(m.last_ms());
  }
  for (size_t service = 0; !pipelines.empty() && service < pipelines[0]->services(); ++service) {
    StateSummary::Budget b;
    for (const Pipeline* p : pipelines) {
      const auto w = p->mitigation().budget_state(service);
      b.percent = std::min(b.percent, w.percent);
      b.latency_ms = std::max(b.latency_ms, w.latency_ms);
      b.samples += w.samples;
    }
    s.budgets.push_back(b);
  }
  return s;
}

nlohmann::json state_report(const std::vector<const Pipeline*>& pipelines) {
  const StateSummary s = summarize_state(pipelines);
  nlohmann::json budget = nlohmann::json::array();
  for (const auto& b : s.budgets)
    budget.push_back(
        {{"percent", b.percent}, {"latency_ms", b.latency_ms}, {"samples", b.samples}});
  return {{"sources",
           {{"in_use", s.sources},
            {"capacity", s.sources_capacity},
            {"insert_failures", s.sources_refused}}},
          {"probation",
           {{"in_use", s.probation},
            {"capacity", s.probation_capacity},
            {"evictions", s.probation_evicted},
            {"insert_failures", s.probation_refused}}},
          {"dialogs", {{"in_use", s.dialogs}, {"insert_failures", s.dialogs_refused}}},
          {"familiar_prefixes", s.familiar_prefixes},
          {"verified_sources",
           {{"in_use", s.verified},
            {"capacity", s.verified_capacity},
            {"insert_failures", s.verified_refused}}},
          {"untrusted_budget", budget},
          {"datagrams_held", s.datagrams_held}};
}

std::string state_line(const StateSummary& s) {
  std::string budgets;
  for (const auto& b : s.budgets)
    budgets += fmt::format("{}{}% at {} ms", budgets.empty() ? "" : ", ", b.percent, b.latency_ms);
  return fmt::format(
      " | sources {}/{} (refused {}), probation {}/{} (evicted {}), dialogs {} | budget {}",
      s.sources, s.sources_capacity, s.sources_refused + s.probation_refused, s.probation,
      s.probation_capacity, s.probation_evicted, s.dialogs, budgets.empty() ? "-" : budgets);
}

}  // namespace sipshield
