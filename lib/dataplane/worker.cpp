#include "dataplane/worker.hpp"

#include <rte_ethdev.h>

namespace sipshield {
namespace {

constexpr unsigned kTxRetries = 8;

// Carries out the verdicts of one burst: forwards to the opposite port's queue in batches, frees
// drops in bulk, and sends probes back out of the port they came from (`rx_port`). Reassembly
// may release more frames than one burst, so every array drains when full.
class PortSink {
 public:
  PortSink(uint16_t tx_port, uint16_t rx_port, uint16_t queue, Direction from, Pipeline& pipeline)
      : tx_port_(tx_port),
        rx_port_(rx_port),
        queue_(queue),
        from_(static_cast<size_t>(from)),
        counters_(pipeline.counters()),
        stages_(pipeline.stage_cycles()) {}
  ~PortSink() { flush(); }

  void probe(rte_mbuf* m, Verdict v, const PacketMeta& meta, std::string_view payload) {
    const size_t length = rewrite_as_probe(rte_pktmbuf_mtod(m, uint8_t*), meta, payload);
    if (length == 0) return drop(m, v);
    m->data_len = static_cast<uint16_t>(length);
    m->pkt_len = static_cast<uint32_t>(length);
    m->ol_flags = 0;
    probes_[probe_count_++] = m;
    if (probe_count_ == kCapacity) flush_probes();
  }

  void forward(rte_mbuf* m, Verdict) {
    tx_[tx_count_++] = m;
    if (tx_count_ == kCapacity) flush_tx();
  }
  void drop(rte_mbuf* m, Verdict) {
    drops_[drop_count_++] = m;
    if (drop_count_ == kCapacity) flush_drops();
  }
  void flush() {
    flush_tx();
    flush_drops();
    flush_probes();
  }

 private:
  static constexpr uint16_t kCapacity = 2 * kBurstSize;

  // Sends `count` frames on `port`, retrying a full ring a few times; frees what still found
  // no room (counted as this direction's TX failures). Returns how many were sent.
  uint16_t send(uint16_t port, rte_mbuf** frames, uint16_t count) {
    const StageSpan span(stages_, Stage::tx);
    uint16_t sent = 0;
    for (unsigned attempt = 0; attempt < kTxRetries && sent < count; ++attempt)
      sent += rte_eth_tx_burst(port, queue_, frames + sent, count - sent);
    if (sent < count) {
      bump(counters_.tx_failed[from_], count - sent);
      rte_pktmbuf_free_bulk(frames + sent, count - sent);
    }
    return sent;
  }
  void flush_tx() {
    bump(counters_.tx[from_], send(tx_port_, tx_, tx_count_));
    tx_count_ = 0;
  }
  void flush_probes() {  // back out of the port the requests came in by
    send(rx_port_, probes_, probe_count_);
    probe_count_ = 0;
  }
  void flush_drops() {
    if (drop_count_) {
      const StageSpan span(stages_, Stage::tx);
      rte_pktmbuf_free_bulk(drops_, drop_count_);
    }
    drop_count_ = 0;
  }

