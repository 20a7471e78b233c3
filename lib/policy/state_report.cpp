#include "policy/state_report.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "policy/pipeline.hpp"

namespace sipshield {

namespace {

template <class T>
void add(StateSummary::Table& sum, const T& table) {
  sum.in_use += table.size();
  sum.capacity += table.capacity();
  sum.insert_failures += table.insert_failures();
  if constexpr (requires { table.evictions(); }) sum.evictions += table.evictions();
}

}  // namespace

StateSummary summarize_state(const std::vector<const Pipeline*>& pipelines) {
  StateSummary s;
  std::vector<const FamiliarPrefixes*> familiar_tables;  // the daemon's workers share one
  for (const Pipeline* p : pipelines) {
    const Mitigation& m = p->mitigation();
    add(s.sources, m.table());
    add(s.probation, m.probation());
    add(s.verified, m.verified_table());
    add(s.dialogs, m.dialogs());
    if (const EspSaTable* sas = p->esp_sas()) add(s.esp_sas, *sas);
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
  const auto table = [](const StateSummary::Table& t) {
    return nlohmann::json{
        {"in_use", t.in_use}, {"capacity", t.capacity}, {"insert_failures", t.insert_failures}};
  };
  nlohmann::json probation = table(s.probation);
  probation["evictions"] = s.probation.evictions;
  return {
      {"sources", table(s.sources)},
      {"probation", probation},
      {"dialogs", {{"in_use", s.dialogs.in_use}, {"insert_failures", s.dialogs.insert_failures}}},
      {"familiar_prefixes", s.familiar_prefixes},
      {"verified_sources", table(s.verified)},
      {"esp_sas", table(s.esp_sas)},
      {"untrusted_budget", budget},
      {"datagrams_held", s.datagrams_held}};
}

std::string state_line(const StateSummary& s) {
  std::string budgets;
  for (const auto& b : s.budgets)
    budgets += fmt::format("{}{}% at {} ms", budgets.empty() ? "" : ", ", b.percent, b.latency_ms);
  return fmt::format(
      " | sources {}/{} (refused {}), probation {}/{} (evicted {}), dialogs {} | budget {}",
      s.sources.in_use, s.sources.capacity, s.sources.insert_failures + s.probation.insert_failures,
      s.probation.in_use, s.probation.capacity, s.probation.evictions, s.dialogs.in_use,
      budgets.empty() ? "-" : budgets);
}

}  // namespace sipshield
