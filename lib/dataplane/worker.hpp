// One poll-mode worker lcore: owns queue `queue` of both ports and its own pipeline (tables,
// counters). Its own tables are not shared; the familiar-prefix table is (written lock-free by
// every worker), and a reload hands it new scanners and prefix tables between bursts.
// Cost (the rx and tx stages; scripts/bench.sh --json, 2026-12-02, one worker, 2.1 GHz EPYC VM): rx
// 41-270 cycles a frame on net_pcap (its copy of each frame; testpmd pays the same), tx 10-32 (TX
// bursts, bulk frees).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

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
  // Its sampled drops: the worker records, the main lcore drains (single consumer).
  DropSampler& drop_samples() { return pipeline_.drop_samples(); }
  uint16_t queue() const { return queue_; }
  // Since when (TSC ns) the worker has polled both ports empty-handed with nothing pending, or 0
  // while it has work. Measured by the worker itself, so a worker that is descheduled in the
  // middle of a replay does not look idle to the main lcore.
  uint64_t idle_since_ns() const { return idle_since_ns_.load(std::memory_order_relaxed); }

  // Reload, a hand-off without locks: the worker's acknowledgement is its quiescent state.
  // The main lcore offers, under a new generation, a scanner for the new signature rules (null:
  // no signature stage) and the new prefix lists; the worker swaps them in between bursts and
  // hands back the scanner it replaced. The main lcore frees what was replaced once every
  // worker has taken its offer.
  void offer_tables(std::unique_ptr<SignatureScanner> scanner, const PrefixLists* prefixes,
                    uint32_t generation) {
    offered_scanner_ = scanner.release();
    offered_prefixes_ = prefixes;
    offered_generation_.store(generation, std::memory_order_release);
  }
  bool took_tables(uint32_t generation) const {
    return taken_generation_.load(std::memory_order_acquire) == generation;
  }
  std::unique_ptr<SignatureScanner> returned_scanner() {  // once took_tables()
    return std::unique_ptr<SignatureScanner>(std::exchange(returned_scanner_, nullptr));
  }
  // The worker between bursts, or the main lcore once the worker has stopped.
  void take_offered_tables() {
    const uint32_t generation = offered_generation_.load(std::memory_order_acquire);
    if (generation == taken_generation_.load(std::memory_order_relaxed)) return;
    returned_scanner_ =
        pipeline_.replace_scanner(std::unique_ptr<SignatureScanner>(offered_scanner_)).release();
    pipeline_.replace_prefixes(offered_prefixes_);
    offered_scanner_ = nullptr;
    taken_generation_.store(generation, std::memory_order_release);
  }

  // Control operations (sipshield-ctl, snapshots) on the worker's own tables, the same hand-off:
  // the main lcore posts a task under a new generation, the worker runs it between bursts with
  // its clock's milliseconds and marks it done. One task at a time; the main lcore waits.
  using ControlTask = std::function<void(Pipeline&, uint32_t now_ms)>;
  void post(const ControlTask* task, uint32_t generation) {
    posted_task_ = task;
    posted_generation_.store(generation, std::memory_order_release);
  }
  bool done(uint32_t generation) const {
    return done_generation_.load(std::memory_order_acquire) == generation;
  }
  // The worker between bursts, or the main lcore once the worker has stopped.
  void serve_control() {
    const uint32_t generation = posted_generation_.load(std::memory_order_acquire);
    if (generation == done_generation_.load(std::memory_order_relaxed)) return;
    (*posted_task_)(pipeline_, now_ms());
    done_generation_.store(generation, std::memory_order_release);
  }
  // The worker's clock now, in milliseconds (before a launch: restoring a snapshot).
  uint32_t now_ms() const {
    return static_cast<uint32_t>(
        (pipeline_.uses_packet_timestamps() ? pipeline_.latest_ns() : clock_.now_ns()) / 1'000'000);
  }
  Pipeline& pipeline_for_control() { return pipeline_; }  // before the launch or after the stop

 private:
  void run_in_capture_order(const std::atomic<bool>& stop);
  void judge(Direction from, rte_mbuf* const* frames, uint16_t n, uint64_t now);

  Pipeline pipeline_;
  uint16_t ports_[2];  // by Direction: the port frames arrive on
  uint16_t queue_;
  TscClock clock_;
  std::atomic<uint64_t> idle_since_ns_{0};
  SignatureScanner* offered_scanner_ = nullptr;  // both written before offered_generation_
  const PrefixLists* offered_prefixes_ = nullptr;
  SignatureScanner* returned_scanner_ = nullptr;  // written before taken_generation_
  std::atomic<uint32_t> offered_generation_{0};
  std::atomic<uint32_t> taken_generation_{0};
  const ControlTask* posted_task_ = nullptr;  // written before posted_generation_
  std::atomic<uint32_t> posted_generation_{0};
  std::atomic<uint32_t> done_generation_{0};
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
