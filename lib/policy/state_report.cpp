#include "policy/state_report.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "policy/pipeline.hpp"

namespace sipshield {

nlohmann::json state_report(const std::vector<const Pipeline*>& pipelines) {
  uint64_t sources = 0, capacity = 0, source_failures = 0, dialogs = 0, dialog_failures = 0,
           held = 0, familiar = 0;
  std::vector<const FamiliarPrefixes*> familiar_tables;  // the daemon's workers share one
  for (const Pipeline* p : pipelines) {
    const auto& table = p->mitigation().table();
    sources += table.size();
    capacity += table.capacity();
    source_failures += table.insert_failures();
    dialogs += p->mitigation().dialogs().size();
    dialog_failures += p->mitigation().dialogs().insert_failures();
    held += p->reassembler().in_use();
    const FamiliarPrefixes* f = &p->mitigation().familiar();
    if (std::find(familiar_tables.begin(), familiar_tables.end(), f) != familiar_tables.end())
      continue;
    familiar_tables.push_back(f);
    familiar += f->size(p->mitigation().last_ms());
  }
  // The budget control per protected service: the lowest share any worker allows, and the
  // slowest response time any worker measured.
  nlohmann::json budget = nlohmann::json::array();
  for (size_t service = 0; !pipelines.empty() && service < pipelines[0]->services(); ++service) {
    uint32_t percent = 100, latency = 0;
    uint64_t samples = 0;
    for (const Pipeline* p : pipelines) {
      const auto b = p->mitigation().budget_state(service);
      percent = std::min(percent, b.percent);
      latency = std::max(latency, b.latency_ms);
      samples += b.samples;
    }
    budget.push_back({{"percent", percent}, {"latency_ms", latency}, {"samples", samples}});
  }
  uint64_t verified = 0, verified_capacity = 0, verified_refused = 0;
  uint64_t probation = 0, probation_capacity = 0, probation_evicted = 0, probation_refused = 0;
  for (const Pipeline* p : pipelines) {
    const auto& table = p->mitigation().verified_table();
    verified += table.size();
    verified_capacity += table.capacity();
    verified_refused += table.insert_failures();
    const auto& first = p->mitigation().probation();
    probation += first.size();
    probation_capacity += first.capacity();
    probation_evicted += first.evictions();
    probation_refused += first.insert_failures();
  }
  return {{"sources",
           {{"in_use", sources}, {"capacity", capacity}, {"insert_failures", source_failures}}},
          {"probation",
           {{"in_use", probation},
            {"capacity", probation_capacity},
            {"evictions", probation_evicted},
            {"insert_failures", probation_refused}}},
          {"dialogs", {{"in_use", dialogs}, {"insert_failures", dialog_failures}}},
          {"familiar_prefixes", familiar},
          {"verified_sources",
           {{"in_use", verified},
            {"capacity", verified_capacity},
            {"insert_failures", verified_refused}}},
          {"untrusted_budget", budget},
          {"datagrams_held", held}};
}

}  // namespace sipshield
