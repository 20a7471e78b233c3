#include "dataplane/reload.hpp"

#include <fmt/format.h>

namespace sipshield {
namespace {

// Adds hit counts by rule id (signature_hits objects).
void add_hits(nlohmann::json& into, const nlohmann::json& hits) {
  for (auto it = hits.begin(); it != hits.end(); ++it)
    into[it.key()] = into.value(it.key(), uint64_t{0}) + it.value().get<uint64_t>();
}

}  // namespace

TableReload::Tables TableReload::build(const Config& config) {
  Tables t;
  if (!config.signature_rules.empty())
    t.signatures = std::make_unique<SignatureDatabase>(config.signature_rules);
  if (!config.allow.empty() || !config.deny.empty())
    t.prefixes = std::make_unique<PrefixLists>(config.allow, config.deny);
  t.allow = config.allow.size();
  t.deny = config.deny.size();
  return t;
}

TableReload::TableReload(const Config& config) {
  Tables t = build(config);
  signatures_ = std::move(t.signatures);
  prefixes_ = std::move(t.prefixes);
  allow_ = t.allow;
  deny_ = t.deny;
}

void TableReload::offer(const Config& next, std::vector<std::unique_ptr<Worker>>& workers) {
  Tables t = build(next);
  // A scanner per worker, each with its own scratch, built before anything is offered.
  std::vector<std::unique_ptr<SignatureScanner>> scanners;
  for (size_t w = 0; w < workers.size(); ++w)
    scanners.push_back(t.signatures ? std::make_unique<SignatureScanner>(*t.signatures) : nullptr);
  ++generation_;
  for (size_t w = 0; w < workers.size(); ++w)
    workers[w]->offer_tables(std::move(scanners[w]), t.prefixes.get(), generation_);
  offered_ = std::move(t);
  pending_ = true;
}

bool TableReload::finish(std::vector<std::unique_ptr<Worker>>& workers,
                         const std::function<void()>& drain) {
  if (!pending_) return false;
  for (const auto& w : workers)
    if (!w->took_tables(generation_)) return false;
  std::vector<std::unique_ptr<SignatureScanner>> old;
  std::vector<const SignatureScanner*> counted;
  for (auto& w : workers) {
    old.push_back(w->returned_scanner());
    counted.push_back(old.back().get());
  }
  add_hits(retired_hits_, signature_hits(counted));
  drain();  // events recorded before the swap name the old rules
  old.clear();
  signatures_ = std::move(offered_.signatures);
  prefixes_ = std::move(offered_.prefixes);
  allow_ = offered_.allow;
  deny_ = offered_.deny;
  pending_ = false;
  return true;
}

nlohmann::json TableReload::hits(const std::vector<const SignatureScanner*>& current) const {
  nlohmann::json out = retired_hits_;
  add_hits(out, signature_hits(current));
  return out;
}

nlohmann::json TableReload::in_force() const {
  return {{"signature_rules", signatures_ ? signatures_->rules().size() : 0},
          {"allow_prefixes", allow_},
          {"deny_prefixes", deny_}};
}

std::string TableReload::summary() const {
  return fmt::format("{} signature rule(s), {} allow and {} deny prefix(es)",
                     signatures_ ? signatures_->rules().size() : 0, allow_, deny_);
}

std::vector<std::string> settings_needing_restart(const Config& running, const Config& next) {
  nlohmann::json a = to_json(running), b = to_json(next);
  for (auto* j : {&a, &b}) {
    j->erase("allow");
    j->erase("deny");
    (*j)["signatures"].erase("rules");
  }
  std::vector<std::string> changed;
  for (auto it = b.begin(); it != b.end(); ++it)
    if (!a.contains(it.key()) || a[it.key()] != it.value()) changed.push_back(it.key());
  for (auto it = a.begin(); it != a.end(); ++it)
    if (!b.contains(it.key())) changed.push_back(it.key());
  return changed;
}

}  // namespace sipshield
