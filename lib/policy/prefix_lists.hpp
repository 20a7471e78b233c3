// Static allow and deny prefixes (config "allow", "deny"), IPv4 and IPv6, longest prefix wins.
// DPDK's LPM tables (DIR-24-8 for IPv4), built once at start and shared read-only by every
// worker. Allowed sources (trunks, peer SBCs) skip signatures, meters and the untrusted budget;
// denied ones are dropped before any state is touched.
// Cost (the prefixes stage, one bulk lookup per burst; scripts/bench.sh --json, 2026-12-02, one
// worker, 2.1 GHz EPYC VM): 1-2 cycles a frame with empty lists, 12-14 with a deny list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/ip_address.hpp"

struct rte_lpm;
struct rte_lpm6;

namespace sipshield {

// `ban`: an operator's ban (sipshield-ctl), which wins over allow and deny for the same prefix.
enum class PrefixVerdict : uint8_t { none = 0, allow = 1, deny = 2, ban = 3 };

class PrefixLists {
 public:
  // Needs a running EAL (the tables live in DPDK memory). Throws DataplaneError when they
  // cannot be allocated.
  PrefixLists(const std::vector<IpPrefix>& allow, const std::vector<IpPrefix>& deny,
              const std::vector<IpPrefix>& bans = {});
  ~PrefixLists();
  PrefixLists(const PrefixLists&) = delete;
  PrefixLists& operator=(const PrefixLists&) = delete;

  PrefixVerdict lookup(const IpAddress& a) const;
  // The verdicts of n addresses (n <= kBulkMax) in one bulk lookup per family: DPDK's bulk
  // functions keep the table reads of many addresses in flight instead of one after another.
  static constexpr size_t kBulkMax = 32;
  void lookup_bulk(const IpAddress* const* addresses, size_t n, PrefixVerdict* verdicts) const;
  bool empty() const { return !v4_ && !v6_; }

 private:
  rte_lpm* v4_ = nullptr;
  rte_lpm6* v6_ = nullptr;
};

}  // namespace sipshield
