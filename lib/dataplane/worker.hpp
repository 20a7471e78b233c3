// One poll-mode worker lcore: owns queue `queue` of both ports and its own pipeline (tables,
// counters). Nothing here is shared with other workers; the main lcore only reads counters.
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_common.h>

#include "config/config.hpp"
#include "dataplane/clock.hpp"
#include "policy/pipeline.hpp"

namespace sipshield {

class alignas(RTE_CACHE_LINE_SIZE) Worker {
 public:
  Worker(const Config& config, const KeyedHash& hash, const SharedTables& shared,
         uint16_t outside_port, uint16_t inside_port, uint16_t queue, int timestamp_offset);

  // Polls both ports until `stop` is set, then gives up held fragments and drains TX.
  void run(const std::atomic<bool>& stop);

  const Pipeline& pipeline() const { return pipeline_; }
  // The worker's event ring: the worker records, the main lcore drains (single consumer).
  EventRing& events() { return pipeline_.events(); }
  uint16_t queue() const { return queue_; }
  // Since when (TSC ns) the worker has polled both ports empty-handed with nothing pending, or 0
  // while it has work. Measured by the worker itself, so a worker that is descheduled in the
  // middle of a replay does not look idle to the main lcore.
  uint64_t idle_since_ns() const { return idle_since_ns_.load(std::memory_order_relaxed); }

 private:
  void run_in_capture_order(const std::atomic<bool>& stop);
  void judge(Direction from, rte_mbuf* const* frames, uint16_t n, uint64_t now);

  Pipeline pipeline_;
  uint16_t ports_[2];  // by Direction: the port frames arrive on
  uint16_t queue_;
  TscClock clock_;
  std::atomic<uint64_t> idle_since_ns_{0};
  void mark_idle(bool idle) {
    if (!idle) {
      if (idle_since_ns_.load(std::memory_order_relaxed))
        idle_since_ns_.store(0, std::memory_order_relaxed);
    } else if (!idle_since_ns_.load(std::memory_order_relaxed)) {
      idle_since_ns_.store(clock_.now_ns(), std::memory_order_relaxed);
    }
  }
};

}  // namespace sipshield
