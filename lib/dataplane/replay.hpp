// Offline replay: frames from a capture, in order, through the very pipeline the workers run
// (real mbufs from a real mempool), with every frame's verdict kept in input order. Used by
// sipshield-inspect and the tests. Needs a running EAL (see offline_eal_args).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "dataplane/eal.hpp"
#include "esp/keys_file.hpp"
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

// The closed loop of the offline replay (docs/generator.md): the capture is open loop, what the
// clients sent whatever the filter did; this model adds what real clients do in reply. A frame
// for which `real(index)` holds came from a real client: it answers a probe `answer_delay_us`
// after it was sent, and retransmits a request the filter dropped `retransmit_us` later, then
// twice that, up to `retransmissions` times (RFC 3261 timers A and E start at T1, 0.5 s). Forged
// sources do neither. The capture's own later frames keep their times.
struct ClientModel {
  std::function<bool(uint64_t index)> real;
  uint64_t answer_delay_us = 20'000;
  uint64_t retransmit_us = 500'000;
  uint8_t retransmissions = 1;
};

class Replay {
 public:
  Replay(const Config& config, const KeyedHash& hash, ReplayListener* listener = nullptr);
  ~Replay();

  void feed(uint64_t time_us, std::span<const uint8_t> frame);
  // Judges what is still buffered and gives up datagrams that never completed.
  void finish();
  // From now on, real clients answer probes and retransmit (before the first feed). Each frame
  // is then judged as it arrives, as the model's answers must come in time.
  void close_loop(ClientModel model) { model_ = std::move(model); }

  uint64_t frames() const { return next_index_; }
  // A frame's verdict; under the closed loop, that of the retransmission that passed, if one did.
  const std::vector<Verdict>& verdicts() const { return verdicts_; }
  // Per frame: the retransmissions the client model sent before one passed (0: the frame itself
  // passed, or none did). Frames the model adds are not released to the listener.
  uint8_t retransmissions(uint64_t index) const {
    return index < retransmitted_.size() ? retransmitted_[index] : 0;
  }
  // What the model added: probe answers sent, retransmissions sent and those that passed.
  struct LoopCounts {
    uint64_t answers = 0, retransmissions = 0, retransmissions_passed = 0;
  };
  const LoopCounts& loop_counts() const { return loop_counts_; }
  const Pipeline& pipeline() const { return pipeline_; }
  Pipeline& pipeline() { return pipeline_; }

 private:
  friend class ReplaySink;
  void flush_burst();
  void drain_events();
  void release(rte_mbuf* m, Verdict v);
  void probe(rte_mbuf* m, const PacketMeta& meta, std::string_view sip);
  void enqueue(uint64_t time_us, std::span<const uint8_t> frame, uint64_t tag);
  // Feeds, in time order, the model's frames due by `time_us`.
  void inject_until(uint64_t time_us);
  void schedule(uint64_t time_us, std::vector<uint8_t> frame, uint64_t tag);
  // What a real client does about its request's fate (the closed loop): a retransmission that
  // passed settles the original frame's verdict; a dropped request is sent again later while
  // attempts remain.
  void client_reacts(const rte_mbuf* m, uint64_t tag, Verdict v);

  ServiceSet services_;
  std::unique_ptr<SignatureDatabase> signatures_;
  std::unique_ptr<PrefixLists> prefixes_;
  EspKeys esp_keys_;
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

  std::optional<ClientModel> model_;
  struct Injection {
    uint64_t time_us;
    uint64_t tag;  // kInjected, the attempt (0: a probe answer) and the original frame's index
    std::vector<uint8_t> frame;
    bool operator>(const Injection& o) const { return time_us > o.time_us; }
  };
  std::priority_queue<Injection, std::vector<Injection>, std::greater<>> injections_;
  std::vector<uint8_t> retransmitted_;
  LoopCounts loop_counts_;
};

}  // namespace sipshield
