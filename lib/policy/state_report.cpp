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
  return {{"sources",
           {{"in_use", sources}, {"capacity", capacity}, {"insert_failures", source_failures}}},
          {"dialogs", {{"in_use", dialogs}, {"insert_failures", dialog_failures}}},
          {"familiar_prefixes", familiar},
          {"datagrams_held", held}};
}

}  // namespace sipshield
