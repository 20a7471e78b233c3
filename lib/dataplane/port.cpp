#include "dataplane/port.hpp"

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_log.h>

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "config/port_flags.hpp"
#include "dataplane/eal.hpp"

namespace sipshield {
namespace {

bool looks_like_pci(const std::string& device) {
  // 0000:03:00.0 or 03:00.0
  size_t colons = 0, dots = 0;
  for (char c : device) {
    if (c == ':')
      ++colons;
    else if (c == '.')
      ++dots;
    else if (!std::isxdigit(static_cast<unsigned char>(c)))
      return false;
  }
  return colons >= 1 && dots == 1;
}

// 0x6d5a repeated: a Toeplitz key under which (a, b) and (b, a) hash alike (Woo & Park, 2012), so
// both directions of a client-server pair and all fragments of a datagram meet on one worker.
constexpr std::array<uint8_t, 128> symmetric_key() {  // longer than any NIC's key
  std::array<uint8_t, 128> key{};
  for (size_t i = 0; i < key.size(); i += 2) {
    key[i] = 0x6d;
    key[i + 1] = 0x5a;
  }
  return key;
}

uint64_t flags_of(const std::vector<std::string>& names, std::span<const NamedFlag> table) {
  uint64_t flags = 0;
  for (const auto& n : names) flags |= find_flag(table, n).value_or(0);
  return flags;
}

}  // namespace

Port::Port(std::string role, const PortConfig& config) : role_(std::move(role)), config_(config) {
  const std::string& device = config_.device;
  std::string name = device.substr(0, device.find(','));
  // EAL names PCI ports with their domain: 03:00.0 is 0000:03:00.0.
  if (looks_like_pci(device) && std::count(name.begin(), name.end(), ':') == 1)
    name = "0000:" + name;
  if (!looks_like_pci(device)) {
    if (rte_dev_probe(device.c_str()) != 0)
      throw DataplaneError(fmt::format("ports.{}: cannot probe vdev \"{}\": {}", role_, device,
                                       rte_strerror(rte_errno)));
  }
  if (rte_eth_dev_get_port_by_name(name.c_str(), &id_) != 0)
    throw DataplaneError(fmt::format(
        "ports.{}: no DPDK port named \"{}\" (a PCI device must be bound to a DPDK driver and "
        "allowed with -a; a vdev name starts with its driver, e.g. net_pcap0)",
        role_, name));
  if (const int rc = rte_eth_dev_info_get(id_, &info_); rc != 0)
    throw DataplaneError(fmt::format("ports.{} ({}): cannot read device info: {}", role_, device,
                                     rte_strerror(-rc)));
  driver_ = info_.driver_name ? info_.driver_name : "?";
}

Port::~Port() {
  if (id_ == RTE_MAX_ETHPORTS) return;
  if (started_) rte_eth_dev_stop(id_);
  rte_eth_dev_close(id_);
}

int Port::socket() const {
  const int s = rte_eth_dev_socket_id(id_);
  return s < 0 ? 0 : s;
}

uint64_t Port::requested_rss_types() const {
  return flags_of(config_.rss.types, rss_type_flags());
}

uint16_t Port::max_worker_queues(std::string& why_single) const {
  const uint16_t queues = std::min(info_.max_rx_queues, info_.max_tx_queues);
  if (config_.rss.by_device) {
    if (queues <= 1) why_single = fmt::format("device {} has a single queue", config_.device);
    return std::max<uint16_t>(queues, 1);
  }
  if (!config_.rss.enabled) {
    why_single = "rss.enabled is false";
    return 1;
  }
  if ((info_.flow_type_rss_offloads & requested_rss_types()) == 0) {
    why_single = fmt::format("driver {} offers none of the requested RSS types", driver_);
    return 1;
  }
  if (queues <= 1) why_single = fmt::format("driver {} has a single queue", driver_);
  return std::max<uint16_t>(queues, 1);
}

void Port::start(uint16_t queues, rte_mempool* pool) {
  const std::string where = fmt::format("ports.{} ({})", role_, config_.device);
  if (queues > info_.max_rx_queues || queues > info_.max_tx_queues)
    throw DataplaneError(
        fmt::format("{}: {} workers need {} RX and TX queues; the device has {} "
                    "RX and {} TX",
                    where, queues, queues, info_.max_rx_queues, info_.max_tx_queues));
  if (config_.mtu < info_.min_mtu || config_.mtu > info_.max_mtu)
    throw DataplaneError(fmt::format("{}: mtu {} is outside the device's range {}-{}", where,
                                     config_.mtu, info_.min_mtu, info_.max_mtu));

  rte_eth_conf conf{};
  auto key = symmetric_key();
  if (queues > 1 && !config_.rss.by_device) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = requested_rss_types() & info_.flow_type_rss_offloads;
    if (config_.rss.symmetric_key) {
      conf.rx_adv_conf.rss_conf.rss_key = key.data();
      conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<uint8_t>(
          std::min<size_t>(info_.hash_key_size ? info_.hash_key_size : 40, key.size()));
    }
  }
  const uint64_t rx_wanted = flags_of(config_.rx_offloads, rx_offload_flags());
  const uint64_t tx_wanted = flags_of(config_.tx_offloads, tx_offload_flags());
  conf.rxmode.offloads = rx_wanted & info_.rx_offload_capa;
  conf.txmode.offloads = tx_wanted & info_.tx_offload_capa;
  for (const auto& name : config_.rx_offloads)
    if ((find_flag(rx_offload_flags(), name).value_or(0) & info_.rx_offload_capa) == 0)
      RTE_LOG(INFO, USER1, "%s: rx offload %s not offered by %s; the filter checks in software\n",
              where.c_str(), name.c_str(), driver_.c_str());
  for (const auto& name : config_.tx_offloads)
    if ((find_flag(tx_offload_flags(), name).value_or(0) & info_.tx_offload_capa) == 0)
      RTE_LOG(WARNING, USER1, "%s: tx offload %s not offered by %s; not used\n", where.c_str(),
              name.c_str(), driver_.c_str());

