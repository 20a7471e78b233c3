#include "policy/prefix_lists.hpp"

#include <rte_errno.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>

#include <atomic>
#include <cstring>

#include <fmt/format.h>

#include "core/errors.hpp"

namespace sipshield {
namespace {

uint32_t host_order_v4(const IpAddress& a) {
  return uint32_t{a.bytes[12]} << 24 | uint32_t{a.bytes[13]} << 16 | uint32_t{a.bytes[14]} << 8 |
         a.bytes[15];
}

std::string unique_name(const char* kind) {
  static std::atomic<unsigned> counter{0};
  return fmt::format("{}{}", kind, counter++);
}

}  // namespace

PrefixLists::PrefixLists(const std::vector<IpPrefix>& allow, const std::vector<IpPrefix>& deny,
                         const std::vector<IpPrefix>& bans) {
  size_t v4 = 0, v6 = 0;
  for (const auto* list : {&allow, &deny, &bans})
    for (const auto& p : *list) (p.address.is_v4() ? v4 : v6)++;
  if (v4) {
    rte_lpm_config c{static_cast<uint32_t>(v4), 256, 0};
    v4_ = rte_lpm_create(unique_name("allow_deny4_").c_str(), SOCKET_ID_ANY, &c);
    if (!v4_)
      throw DataplaneError(
          fmt::format("cannot create the IPv4 prefix table: {}", rte_strerror(rte_errno)));
  }
  if (v6) {
    rte_lpm6_config c{static_cast<uint32_t>(v6), 1024, 0};
    v6_ = rte_lpm6_create(unique_name("allow_deny6_").c_str(), SOCKET_ID_ANY, &c);
    if (!v6_) {
      rte_lpm_free(v4_);
      throw DataplaneError(
          fmt::format("cannot create the IPv6 prefix table: {}", rte_strerror(rte_errno)));
    }
  }
  // Deny after allow, bans last: for the very same prefix in several lists, the last wins.
  for (const auto& [list, verdict] :
       {std::pair{&allow, PrefixVerdict::allow}, std::pair{&deny, PrefixVerdict::deny},
        std::pair{&bans, PrefixVerdict::ban}}) {
    for (const auto& p : *list) {
      int rc;
      if (p.address.is_v4()) {
        rc = rte_lpm_add(v4_, host_order_v4(p.address), static_cast<uint8_t>(p.family_length()),
                         static_cast<uint32_t>(verdict));
      } else {
        rc = rte_lpm6_add(v6_, p.address.bytes.data(), p.length, static_cast<uint32_t>(verdict));
      }
      if (rc < 0) {
        rte_lpm_free(v4_);
        rte_lpm6_free(v6_);
        throw DataplaneError(
            fmt::format("cannot add {} to the prefix table: {}", p.to_string(), rte_strerror(-rc)));
      }
    }
  }
}

PrefixLists::~PrefixLists() {
  rte_lpm_free(v4_);
  rte_lpm6_free(v6_);
}

PrefixVerdict PrefixLists::lookup(const IpAddress& a) const {
  uint32_t hop = 0;
  if (a.is_v4()) {
    if (!v4_) return PrefixVerdict::none;
    if (rte_lpm_lookup(v4_, host_order_v4(a), &hop) != 0) return PrefixVerdict::none;
  } else {
    if (!v6_ || rte_lpm6_lookup(v6_, a.bytes.data(), &hop) != 0) return PrefixVerdict::none;
  }
  return static_cast<PrefixVerdict>(hop);
}

void PrefixLists::lookup_bulk(const IpAddress* const* addresses, size_t n,
                              PrefixVerdict* verdicts) const {
  uint32_t ips4[kBulkMax], hops4[kBulkMax];
  uint8_t ips6[kBulkMax][RTE_LPM6_IPV6_ADDR_SIZE];
  int32_t hops6[kBulkMax];
  uint8_t at4[kBulkMax], at6[kBulkMax];
  unsigned n4 = 0, n6 = 0;
  for (size_t i = 0; i < n; ++i) {
    verdicts[i] = PrefixVerdict::none;
    const IpAddress& a = *addresses[i];
    if (a.is_v4()) {
      if (!v4_) continue;
      at4[n4] = static_cast<uint8_t>(i);
      ips4[n4++] = host_order_v4(a);
    } else if (v6_) {
      at6[n6] = static_cast<uint8_t>(i);
      std::memcpy(ips6[n6++], a.bytes.data(), RTE_LPM6_IPV6_ADDR_SIZE);
    }
  }
  if (n4) {
    rte_lpm_lookup_bulk(v4_, ips4, hops4, n4);
    for (unsigned k = 0; k < n4; ++k)
      if (hops4[k] & RTE_LPM_LOOKUP_SUCCESS)
        verdicts[at4[k]] = static_cast<PrefixVerdict>(hops4[k] & 0x00FFFFFF);
  }
  if (n6) {
    rte_lpm6_lookup_bulk_func(v6_, ips6, hops6, n6);
    for (unsigned k = 0; k < n6; ++k)
      if (hops6[k] >= 0) verdicts[at6[k]] = static_cast<PrefixVerdict>(hops6[k]);
  }
}

}  // namespace sipshield