  uint16_t tx_port_, rx_port_, queue_;
  size_t from_;
  WorkerCounters& counters_;
  StageCycles& stages_;
  uint16_t tx_count_ = 0, drop_count_ = 0, probe_count_ = 0;
  rte_mbuf* tx_[kCapacity];
  rte_mbuf* drops_[kCapacity];
  rte_mbuf* probes_[kCapacity];
};

}  // namespace

Worker::Worker(const Config& config, const KeyedHash& hash, const SharedTables& shared,
               uint16_t outside_port, uint16_t inside_port, uint16_t queue, int timestamp_offset)
    : pipeline_(config, hash, shared), ports_{outside_port, inside_port}, queue_(queue) {
  if (timestamp_offset >= 0) pipeline_.use_packet_timestamps(timestamp_offset);
  if (shared.budget_shares) pipeline_.share_budgets(shared.budget_shares, queue);
}

void Worker::run(const std::atomic<bool>& stop) {
  if (pipeline_.uses_packet_timestamps()) return run_in_capture_order(stop);
  rte_mbuf* frames[kBurstSize];
  while (!stop.load(std::memory_order_relaxed)) {
    take_offered_tables();
    serve_control();
    bool idle = true;
    for (const Direction from : {Direction::from_outside, Direction::from_inside}) {
      const auto d = static_cast<size_t>(from);
      uint16_t n;
      {
        const StageSpan span(pipeline_.stage_cycles(), Stage::rx);
        n = rte_eth_rx_burst(ports_[d], queue_, frames, kBurstSize);
      }
      if (n == 0) continue;
      idle = false;
      const StageSpan span(pipeline_.stage_cycles(), Stage::burst);
      judge(from, frames, n, clock_.now_ns());
    }
    mark_idle(idle);
    if (idle) {
      PortSink sink(ports_[1], ports_[0], queue_, Direction::from_outside, pipeline_);
      pipeline_.tick(clock_.now_ns(), sink);
    }
  }
  PortSink sink(ports_[1], ports_[0], queue_, Direction::from_outside, pipeline_);
  pipeline_.flush(sink);
}

void Worker::judge(Direction from, rte_mbuf* const* frames, uint16_t n, uint64_t now) {
  const auto d = static_cast<size_t>(from);
  PortSink sink(ports_[1 - d], ports_[d], queue_, from, pipeline_);
  pipeline_.process_burst(from, frames, n, now, sink);
}

// Two captures replayed through two ports arrive at whatever pace each file is read; the
// pipeline must see them interleaved as they happened (a server's answer after the request it
// answers). Frames wait here until the other port has shown a later frame or has run dry.
void Worker::run_in_capture_order(const std::atomic<bool>& stop) {
  struct Pending {
    rte_mbuf* frames[2 * kBurstSize];
    uint16_t head = 0, count = 0;
    bool dry = false;  // the last poll returned nothing
  } pending[2];
  const auto time_of = [this](const rte_mbuf* m) { return pipeline_.frame_timestamp(m); };
  // Judges pending frames in capture-time order for as long as the order is known.
  const auto merge = [&]() {
    bool progressed = false;
    for (;;) {
      Pending &out = pending[0], &in = pending[1];
      const bool have_out = out.head < out.count, have_in = in.head < in.count;
      size_t d;
      if (have_out && have_in) {
        d = time_of(in.frames[in.head]) < time_of(out.frames[out.head]) ? 1 : 0;
      } else if (have_out && in.dry) {
        d = 0;
      } else if (have_in && out.dry) {
        d = 1;
      } else {
        break;
      }
      // A run from one port up to the other port's next frame, at most one burst.
      Pending& p = pending[d];
      const Pending& other = pending[1 - d];
      const bool bounded = other.head < other.count;
      const uint64_t limit = bounded ? time_of(other.frames[other.head]) : 0;
      uint16_t n = 0;
      while (p.head + n < p.count && n < kBurstSize &&
             (!bounded || time_of(p.frames[p.head + n]) <= limit || n == 0))
        ++n;
      judge(static_cast<Direction>(d), p.frames + p.head, n, 0);
      p.head = static_cast<uint16_t>(p.head + n);
      progressed = true;
    }
    return progressed;
  };
  while (!stop.load(std::memory_order_relaxed)) {
    take_offered_tables();
    serve_control();
    for (size_t d = 0; d < 2; ++d) {
      Pending& p = pending[d];
      if (p.head == p.count) p.head = p.count = 0;
      if (p.count + kBurstSize > 2 * kBurstSize) continue;
      const uint16_t n = rte_eth_rx_burst(ports_[d], queue_, p.frames + p.count, kBurstSize);
      p.count = static_cast<uint16_t>(p.count + n);
      p.dry = n == 0;
    }
    const bool progressed = merge();
    // Keep what is left at the front of each array for the next poll.
    for (auto& p : pending) {
      if (p.head == 0) continue;
      std::memmove(p.frames, p.frames + p.head, (p.count - p.head) * sizeof(rte_mbuf*));
      p.count = static_cast<uint16_t>(p.count - p.head);
      p.head = 0;
    }
    mark_idle(!progressed && pending[0].dry && pending[1].dry && pending[0].count == 0 &&
              pending[1].count == 0);
    if (!progressed) {
      PortSink sink(ports_[1], ports_[0], queue_, Direction::from_outside, pipeline_);
      pipeline_.tick(clock_.now_ns(), sink);
    }
  }
  // Frames polled but not judged yet: judged now, still in capture-time order.
  pending[0].dry = pending[1].dry = true;
  merge();
  PortSink sink(ports_[1], ports_[0], queue_, Direction::from_outside, pipeline_);
  pipeline_.flush(sink);
}

}  // namespace sipshield
