// Bans an operator set by hand (sipshield-ctl ban ADDR[/LEN] --for DURATION --why TEXT): a
// prefix, until when, and why. Kept by the main lcore; the workers see them as entries of the
// shared prefix table (reason operator_banned), rebuilt whenever the list changes, so a ban
// costs the fast path the lookup it already does for allow and deny prefixes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/ip_address.hpp"

namespace sipshield {

struct OperatorBan {
  IpPrefix prefix;
  uint64_t since_s = 0;  // Unix time
  uint64_t until_s = 0;
  std::string why;
};

class OperatorBans {
 public:
  static constexpr size_t kMax = 4096;  // the prefix table is sized for the config plus these

  // Adds (or renews: the same prefix again) a ban. False when the list is full.
  bool add(const OperatorBan& ban);
  // Lifts the ban of exactly `prefix`; whether there was one.
  bool remove(const IpPrefix& prefix);
  // Drops bans that ran out by `now_s`, and returns them.
  std::vector<OperatorBan> expire(uint64_t now_s);

  const std::vector<OperatorBan>& list() const { return bans_; }
  std::vector<IpPrefix> prefixes() const;

  // [{"prefix", "since", "until", "why"}] (Unix times), for sipshield-ctl and the snapshot;
  // ban_from_json throws (nlohmann or std::runtime_error) on a malformed entry.
  nlohmann::json to_json() const;
  static nlohmann::json ban_to_json(const OperatorBan& b);
  static OperatorBan ban_from_json(const nlohmann::json& j);

 private:
  std::vector<OperatorBan> bans_;
};

// "2026-12-02T11:22:51Z" for Unix time `s`.
std::string rfc3339(uint64_t s);

}  // namespace sipshield
