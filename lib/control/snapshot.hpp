// What the daemon knows that a restart must not forget: trusted users, banned sources and the
// operators' bans and allows. Written on stop (and every snapshot.interval_s) as one JSON file,
// atomically (a temporary file, fsync, rename); read on start when it is recent and was written for
// the same protected services. Addresses are stored in the clear and hashed again under the new
// start's secret; familiar prefixes are learned again from the trusted users.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "control/operator_bans.hpp"
#include "core/ip_address.hpp"

namespace sipshield {

struct SnapshotSource {
  IpAddress ip;
  uint16_t port = 0;
  uint64_t trusted_until_ms = 0;  // Unix time in ms; 0: not trusted
  uint64_t banned_until_ms = 0;   // likewise
};

struct Snapshot {
  static constexpr unsigned kVersion = 1;
  uint64_t written_ms = 0;                      // Unix time
  std::vector<std::string> protected_services;  // as the config wrote them
  std::vector<SnapshotSource> sources;
  std::vector<OperatorBan> operator_bans;
  std::vector<IpPrefix> operator_allows;
};

// Throws DataplaneError naming the file and what failed; the previous file stays whole.
void write_snapshot(const std::string& path, const Snapshot& snapshot);

// The snapshot at `path` if it can be used at `now_ms` for these protected services; otherwise
// nullopt and `why_not` says why (missing, unreadable, another version, too old, written for
// other services).
std::optional<Snapshot> read_snapshot(const std::string& path, uint64_t now_ms, uint64_t max_age_ms,
                                      const std::vector<std::string>& protected_services,
                                      std::string& why_not);

}  // namespace sipshield
