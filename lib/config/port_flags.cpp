#include "config/port_flags.hpp"

#include <rte_ethdev.h>

namespace sipshield {

std::span<const NamedFlag> rss_type_flags() {
  static constexpr NamedFlag kTable[] = {
      {"ipv4", RTE_ETH_RSS_IPV4},
      {"frag_ipv4", RTE_ETH_RSS_FRAG_IPV4},
      {"nonfrag_ipv4_other", RTE_ETH_RSS_NONFRAG_IPV4_OTHER},
      {"nonfrag_ipv4_udp", RTE_ETH_RSS_NONFRAG_IPV4_UDP},
      {"ipv6", RTE_ETH_RSS_IPV6},
      {"frag_ipv6", RTE_ETH_RSS_FRAG_IPV6},
      {"nonfrag_ipv6_other", RTE_ETH_RSS_NONFRAG_IPV6_OTHER},
      {"nonfrag_ipv6_udp", RTE_ETH_RSS_NONFRAG_IPV6_UDP},
      {"ipv6_ex", RTE_ETH_RSS_IPV6_EX},
      {"l3_src_only", RTE_ETH_RSS_L3_SRC_ONLY},
      {"l3_dst_only", RTE_ETH_RSS_L3_DST_ONLY},
  };
  return kTable;
}

std::span<const NamedFlag> rx_offload_flags() {
  static constexpr NamedFlag kTable[] = {
      // Only offloads that leave the frame as it came: the filter is transparent, so no VLAN
      // stripping, CRC keeping or scatter (a frame must sit in one mbuf).
      {"ipv4_cksum", RTE_ETH_RX_OFFLOAD_IPV4_CKSUM},
      {"rss_hash", RTE_ETH_RX_OFFLOAD_RSS_HASH},
  };
  return kTable;
}

std::span<const NamedFlag> tx_offload_flags() {
  static constexpr NamedFlag kTable[] = {
      // One mempool feeds both ports and mbufs are never shared: fast free is safe.
      {"mbuf_fast_free", RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE},
  };
  return kTable;
}

std::optional<uint64_t> find_flag(std::span<const NamedFlag> table, std::string_view name) {
  for (const auto& entry : table)
    if (entry.name == name) return entry.flag;
  return std::nullopt;
}

}  // namespace sipshield
