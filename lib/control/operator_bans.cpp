#include "control/operator_bans.hpp"

#include <algorithm>
#include <ctime>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sipshield {

std::string rfc3339(uint64_t s) {
  const auto t = static_cast<std::time_t>(s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool OperatorBans::add(const OperatorBan& ban) {
  for (auto& b : bans_)
    if (b.prefix.address == ban.prefix.address && b.prefix.length == ban.prefix.length) {
      b = ban;
      return true;
    }
  if (bans_.size() >= kMax) return false;
  bans_.push_back(ban);
  return true;
}

bool OperatorBans::remove(const IpPrefix& prefix) {
  const auto gone = std::erase_if(bans_, [&](const OperatorBan& b) {
    return b.prefix.address == prefix.address && b.prefix.length == prefix.length;
  });
  return gone > 0;
}

std::vector<OperatorBan> OperatorBans::expire(uint64_t now_s) {
  std::vector<OperatorBan> expired;
  for (const auto& b : bans_)
    if (b.until_s <= now_s) expired.push_back(b);
  std::erase_if(bans_, [&](const OperatorBan& b) { return b.until_s <= now_s; });
  return expired;
}

std::vector<IpPrefix> OperatorBans::prefixes() const {
  std::vector<IpPrefix> out;
  for (const auto& b : bans_) out.push_back(b.prefix);
  return out;
}

nlohmann::json OperatorBans::to_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& b : bans_) out.push_back(ban_to_json(b));
  return out;
}

nlohmann::json OperatorBans::ban_to_json(const OperatorBan& b) {
  return {
      {"prefix", b.prefix.to_string()}, {"since", b.since_s}, {"until", b.until_s}, {"why", b.why}};
}

OperatorBan OperatorBans::ban_from_json(const nlohmann::json& j) {
  OperatorBan b;
  const auto prefix = IpPrefix::parse(j.at("prefix").get<std::string>());
  if (!prefix) throw std::runtime_error(fmt::format("not a prefix: {}", j.at("prefix").dump()));
  b.prefix = *prefix;
  b.since_s = j.at("since").get<uint64_t>();
  b.until_s = j.at("until").get<uint64_t>();
  b.why = j.at("why").get<std::string>();
  return b;
}

}  // namespace sipshield
