// One DPDK ethdev in the role of `outside` or `inside`: probed from a PCI address or vdev
// arguments, checked against what the config asks (queues, RSS, MTU, offloads), configured with
// symmetric IP-only RSS, started, and stopped and closed on destruction.
#pragma once

#include <cstdint>
#include <string>

#include <rte_ethdev.h>

#include "config/config.hpp"

namespace sipshield {

class Port {
 public:
  // Probes the device and reads its capabilities; nothing is configured yet.
  Port(std::string role, const PortConfig& config);
  ~Port();
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  // How many RX/TX queue pairs this device can give workers with RSS as configured (1 if the
  // device cannot spread by RSS). `why_single` says why it is 1 when the device would allow more.
  uint16_t max_worker_queues(std::string& why_single) const;

  // Configures `queues` RX and TX queues and starts the port. Throws DataplaneError naming the
  // role, device and the check that failed.
  void start(uint16_t queues, rte_mempool* pool);

  uint16_t id() const { return id_; }
  const std::string& role() const { return role_; }
  const std::string& device() const { return config_.device; }
  const std::string& driver() const { return driver_; }
  int socket() const;
  bool started() const { return started_; }

 private:
  uint64_t requested_rss_types() const;

  std::string role_;
  PortConfig config_;
  uint16_t id_ = RTE_MAX_ETHPORTS;
  rte_eth_dev_info info_{};
  std::string driver_;
  bool started_ = false;
};

}  // namespace sipshield
