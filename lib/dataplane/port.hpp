// One DPDK ethdev in the role of `outside` or `inside`: probed from a PCI address or vdev
// arguments, checked against what the config asks (queues, RSS, MTU, offloads), configured with
// symmetric IP-only RSS, started, and stopped and closed on destruction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <rte_ethdev.h>

#include "config/config.hpp"

namespace sipshield {

// What a device counted (rte_eth_stats_get): frames it received and sent, and frames it lost
// before any worker saw them (imissed: RX ring full; rx_nombuf: no mbuf; ierrors: bad frames).
struct PortStats {
  uint64_t ipackets = 0, opackets = 0, ibytes = 0, obytes = 0, imissed = 0, ierrors = 0,
           oerrors = 0, rx_nombuf = 0;
  // Per configured RX queue; empty when the driver fills no per-queue counter.
  std::vector<uint64_t> q_ipackets, q_errors;
  std::string error;  // why the counters could not be read (then all are 0)
};

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

  // The device's counters since start. Call it from the main lcore only, never from a worker.
  PortStats stats() const;

 private:
  uint64_t requested_rss_types() const;

  std::string role_;
  PortConfig config_;
  uint16_t id_ = RTE_MAX_ETHPORTS;
  rte_eth_dev_info info_{};
  std::string driver_;
  bool started_ = false;
  uint16_t queues_ = 0;
};

}  // namespace sipshield
