// RAII over the DPDK environment: EAL, mempools and ports come up in order and go down in
// reverse, so a start-up error anywhere unwinds cleanly with a message instead of a half state.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/errors.hpp"

struct rte_mempool;

namespace sipshield {

class Eal {
 public:
  // argv[0] plus EAL options; throws DataplaneError naming rte_errno on failure.
  explicit Eal(const std::vector<std::string>& args);
  ~Eal();
  Eal(const Eal&) = delete;
  Eal& operator=(const Eal&) = delete;
};

class Mempool {
 public:
  Mempool(const std::string& name, uint32_t mbufs, uint16_t cache, uint16_t data_room, int socket);
  ~Mempool();
  Mempool(const Mempool&) = delete;
  Mempool& operator=(const Mempool&) = delete;
  rte_mempool* get() const { return pool_; }

 private:
  rte_mempool* pool_;
};

// The mbuf data room that holds a whole frame of this MTU (two VLAN tags) in one segment.
uint16_t data_room_for_mtu(uint16_t mtu);

// Offset of the rx timestamp dynfield (microseconds from net_pcap), registering it if needed.
int register_timestamp_field();

}  // namespace sipshield
