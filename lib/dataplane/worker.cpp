#include "dataplane/worker.hpp"

#include <rte_ethdev.h>

namespace sipshield {
namespace {

constexpr unsigned kTxRetries = 8;

// Carries out the verdicts of one burst: forwards to the opposite port's queue in batches, frees
// drops in bulk. Reassembly may release more frames than one burst, so both arrays drain when full.
class PortSink {
 public:
  PortSink(uint16_t tx_port, uint16_t queue, Direction from, WorkerCounters& counters)
      : tx_port_(tx_port), queue_(queue), from_(static_cast<size_t>(from)), counters_(counters) {}
  ~PortSink() { flush(); }

  void forward(rte_mbuf* m, Reason) {
    tx_[tx_count_++] = m;
    if (tx_count_ == kCapacity) flush_tx();
  }
  void drop(rte_mbuf* m, Reason) {
    drops_[drop_count_++] = m;
    if (drop_count_ == kCapacity) flush_drops();
  }
  void flush() {
    flush_tx();
    flush_drops();
  }

 private:
  static constexpr uint16_t kCapacity = 2 * kBurstSize;

  void flush_tx() {
    uint16_t sent = 0;
    for (unsigned attempt = 0; attempt < kTxRetries && sent < tx_count_; ++attempt)
      sent += rte_eth_tx_burst(tx_port_, queue_, tx_ + sent, tx_count_ - sent);
    bump(counters_.tx[from_], sent);
    if (sent < tx_count_) {
      bump(counters_.tx_failed[from_], tx_count_ - sent);
      rte_pktmbuf_free_bulk(tx_ + sent, tx_count_ - sent);
    }
    tx_count_ = 0;
  }
  void flush_drops() {
    if (drop_count_) rte_pktmbuf_free_bulk(drops_, drop_count_);
    drop_count_ = 0;
  }

  uint16_t tx_port_, queue_;
  size_t from_;
  WorkerCounters& counters_;
  uint16_t tx_count_ = 0, drop_count_ = 0;
  rte_mbuf* tx_[kCapacity];
  rte_mbuf* drops_[kCapacity];
};

}  // namespace

Worker::Worker(const Config& config, const KeyedHash& hash, uint16_t outside_port,
               uint16_t inside_port, uint16_t queue, int timestamp_offset)
    : pipeline_(config, hash), ports_{outside_port, inside_port}, queue_(queue) {
  if (timestamp_offset >= 0) pipeline_.use_packet_timestamps(timestamp_offset);
}

void Worker::run(const std::atomic<bool>& stop) {
  rte_mbuf* frames[kBurstSize];
  while (!stop.load(std::memory_order_relaxed)) {
    bool idle = true;
    for (const Direction from : {Direction::from_outside, Direction::from_inside}) {
      const auto d = static_cast<size_t>(from);
      const uint16_t n = rte_eth_rx_burst(ports_[d], queue_, frames, kBurstSize);
      if (n == 0) continue;
      idle = false;
      const uint64_t now = clock_.now_ns();
      last_rx_ns_.store(now, std::memory_order_relaxed);
      PortSink sink(ports_[1 - d], queue_, from, pipeline_.counters());
      pipeline_.process_burst(from, frames, n, now, sink);
    }
    if (idle) {
      PortSink sink(ports_[1], queue_, Direction::from_outside, pipeline_.counters());
      pipeline_.tick(clock_.now_ns(), sink);
    }
  }
  PortSink sink(ports_[1], queue_, Direction::from_outside, pipeline_.counters());
  pipeline_.flush(sink);
}

}  // namespace sipshield
