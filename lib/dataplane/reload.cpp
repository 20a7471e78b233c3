#include "dataplane/reload.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace sipshield {
namespace {

// Adds hit counts by rule id (signature_hits objects).
void add_hits(nlohmann::json& into, const nlohmann::json& hits) {
  for (auto it = hits.begin(); it != hits.end(); ++it)
    into[it.key()] = into.value(it.key(), uint64_t{0}) + it.value().get<uint64_t>();
}

}  // namespace

std::unique_ptr<PrefixLists> TableReload::prefix_table(const Tables& t) {
  std::vector<IpPrefix> allow = t.allow;
  allow.insert(allow.end(), t.operator_allow.begin(), t.operator_allow.end());
  if (allow.empty() && t.deny.empty() && t.bans.empty()) return nullptr;
  return std::make_unique<PrefixLists>(allow, t.deny, t.bans);
}

TableReload::TableReload(const Config& config) {
  if (!config.signature_rules.empty())
    current_.signatures = std::make_shared<SignatureDatabase>(config.signature_rules);
  current_.allow = config.allow;
  current_.deny = config.deny;
  current_.prefixes = prefix_table(current_);
}

void TableReload::offer(const Config& next, std::vector<std::unique_ptr<Worker>>& workers) {
  Tables t;
  if (!next.signature_rules.empty())
    t.signatures = std::make_shared<SignatureDatabase>(next.signature_rules);
  t.allow = next.allow;
  t.deny = next.deny;
  t.bans = current_.bans;
  t.operator_allow = current_.operator_allow;
  offer(std::move(t), workers);
}

void TableReload::offer_operator_lists(std::vector<IpPrefix> bans, std::vector<IpPrefix> allows,
                                       std::vector<std::unique_ptr<Worker>>& workers) {
  Tables t;
  t.signatures = current_.signatures;
  t.allow = current_.allow;
  t.deny = current_.deny;
  t.bans = std::move(bans);
  t.operator_allow = std::move(allows);
  t.bans_only = true;
  offer(std::move(t), workers);
}

void TableReload::offer(Tables t, std::vector<std::unique_ptr<Worker>>& workers) {
  t.prefixes = prefix_table(t);
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
  current_ = std::move(offered_);
  offered_ = {};
  pending_ = false;
  return true;
}

nlohmann::json TableReload::hits(const std::vector<const SignatureScanner*>& current) const {
  nlohmann::json out = retired_hits_;
  add_hits(out, signature_hits(current));
  return out;
}

nlohmann::json TableReload::in_force() const {
  return {{"signature_rules", current_.signatures ? current_.signatures->rules().size() : 0},
          {"allow_prefixes", current_.allow.size()},
          {"deny_prefixes", current_.deny.size()},
          {"operator_bans", current_.bans.size()},
          {"operator_allows", current_.operator_allow.size()}};
}

std::string TableReload::summary() const {
  return fmt::format("{} signature rule(s), {} allow and {} deny prefix(es)",
                     current_.signatures ? current_.signatures->rules().size() : 0,
                     current_.allow.size(), current_.deny.size());
}

namespace {
// What the ports, the lcores, the pool and the ESP tables were set up with: by top-level key, and
// the fields behind each (keep_restart_settings copies them back).
constexpr const char* kRestartKeys[] = {"eal",   "ports",   "workers", "mempool",
                                        "clock", "control", "esp"};
}  // namespace

std::vector<std::string> settings_needing_restart(const Config& running, const Config& next) {
  const nlohmann::json a = to_json(running), b = to_json(next);
  std::vector<std::string> changed;
  for (const char* key : kRestartKeys)
    if (a.value(key, nlohmann::json()) != b.value(key, nlohmann::json())) changed.push_back(key);
  return changed;
}

void keep_restart_settings(Config& next, const Config& running) {
  next.eal_args = running.eal_args;  // eal
  next.outside = running.outside;    // ports
  next.inside = running.inside;
  next.workers = running.workers;  // workers
  next.mempool = running.mempool;  // mempool
  next.clock = running.clock;      // clock
  next.control = running.control;  // control
  next.esp = running.esp;          // esp: the SA tables and keys are built at start
  static_assert(std::size(kRestartKeys) == 7, "a restart key without its fields above");
}

std::vector<std::string> reload_refusals(const Config& running, const Config& next) {
  // Tables allocated at start (per worker, or shared by all: the familiar prefixes), and the
  // fragments the mbuf pool was sized to hold.
  static constexpr const char* kSizes[] = {
      "/policy/sources/max",          "/policy/sources/probation",
      "/policy/dialogs/max",          "/policy/aor/slots",
      "/policy/familiar/max",         "/policy/familiar/ipv4_length",
      "/policy/familiar/ipv6_length", "/policy/probe/verified_max",
      "/reassembly/max_datagrams",    "/reassembly/max_held"};
  const nlohmann::json a = to_json(running), b = to_json(next);
  std::vector<std::string> refusals;
  for (const char* pointer : kSizes) {
    const nlohmann::json::json_pointer at(pointer);
    if (a.at(at) == b.at(at)) continue;
    std::string path = std::string("$") + pointer;
    std::replace(path.begin(), path.end(), '/', '.');
    refusals.push_back(
        fmt::format("{}: {} to {} resizes a table allocated at start (restart to "
                    "resize)",
                    path, a.at(at).dump(), b.at(at).dump()));
  }
  if (running.policy.probe_mode == ProbeMode::never && next.policy.probe_mode != ProbeMode::never)
    refusals.push_back(
        "$.policy.probe.mode: from \"never\" needs a restart (the table of verified sources is "
        "allocated at start only when probes are on)");
  return refusals;
}

}  // namespace sipshield
