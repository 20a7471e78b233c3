#include "policy/prefix_lists.hpp"

#include <rte_errno.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>

#include <atomic>

#include <fmt/format.h>

#include "core/errors.hpp"

namespace sipshield {
namespace {

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
        const uint32_t ip = uint32_t{p.address.bytes[12]} << 24 |
                            uint32_t{p.address.bytes[13]} << 16 |
                            uint32_t{p.address.bytes[14]} << 8 | p.address.bytes[15];
        rc = rte_lpm_add(v4_, ip, static_cast<uint8_t>(p.family_length()),
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
    const uint32_t ip = uint32_t{a.bytes[12]} << 24 | uint32_t{a.bytes[13]} << 16 |
                        uint32_t{a.bytes[14]} << 8 | a.bytes[15];
    if (rte_lpm_lookup(v4_, ip, &hop) != 0) return PrefixVerdict::none;
  } else {
    if (!v6_ || rte_lpm6_lookup(v6_, a.bytes.data(), &hop) != 0) return PrefixVerdict::none;
  }
  return static_cast<PrefixVerdict>(hop);
}

}  // namespace sipshield
