// Operator-facing names for DPDK RSS types and offloads (DPDK's flag names in lower case, without
// the RTE_ETH_ prefix), shared by config validation and port set-up so the two cannot disagree.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace sipshield {

struct NamedFlag {
  std::string_view name;
  uint64_t flag;
};

std::span<const NamedFlag> rss_type_flags();
std::span<const NamedFlag> rx_offload_flags();
std::span<const NamedFlag> tx_offload_flags();

std::optional<uint64_t> find_flag(std::span<const NamedFlag> table, std::string_view name);

}  // namespace sipshield
