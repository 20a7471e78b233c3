// Reload (SIGHUP) of the tables the workers read: the signature rules and the allow and deny
// prefix lists. Built on the main lcore, handed to each worker without locks
// (Worker::offer_tables), and the replaced ones freed once every worker has taken the new.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "dataplane/worker.hpp"

namespace sipshield {

class TableReload {
 public:
  // The tables of the starting config (throws as the constructors of the tables do).
  explicit TableReload(const Config& config);

  SharedTables shared() const { return {current_.signatures.get(), current_.prefixes.get()}; }

  // Builds the tables of `next` and offers them to every worker. Throws (ConfigError,
  // DataplaneError) and changes nothing when they cannot be built. Only when !pending().
  void offer(const Config& next, std::vector<std::unique_ptr<Worker>>& workers);
  // The operators' bans or allows (sipshield-ctl ban, allow add) changed: the same rules and
  // prefix lists, with these in the prefix table. They stay through every later reload until
  // changed again.
  void offer_operator_lists(std::vector<IpPrefix> bans, std::vector<IpPrefix> allows,
                            std::vector<std::unique_ptr<Worker>>& workers);
  bool pending() const { return pending_; }
  // The pending offer changes the operators' lists alone (no reload to report).
  bool offering_bans_only() const { return pending_ && offered_.bans_only; }

  // Once every worker has taken its offer: calls `drain` (events point at the old rules), keeps
  // the old scanners' hits, frees the replaced tables and returns true. False while a worker
  // has not taken it yet (a stopped worker: call Worker::take_offered_tables for it first).
  bool finish(std::vector<std::unique_ptr<Worker>>& workers, const std::function<void()>& drain);

  // Signature hits by rule id: the rules reload replaced, then `current`.
  nlohmann::json hits(const std::vector<const SignatureScanner*>& current) const;

  // The id of signature rule `index` in force ("" if none: a reload renumbered them).
  std::string rule_id(uint16_t index) const {
    return current_.signatures && index < current_.signatures->rules().size()
               ? current_.signatures->rules()[index].id
               : "";
  }
  const std::vector<IpPrefix>& allow() const { return current_.allow; }
  const std::vector<IpPrefix>& deny() const { return current_.deny; }
  // What is in force, as the reload event and the log line tell it.
  nlohmann::json in_force() const;
  // "22 signature rule(s), 1 allow and 2 deny prefix(es)".
  std::string summary() const;

 private:
  struct Tables {
    std::shared_ptr<const SignatureDatabase> signatures;  // shared by an offer of bans alone
    std::unique_ptr<PrefixLists> prefixes;
    std::vector<IpPrefix> allow, deny, bans, operator_allow;
    bool bans_only = false;
  };
  static std::unique_ptr<PrefixLists> prefix_table(const Tables& t);
  void offer(Tables t, std::vector<std::unique_ptr<Worker>>& workers);

  Tables current_;
  Tables offered_;
  uint32_t generation_ = 0;
  bool pending_ = false;
  nlohmann::json retired_hits_ = nlohmann::json::object();
};

// Top-level settings that differ between the running config and `next` and apply only at the
// next start: ports, workers, EAL, the mbuf pool, the clock, the control socket. A reload
// applies everything else (or refuses it whole: reload_refusals).
std::vector<std::string> settings_needing_restart(const Config& running, const Config& next);
// Gives `next` the running values of those settings: what a reload puts in force.
void keep_restart_settings(Config& next, const Config& running);

// Why `next` cannot be applied in place: each a JSON path with its old and new value (a table
// allocated at start would change size). Empty: it can.
std::vector<std::string> reload_refusals(const Config& running, const Config& next);

}  // namespace sipshield