  if (int rc = rte_eth_dev_configure(id_, queues, queues, &conf); rc != 0)
    throw DataplaneError(
        fmt::format("{}: configure with {} queues failed: {}", where, queues, rte_strerror(-rc)));
  if (int rc = rte_eth_dev_set_mtu(id_, config_.mtu); rc != 0 && rc != -ENOTSUP)
    throw DataplaneError(
        fmt::format("{}: setting mtu {} failed: {}", where, config_.mtu, rte_strerror(-rc)));

  uint16_t rx_desc = config_.rx_descriptors, tx_desc = config_.tx_descriptors;
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(id_, &rx_desc, &tx_desc); rc != 0)
    throw DataplaneError(
        fmt::format("{}: descriptor counts refused: {}", where, rte_strerror(-rc)));
  for (uint16_t q = 0; q < queues; ++q) {
    rte_eth_rxconf rxconf = info_.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    if (int rc = rte_eth_rx_queue_setup(id_, q, rx_desc, socket(), &rxconf, pool); rc != 0)
      throw DataplaneError(
          fmt::format("{}: rx queue {} setup failed: {}", where, q, rte_strerror(-rc)));
    rte_eth_txconf txconf = info_.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    if (int rc = rte_eth_tx_queue_setup(id_, q, tx_desc, socket(), &txconf); rc != 0)
      throw DataplaneError(
          fmt::format("{}: tx queue {} setup failed: {}", where, q, rte_strerror(-rc)));
  }
  if (int rc = rte_eth_dev_start(id_); rc != 0)
    throw DataplaneError(fmt::format("{}: start failed: {}", where, rte_strerror(-rc)));
  started_ = true;
  queues_ = queues;
  if (config_.promiscuous) {
    const int rc = rte_eth_promiscuous_enable(id_);
    if (rc != 0 && rc != -ENOTSUP)
      throw DataplaneError(
          fmt::format("{}: promiscuous mode refused: {}", where, rte_strerror(-rc)));
  }
}

PortStats Port::stats() const {
  PortStats out;
  rte_eth_stats s{};
  if (const int rc = rte_eth_stats_get(id_, &s); rc != 0) {
    out.error = rte_strerror(-rc);
    return out;
  }
  out.ipackets = s.ipackets;
  out.opackets = s.opackets;
  out.ibytes = s.ibytes;
  out.obytes = s.obytes;
  out.imissed = s.imissed;
  out.ierrors = s.ierrors;
  out.oerrors = s.oerrors;
  out.rx_nombuf = s.rx_nombuf;
  const uint16_t queues = std::min<uint16_t>(queues_, RTE_ETHDEV_QUEUE_STAT_CNTRS);
  bool filled = false;
  for (uint16_t q = 0; q < queues; ++q) filled = filled || s.q_ipackets[q] || s.q_errors[q];
  if (filled) {
    out.q_ipackets.assign(s.q_ipackets, s.q_ipackets + queues);
    out.q_errors.assign(s.q_errors, s.q_errors + queues);
  }
  return out;
}

}  // namespace sipshield
