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

  SharedTables shared() const { return {signatures_.get(), prefixes_.get()}; }

  // Builds the tables of `next` and offers them to every worker. Throws (ConfigError,
  // DataplaneError) and changes nothing when they cannot be built. Only when !pending().
  void offer(const Config& next, std::vector<std::unique_ptr<Worker>>& workers);
  bool pending() const { return pending_; }

  // Once every worker has taken its offer: calls `drain` (events point at the old rules), keeps
  // the old scanners' hits, frees the replaced tables and returns true. False while a worker
  // has not taken it yet (a stopped worker: call Worker::take_offered_tables for it first).
  bool finish(std::vector<std::unique_ptr<Worker>>& workers, const std::function<void()>& drain);

  // Signature hits by rule id: the rules reload replaced, then `current`.
  nlohmann::json hits(const std::vector<const SignatureScanner*>& current) const;

  // What is in force, as the reload event and the log line tell it.
  nlohmann::json in_force() const;
  // "22 signature rule(s), 1 allow and 2 deny prefix(es)".
  std::string summary() const;

 private:
  struct Tables {
    std::unique_ptr<SignatureDatabase> signatures;
    std::unique_ptr<PrefixLists> prefixes;
    size_t allow = 0, deny = 0;
  };
  static Tables build(const Config& config);

  std::unique_ptr<SignatureDatabase> signatures_;
  std::unique_ptr<PrefixLists> prefixes_;
  size_t allow_ = 0, deny_ = 0;
  Tables offered_;
  uint32_t generation_ = 0;
  bool pending_ = false;
  nlohmann::json retired_hits_ = nlohmann::json::object();
};

// Top-level settings that differ between the running config and `next`, apart from what a
// reload applies (signatures.rules, allow, deny): they need a restart.
std::vector<std::string> settings_needing_restart(const Config& running, const Config& next);

}  // namespace sipshield
