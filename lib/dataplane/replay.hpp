// Offline replay: frames from a capture, in order, through the very pipeline the workers run
// (real mbufs from a real mempool), with every frame's verdict kept in input order. Used by
// sipshield-inspect and the tests. Needs a running EAL (see offline_eal_args).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "dataplane/eal.hpp"
#include "packet/pcap_file.hpp"
#include "policy/pipeline.hpp"

namespace sipshield {

// EAL options for an offline tool: no hugepages, no PCI, no shared config, one lcore, quiet.
std::vector<std::string> offline_eal_args(const std::string& program);

// Which port a captured frame would have arrived on: addressed to a protected service means
// from outside; sent from one means from inside; anything else (including frames too broken to
// tell) is judged as from outside, where unknown traffic comes from.
Direction capture_direction(std::span<const uint8_t> frame, const ServiceSet& services);

class ReplayListener {
 public:
  virtual ~ReplayListener() = default;
  // A frame's verdict, as the daemon would carry it out (held fragments come later than their
  // arrival). `index` counts frames from 0 in input order.
  virtual void released(uint64_t index, std::span<const uint8_t> frame, uint64_t time_us,
                        Verdict verdict) = 0;
  // A ban, unban or attack the daemon would have reported (capture time).
  virtual void event(const Event&) {}
  // The return-routability probe the daemon would have sent back in place of frame `index`
  // (its SIP text), just before that frame's release.
  virtual void probe(uint64_t /*index*/, std::string_view /*sip*/) {}
};

class Replay {
 public:
  Replay(const Config& config, const KeyedHash& hash, ReplayListener* listener = nullptr);
  ~Replay();

  void feed(uint64_t time_us, std::span<const uint8_t> frame);
  // Judges what is still buffered and gives up datagrams that never completed.
  void finish();

  uint64_t frames() const { return next_index_; }
  const std::vector<Verdict>& verdicts() const { return verdicts_; }
  const Pipeline& pipeline() const { return pipeline_; }
  Pipeline& pipeline() { return pipeline_; }

 private:
  friend class ReplaySink;
  void flush_burst();
  void drain_events();
  void release(rte_mbuf* m, Verdict v);
  void probe(rte_mbuf* m, std::string_view sip);

  ServiceSet services_;
  std::unique_ptr<SignatureDatabase> signatures_;
  std::unique_ptr<PrefixLists> prefixes_;
  Pipeline pipeline_;
  ReplayListener* listener_;
  Mempool pool_;
  int timestamp_offset_;
  int index_offset_;
  std::vector<Verdict> verdicts_;
  rte_mbuf* burst_[kBurstSize];
  uint16_t burst_count_ = 0;
  Direction burst_direction_ = Direction::from_outside;
  uint64_t next_index_ = 0;
};

}  // namespace sipshield
