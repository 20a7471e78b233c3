// The per-burst pipeline: the one implementation of every decision. The daemon's workers, the
// offline replay (sipshield-inspect) and the benchmarks all call process_burst; they differ only
// in the Sink that carries out verdicts (TX queue and mbuf free, or a verdict file).
//
// Sink: void forward(rte_mbuf*, Verdict); void drop(rte_mbuf*, Verdict). Frames held for reassembly
// reach the sink in a later call (when their datagram completes, fails or times out), so a burst
// may release frames from earlier bursts. A sink that can send frames back out of the port they
// came from also has void probe(rte_mbuf*, Verdict, const PacketMeta&, std::string_view): the
// frame is dropped with the verdict, and its mbuf carries a return-routability probe back
// (admission/probe_frame.hpp); other sinks just drop it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string_view>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>

#include "admission/probe_cookie.hpp"
#include "admission/probe_frame.hpp"
#include "admission/probe_limiter.hpp"
#include "core/keyed_hash.hpp"
#include "esp/icv.hpp"
#include "esp/keys_file.hpp"
#include "esp/sa_table.hpp"
#include "packet/parse.hpp"
#include "packet/reassembly.hpp"
#include "policy/mitigation.hpp"
#include "policy/prefix_lists.hpp"
#include "policy/settings.hpp"
#include "signatures/engine.hpp"
#include "sip/message.hpp"
#include "telemetry/counters.hpp"
#include "telemetry/drop_samples.hpp"
#include "telemetry/stage_cycles.hpp"

namespace sipshield {

inline constexpr uint16_t kBurstSize = 32;
inline constexpr unsigned kPrefetchAhead = 3;
inline constexpr unsigned kExpiryPerBurst = 4;        // datagrams expired per burst at most
inline constexpr unsigned kSourceExpiryPerBurst = 8;  // source entries visited per burst

// The protected UDP SIP services: a short list scanned in order (at most 64 entries, validated).
class ServiceSet {
 public:
  explicit ServiceSet(std::span<const ServiceMatch> services)
      : services_(services.begin(), services.end()) {}
  // The index of the first service that matches, or -1.
  int find(const IpAddress& dst, uint16_t port) const {
    for (size_t i = 0; i < services_.size(); ++i)
      if ((!services_[i].port || *services_[i].port == port) && services_[i].prefix.contains(dst))
        return static_cast<int>(i);
    return -1;
  }
  bool matches(const IpAddress& dst, uint16_t port) const { return find(dst, port) >= 0; }
  size_t size() const { return services_.size(); }
  bool matches_address(const IpAddress& dst) const {
    for (const auto& s : services_)
      if (s.prefix.contains(dst)) return true;
    return false;
  }
  bool empty() const { return services_.empty(); }

 private:
  std::vector<ServiceMatch> services_;
};

// Tables shared by every worker's pipeline (any may be null). Signatures and prefixes are
// read-only; a reload replaces them between bursts (dataplane/reload.hpp).
struct SharedTables {
  const SignatureDatabase* signatures = nullptr;
  const PrefixLists* prefixes = nullptr;
  // The operator's ESP keys (esp.keys_file), seeded into every worker's SA table at start.
  const std::vector<EspKeyedSa>* esp_keys = nullptr;
  FamiliarPrefixes* familiar = nullptr;  // written by every worker (lock-free); null: per pipeline
  // The probes' cookie secret, the same for every worker; null: the pipeline draws its own.
  const std::array<uint8_t, 16>* probe_secret = nullptr;
  // Each service's untrusted budgets, split among the workers; null: each pipeline's whole.
  BudgetShares* budget_shares = nullptr;
};

// A sink that can send a return-routability probe back out of the port a request came in by.
template <class Sink>
concept SendsProbes = requires(Sink& sink, rte_mbuf* m, Verdict v, const PacketMeta& meta,
                               std::string_view sip) {
  sink.probe(m, v, meta, sip);
};

// A source's keyed hashes: of its address and port, and of its address alone (the aggregate).
struct SourceHashes {
  uint64_t source;
  uint64_t address;
};

class Pipeline {
 public:
  Pipeline(const PipelineSettings& config, const KeyedHash& hash, const SharedTables& shared)
      : services_(config.protected_services),
        default_action_(config.default_action),
        sip_limits_(config.sip),
        mitigation_(config.policy, hash, services_.size(), shared.familiar),
        sample_trusted_(config.signature_sample_trusted),
        reassembler_(config.reassembly, hash),
        hash_(hash) {
    mitigation_.set_events(&events_);
    if (shared.probe_secret) {
      probe_secret_ = *shared.probe_secret;
    } else {
      std::random_device rd;
      for (auto& b : probe_secret_) b = static_cast<uint8_t>(rd());
    }
    set_up_probes(config.policy);
    if (shared.signatures && !shared.signatures->rules().empty())
      scanner_ = std::make_unique<SignatureScanner>(*shared.signatures);
    replace_prefixes(shared.prefixes);
    if (config.esp.enabled) set_up_esp(config.esp, shared.esp_keys);
  }

  // A reload: the settings of `next` from the next burst on, and every table's entries kept.
  // Between bursts only (Worker::post); allocates, so never on the fast path. The caller has
  // checked (reload_refusals) that no table would change size.
  void reconfigure(const PipelineSettings& next) {
    services_ = ServiceSet(next.protected_services);
    default_action_ = next.default_action;
    sip_limits_ = next.sip;
    sample_trusted_ = next.signature_sample_trusted;
    reassembler_.set_limits(next.reassembly);
    mitigation_.reconfigure(next.policy, services_.size());
    set_up_probes(next.policy);
  }

  // Time from each frame's capture timestamp (microseconds in the mbuf dynfield at `offset`, as
  // net_pcap writes it) instead of the caller's clock: a replay then decides as it did live.
  void use_packet_timestamps(int dynfield_offset) { timestamp_offset_ = dynfield_offset; }
  bool uses_packet_timestamps() const { return timestamp_offset_ >= 0; }
  // A frame's capture time in nanoseconds (packet timestamps only).
  uint64_t frame_timestamp(const rte_mbuf* m) const {
    return *RTE_MBUF_DYNFIELD(m, timestamp_offset_, const uint64_t*) * 1000;
  }

  size_t services() const { return services_.size(); }
  // This pipeline is worker `worker` of those sharing `shares`.
  void share_budgets(BudgetShares* shares, size_t worker) {
    mitigation_.share_budgets(shares, worker);
  }
  WorkerCounters& counters() { return counters_; }
  const WorkerCounters& counters() const { return counters_; }
  // Filled only in a -Dstage_cycles=true build (telemetry/stage_cycles.hpp).
  StageCycles& stage_cycles() { return stages_; }
  const StageCycles& stage_cycles() const { return stages_; }
  const Reassembler& reassembler() const { return reassembler_; }
  const EspSaTable* esp_sas() const { return esp_sas_.get(); }
  EspSaTable* esp_sas() { return esp_sas_.get(); }
  const Mitigation& mitigation() const { return mitigation_; }
  Mitigation& mitigation() { return mitigation_; }  // control operations, between bursts
  // The clock of the last frame or tick judged (TSC or capture time).
  uint64_t latest_ns() const { return latest_ns_; }
  // Bans and attacks, for the main lcore or the replay to drain (single consumer).
  EventRing& events() { return events_; }
  // Sampled copies of dropped frames, for the main lcore to drain (single consumer).
  DropSampler& drop_samples() { return drop_samples_; }
  const SignatureScanner* scanner() const { return scanner_.get(); }
  // Scans with `next` from now on (null: no signature stage) and returns the scanner it
  // replaces, for its owner to free off the fast path. Between bursts only (reload).
  std::unique_ptr<SignatureScanner> replace_scanner(std::unique_ptr<SignatureScanner> next) {
    std::swap(scanner_, next);
    return next;
  }
  // Looks up allow and deny prefixes in `next` from now on (null or empty: none). The caller
  // owns both tables and frees the old one once no worker reads it. Between bursts only.
  void replace_prefixes(const PrefixLists* next) {
    prefixes_ = next && !next->empty() ? next : nullptr;
  }

  // Judges `count` frames that arrived on one port. `now_ns` is the burst's clock (TSC based)
  // unless packet timestamps are in use.
  template <class Sink>
  void process_burst(Direction from, rte_mbuf* const* frames, uint16_t count, uint64_t now_ns,
                     Sink& sink) {
    bump(counters_.rx[static_cast<size_t>(from)], count);
    for (uint16_t first = 0; first < count; first += kBurstSize) {
      const auto n = static_cast<uint16_t>(std::min<unsigned>(kBurstSize, count - first));
      if (from == Direction::from_outside) {
        judge_burst_from_outside(frames + first, n, now_ns, sink);
      } else {
        const StageSpan span(stages_, Stage::inside);
        prefetch_frames(frames + first, n, [&](rte_mbuf* m, uint16_t) {
          learn_from_inside(m, frame_time(m, now_ns));
          emit(sink, m, {Action::pass, Reason::from_inside});
        });
      }
    }
    mitigation_.expire_step(static_cast<uint32_t>(latest_ns_ / 1'000'000), kSourceExpiryPerBurst);
    if (esp_sas_) esp_sas_->expire_step(static_cast<uint32_t>(latest_ns_ / 1'000'000), 2);
    attacks_.tick(latest_ns_, events_);
    EmitDrop<Sink> drops{this, &sink};
    reassembler_.expire(latest_ns_, kExpiryPerBurst, drops.sink());
  }

  // Between bursts (an idle poll): lets time move on the live clock and expires old datagrams,
  // so an idle link does not keep fragments and their mbufs pinned.
  template <class Sink>
  void tick(uint64_t now_ns, Sink& sink) {
    if (timestamp_offset_ < 0 && now_ns > latest_ns_) latest_ns_ = now_ns;
    EmitDrop<Sink> drops{this, &sink};
    reassembler_.expire(latest_ns_, kExpiryPerBurst, drops.sink());
    attacks_.tick(latest_ns_, events_);
  }

  // Gives up every datagram still under reassembly (end of replay, shutdown): those already
  // past the timeout as timed out, whatever the expiry steps had not reached yet, the rest as
  // incomplete. The daemon and the replay therefore end alike however their bursts fell.
  template <class Sink>
  void flush(Sink& sink) {
    EmitDrop<Sink> drops{this, &sink};
    reassembler_.expire(latest_ns_, UINT32_MAX, drops.sink());
    reassembler_.flush(Reason::frag_incomplete, drops.sink());
    attacks_.tick(latest_ns_ + 60'000'000'000ull, events_);  // attacks still on end with the input
  }

 private:
  // One burst's parse results, between the passes of judge_burst_from_outside.
  struct Parsed {
    PacketMeta meta;
    ParseOutcome outcome;
    int service;  // index of the protected service of a whole UDP datagram, or -1
    SourceHashes hashes;
    PrefixVerdict prefix;  // the source's allow/deny/ban verdict, for datagrams and fragments
  };
  // An ESP packet of a keyed SA, waiting for the burst's ICV batch.
  struct EspWaiting {
    rte_mbuf* m;
    PacketMeta meta;
    EspSa* sa;
    std::span<const uint8_t> esp;  // in the frame
    PrefixVerdict prefix;
    uint64_t now;
  };
  static_assert(kBurstSize <= IcvVerifier::kMaxBatch, "a burst's ICVs in one batch");

  template <class Sink>
  struct EmitDrop {
    Pipeline* self;
    Sink* target;
    static void call(void* context, void* owner, Reason reason) {
      auto* e = static_cast<EmitDrop*>(context);
      e->self->emit(*e->target, static_cast<rte_mbuf*>(owner), {Action::drop, reason});
    }
    DropSink sink() { return DropSink{&call, this}; }
  };

  // f(), its cycles counted in `stage` (telemetry/stage_cycles.hpp; nothing in other builds).
  template <class F>
  decltype(auto) timed(Stage stage, F&& f) {
    const StageSpan span(stages_, stage);
    return f();
  }

  // Every verdict is counted once, and drops feed the attack detector, however it is carried out.
  void account(const rte_mbuf* m, Verdict v) {
    counters_.count(v);
    if (v.action != Action::drop) return;
    attacks_.dropped(v.reason, latest_ns_, events_);
    if (drop_samples_.due(latest_ns_))
      drop_samples_.take(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), v,
                         latest_ns_);
  }

  template <class Sink>
  void emit(Sink& sink, rte_mbuf* m, Verdict v) {
    account(m, v);
    if (v.action == Action::pass) {
      sink.forward(m, v);
    } else {
      sink.drop(m, v);
    }
  }

  // Time never runs backwards: a capture whose timestamps step back (merged files, clock
  // adjustments) is judged at the latest time seen so far.
  uint64_t frame_time(const rte_mbuf* m, uint64_t burst_now) {
    uint64_t now = burst_now;
    if (timestamp_offset_ >= 0)
      now = *RTE_MBUF_DYNFIELD(m, timestamp_offset_, const uint64_t*) * 1000;
    if (now > latest_ns_) latest_ns_ = now;
    return latest_ns_;
  }

  static ChecksumState checksum_state(const rte_mbuf* m) {
    switch (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) {
      case RTE_MBUF_F_RX_IP_CKSUM_GOOD:
        return ChecksumState::good;
      case RTE_MBUF_F_RX_IP_CKSUM_BAD:
        return ChecksumState::bad;
      default:
        return ChecksumState::unknown;
    }
  }

  // Calls f(frame, index) for each frame, its data prefetched a few frames ahead.
  template <class F>
  static void prefetch_frames(rte_mbuf* const* frames, uint16_t n, F&& f) {
    for (uint16_t i = 0; i < n && i < kPrefetchAhead; ++i)
      rte_prefetch0(rte_pktmbuf_mtod(frames[i], void*));
    for (uint16_t i = 0; i < n; ++i) {
      if (i + kPrefetchAhead < n)
        rte_prefetch0(rte_pktmbuf_mtod(frames[i + kPrefetchAhead], void*));
      f(frames[i], i);
    }
  }

  // In three passes over at most kBurstSize frames: parse every frame and hash the sources of
  // whole datagrams to protected services, prefetching their buckets; prefetch the entries those
  // buckets lead to; then judge. The table's cache misses overlap instead of queuing.
  template <class Sink>
  void judge_burst_from_outside(rte_mbuf* const* frames, uint16_t n, uint64_t now_ns, Sink& sink) {
    parse_burst(frames, n);
    look_up_prefixes(n);
    for (uint16_t i = 0; i < n; ++i)
      judge_from_outside(frames[i], parsed_[i], frame_time(frames[i], now_ns), sink);
    if (esp_waiting_) verify_esp(sink);
    if (probe_cookie_) send_probes(sink);
  }

  void parse_burst(rte_mbuf* const* frames, uint16_t n) {
    const StageSpan span(stages_, Stage::parse);
    prefetch_frames(frames, n, [&](rte_mbuf* m, uint16_t i) {
      Parsed& p = parsed_[i];
      p.service = -1;
      // Headers and fragment data are read in place: a frame must sit in one segment (the
      // daemon sizes mbufs to the MTU; only scatter or an oversize replay frame gets here).
      if (m->nb_segs != 1) {
        p.outcome = {false, Reason::frame_segmented};
        return;
      }
      p.outcome = parse_frame(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), p.meta,
                              checksum_state(m));
      if (!p.outcome.ok || p.meta.is_fragment || !p.meta.has_udp) return;
      p.service = services_.find(p.meta.dst, p.meta.dst_port);
      if (p.service < 0) return;
      p.hashes = hashes_of(p.meta);
      mitigation_.prefetch_buckets(p.hashes.source, p.hashes.address);
    });
    for (uint16_t i = 0; i < n; ++i)
      if (parsed_[i].service >= 0)
        mitigation_.prefetch_entries(parsed_[i].hashes.source, parsed_[i].hashes.address);
  }

  // One bulk lookup of the burst's sources in the allow, deny and ban prefixes, for the frames
  // that reach a prefix decision: whole datagrams to a protected service, and fragments.
  void look_up_prefixes(uint16_t n) {
    const StageSpan span(stages_, Stage::prefixes);
    const IpAddress* addresses[kBurstSize];
    PrefixVerdict verdicts[kBurstSize];
    uint8_t at[kBurstSize];
    size_t k = 0;
    for (uint16_t i = 0; i < n; ++i) {
      Parsed& p = parsed_[i];
      p.prefix = PrefixVerdict::none;
      if (prefixes_ && p.outcome.ok &&
          (p.service >= 0 || p.meta.is_fragment || p.meta.l4_proto == kProtoEsp)) {
        at[k] = static_cast<uint8_t>(i);
        addresses[k++] = &p.meta.src;
      }
    }
    if (k == 0) return;
    prefixes_->lookup_bulk(addresses, k, verdicts);
    for (size_t j = 0; j < k; ++j) parsed_[at[j]].prefix = verdicts[j];
  }
  static_assert(kBurstSize <= PrefixLists::kBulkMax);

  template <class Sink>
  void judge_from_outside(rte_mbuf* m, const Parsed& p, uint64_t now, Sink& sink) {
    if (!p.outcome.ok) return emit(sink, m, {Action::drop, p.outcome.reason});
    const PacketMeta& meta = p.meta;
    if (meta.ip_version == 0) return emit(sink, m, {Action::pass, Reason::non_ip});
    const auto* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    if (meta.is_fragment) {
      // The port of a later fragment is unknown: hold every fragment to a protected address,
      // then judge the whole datagram by what its first fragment says.
      if (!services_.matches_address(meta.dst)) return emit(sink, m, not_protected());
      if (const auto refused = refused_prefix(p.prefix)) return emit(sink, m, *refused);
      return reassemble(m, frame, meta, p.prefix, now, sink);
    }
    if (p.service < 0) {
      if (esp_sas_ && meta.l4_proto == kProtoEsp && services_.matches_address(meta.dst)) {
        if (const auto refused = refused_prefix(p.prefix)) return emit(sink, m, *refused);
        return judge_esp(m, frame, meta, p.prefix, now, sink);
      }
      return emit(sink, m, not_protected());
    }
    if (const auto refused = refused_prefix(p.prefix)) return emit(sink, m, *refused);
    probe_wanted_ = false;
    const Verdict v = judge_datagram(meta, {frame + meta.payload_offset, meta.payload_length},
                                     p.service, p.hashes, p.prefix, now);
    if (probe_wanted_) return probe(sink, m, meta, v, now);
    emit(sink, m, v);
  }

  // counters.probes is indexed by the limiter's outcomes, then `no_room` (telemetry/counters.hpp).
  static constexpr size_t kProbeSent = static_cast<size_t>(ProbeLimiter::Outcome::send);
  static constexpr size_t kProbeNoRoom = kProbeOutcomes - 1;
  static_assert(std::string_view(kProbeOutcomeNames[kProbeSent]) == "sent");
  static_assert(std::string_view(
                    kProbeOutcomeNames[static_cast<size_t>(ProbeLimiter::Outcome::rate_limited)]) ==
                "rate_limited");
  static_assert(
      std::string_view(
          kProbeOutcomeNames[static_cast<size_t>(ProbeLimiter::Outcome::prefix_limited)]) ==
      "prefix_limited");
  static_assert(
      std::string_view(
          kProbeOutcomeNames[static_cast<size_t>(ProbeLimiter::Outcome::already_probed)]) ==
      "already_probed");
  static_assert(std::string_view(kProbeOutcomeNames[kProbeNoRoom]) == "no_room");

  void set_up_esp(const EspConfig& esp, const std::vector<EspKeyedSa>* keys) {
    icv_ = std::make_unique<IcvVerifier>();
    esp_sas_ = std::make_unique<EspSaTable>(esp.max_sas, esp.replay_window, hash_);
    esp_sas_->set_idle(esp.idle_s * 1000);
    if (!keys) return;
    for (const EspKeyedSa& k : *keys) {
      EspSa* sa = esp_sas_->learn(k.destination, k.spi, k.source, 0);
      if (!sa) break;  // more keys than the table holds: counted as insert failures
      sa->auth = k.key.algorithm;
      sa->encryption = k.encryption;
      sa->key_states = k.key;
      sa->keyed = true;
    }
  }

  // ESP to a protected address: an SA for (destination, SPI) from this source, a fresh sequence
  // number, then the ICV where the SA is keyed (verified with the burst's others at its end).
  template <class Sink>
  void judge_esp(rte_mbuf* m, const uint8_t* frame, const PacketMeta& meta, PrefixVerdict prefix,
                 uint64_t now, Sink& sink) {
    const std::span<const uint8_t> esp(frame + meta.l4_offset, meta.l4_length);
    Verdict refused;
    EspSa* sa = esp_sa_of(meta, esp, refused);
    if (!sa) return emit(sink, m, refused);
    if (!sa->keyed) return emit(sink, m, accept_esp(*sa, meta, esp, prefix, now));
    esp_checks_[esp_waiting_] = icv_check(*sa, esp);
    esp_frames_[esp_waiting_++] = {m, meta, sa, esp, prefix, now};
  }

  // A whole ESP datagram out of reassembly: the same checks, its ICV verified on its own.
  Verdict judge_esp_datagram(const PacketMeta& meta, std::span<const uint8_t> esp,
                             PrefixVerdict prefix, uint64_t now) {
    Verdict refused;
    EspSa* sa = esp_sa_of(meta, esp, refused);
    if (!sa) return refused;
    if (sa->keyed) {
      IcvVerifier::Check check = icv_check(*sa, esp);
      if (!icv_->verify_one(check)) return {Action::drop, Reason::esp_bad_icv};
    }
    return accept_esp(*sa, meta, esp, prefix, now);
  }

  // The checks before the ICV on the ESP packet `esp`: its SA, or null with `refused` set.
  EspSa* esp_sa_of(const PacketMeta& meta, std::span<const uint8_t> esp, Verdict& refused) {
    const StageSpan span(stages_, Stage::esp);
    refused = {Action::drop, Reason::esp_malformed};
    if (esp.size() < 8) return nullptr;
    EspSa* sa = esp_sas_->find(meta.dst, load_be32(esp.data()));
    if (!sa || !(sa->peer == meta.src)) {
      refused.reason = Reason::esp_unknown_spi;
      return nullptr;
    }
    if (esp.size() < 8 + icv_length(sa->auth) + 2) return nullptr;
    if (sa->window.check(load_be32(esp.data() + 4)) != ReplayWindow::Check::fresh) {
      refused.reason = Reason::esp_replayed;
      return nullptr;
    }
    return sa;
  }
  static IcvVerifier::Check icv_check(const EspSa& sa, std::span<const uint8_t> esp) {
    const size_t icv = icv_length(sa.auth);
    return {&sa.key_states, esp.data(), static_cast<uint32_t>(esp.size() - icv),
            esp.data() + esp.size() - icv, false};
  }

  // The burst's keyed ESP packets: their ICVs in one multi-buffer batch, then each judged.
  template <class Sink>
  void verify_esp(Sink& sink) {
    {
      const StageSpan span(stages_, Stage::esp);
      icv_->verify(std::span(esp_checks_.data(), esp_waiting_));
    }
    for (size_t i = 0; i < esp_waiting_; ++i) {
      const EspWaiting& w = esp_frames_[i];
      emit(sink, w.m,
           esp_checks_[i].ok ? accept_esp(*w.sa, w.meta, w.esp, w.prefix, w.now)
                             : Verdict{Action::drop, Reason::esp_bad_icv});
    }
    esp_waiting_ = 0;
  }

  // A packet that passed its SA's checks, ICV included: the window moves (only now, so a forged
  // packet cannot move it), then a null-encrypted inner UDP datagram is judged as plain SIP
  // would be, from the UE's address and inner port; anything else crosses untouched.
  Verdict accept_esp(EspSa& sa, const PacketMeta& outer, std::span<const uint8_t> esp,
                     PrefixVerdict prefix, uint64_t now) {
    const uint32_t seq = load_be32(esp.data() + 4);
    // A copy earlier in the same burst took the number first.
    if (sa.window.check(seq) != ReplayWindow::Check::fresh)
      return {Action::drop, Reason::esp_replayed};
    sa.window.accept(seq);
    sa.seen_ms = static_cast<uint32_t>(now / 1'000'000);
    const Verdict checked{Action::pass, Reason::esp_checked};
    if (sa.encryption != EspEncryption::null) return checked;
    const size_t trailer = esp.size() - icv_length(sa.auth) - 2;  // pad length, next header
    const size_t pad = esp[trailer];
    if (8 + pad > trailer) return {Action::drop, Reason::esp_malformed};
    if (esp[trailer + 1] != kProtoUdp) return checked;  // TCP, or another protocol
    const uint8_t* udp = esp.data() + 8;
    const size_t inner = trailer - pad - 8;
    const uint16_t udp_length = load_be16(udp + 4);
    if (inner < 8 || udp_length < 8 || udp_length > inner)
      return {Action::drop, Reason::esp_malformed};
    PacketMeta meta = outer;
    meta.has_udp = true;
    meta.src_port = load_be16(udp);
    meta.dst_port = load_be16(udp + 2);
    meta.udp_length = udp_length;
    const int service = services_.find(meta.dst, meta.dst_port);
    if (service < 0) return checked;
    carried_by_sa_ = true;  // the UE holds an SA: no probe toward it, none could reach it
    const Verdict v =
        judge_datagram(meta, {udp + 8, udp_length - 8u}, service, hashes_of(meta), prefix, now);
    carried_by_sa_ = false;
    return v;
  }

  // The request is dropped with `v`; its source gets a probe instead, within the limits, if the
  // probe fits in the request's own frame and the sink can send it. The probes of a burst go
  // out together at its end (send_probes), their cookies computed as one multi-buffer batch.
  template <class Sink>
  void probe(Sink& sink, rte_mbuf* m, const PacketMeta& meta, Verdict v, uint64_t now) {
    if constexpr (SendsProbes<Sink>) {
      const StageSpan span(stages_, Stage::probes);
      const uint64_t now_ms = now / 1'000'000;
      const auto outcome = probe_limiter_->take(meta.src, meta.src_port, now_ms);
      if (outcome != ProbeLimiter::Outcome::send) {
        bump(counters_.probes[static_cast<size_t>(outcome)]);
        return emit(sink, m, v);
      }
      const size_t i = probes_waiting_++;  // at most one per frame of the burst
      probe_frames_[i] = {m, meta, v};
      probe_requests_[i] = {meta.src, meta.dst, meta.src_port, meta.dst_port, now_ms};
    } else {
      emit(sink, m, v);
    }
  }

  template <class Sink>
  void send_probes(Sink& sink) {
    if constexpr (SendsProbes<Sink>) {
      if (probes_waiting_ == 0) return;
      const StageSpan span(stages_, Stage::probes);
      probe_cookie_->make(std::span(probe_requests_.data(), probes_waiting_),
                          std::span(probe_cookies_.data(), probes_waiting_));
      for (size_t i = 0; i < probes_waiting_; ++i) {
        auto& [m, meta, v] = probe_frames_[i];
        const size_t n = write_probe_text(probe_text_.data(), meta.src, meta.src_port, meta.dst,
                                          meta.dst_port, probe_cookies_[i]);
        if (n > meta.payload_length) {  // a probe never amplifies
          bump(counters_.probes[kProbeNoRoom]);
          emit(sink, m, v);
          continue;
        }
        bump(counters_.probes[kProbeSent]);
        account(m, v);  // before the probe takes the frame's place
        sink.probe(m, v, meta, std::string_view(probe_text_.data(), n));
      }
      probes_waiting_ = 0;
    }
  }

  template <class Sink>
  void reassemble(rte_mbuf* m, const uint8_t* frame, const PacketMeta& meta, PrefixVerdict prefix,
                  uint64_t now, Sink& sink) {
    FragmentKey key{meta.src,
                    meta.dst,
                    meta.frag_id,
                    meta.ip_version,
                    static_cast<uint8_t>(meta.ip_version == 4 ? meta.l4_proto : 0),
                    {}};
    const Fragment fragment{m,
                            frame + meta.frag_data_offset,
                            meta.frag_data_length,
                            meta.frag_offset,
                            meta.more_fragments,
                            meta.frag_first_skip,
                            meta.l4_proto};
    EmitDrop<Sink> drops{this, &sink};
    if (timed(Stage::reassembly, [&] {
          return reassembler_.add(key, fragment, now, drops.sink());
        }) != Reassembler::State::completed)
      return;
    const auto& whole = reassembler_.completed();
    const Verdict verdict = judge_reassembled(meta, whole, prefix, now);
    for (void* owner : whole.fragments) emit(sink, static_cast<rte_mbuf*>(owner), verdict);
  }

  // The first fragment told the L4 protocol and where the UDP header starts in the datagram.
  // `prefix`: the verdict of the last fragment's source, which is the datagram's.
  Verdict judge_reassembled(const PacketMeta& last, const Reassembler::Completed& whole,
                            PrefixVerdict prefix, uint64_t now) {
    const auto& d = whole.datagram;
    const size_t skip = whole.first_skip;
    if (whole.l4_proto == kProtoEsp && esp_sas_ && skip <= d.size())  // ESP past the MTU
      return judge_esp_datagram(last, d.subspan(skip), prefix, now);
    if (whole.l4_proto != kProtoUdp) return not_protected();
    if (d.size() < skip + 8) return {Action::drop, Reason::frag_tiny};
    PacketMeta meta = last;
    const uint8_t* udp = d.data() + skip;
    meta.has_udp = true;
    meta.l4_proto = kProtoUdp;
    meta.src_port = load_be16(udp);
    meta.dst_port = load_be16(udp + 2);
    meta.udp_length = load_be16(udp + 4);
    const int service = services_.find(meta.dst, meta.dst_port);
    if (service < 0) return not_protected();
    if (meta.udp_length < 8 || meta.udp_length > d.size() - skip)
      return {Action::drop, Reason::udp_bad_length};
    return judge_datagram(meta, d.subspan(skip + 8, meta.udp_length - 8u), service, hashes_of(meta),
                          prefix, now);
  }

  Verdict not_protected() const { return {default_action_, Reason::not_protected}; }
  // The aggregate entry of the source's address, for sources without trust only.
  SourceEntry* address_of(const PacketMeta& meta, uint64_t hash, const SourceEntry* src,
                          uint32_t now_ms) {
    return mitigation_.trusted(src, now_ms) ? nullptr
                                            : mitigation_.address_entry(meta, hash, src, now_ms);
  }
  SourceHashes hashes_of(const PacketMeta& meta) const {
    return {mitigation_.source_hash(meta), mitigation_.address_hash(meta)};
  }
  // A source in a deny prefix or in an operator's ban (sipshield-ctl ban): its drop.
  static std::optional<Verdict> refused_prefix(PrefixVerdict prefix) {
    switch (prefix) {
      case PrefixVerdict::deny:
        return Verdict{Action::drop, Reason::denied_prefix};
      case PrefixVerdict::ban:
        return Verdict{Action::drop, Reason::operator_banned};
      default:
        return std::nullopt;
    }
  }

  // A whole UDP datagram addressed to a protected service: cheapest decisions first. A banned
  // source costs a lookup; then the message must be SIP the tokenizer accepts; sources without
  // trust are scanned for signatures; then the meters of the source's tier and, without trust,
  // the shared untrusted budget.
  // Counted by the source's tier and the service as well.
  Verdict judge_datagram(const PacketMeta& meta, std::span<const uint8_t> payload, int service,
                         SourceHashes hashes, PrefixVerdict prefix, uint64_t now) {
    const Verdict v = judge_source(meta, payload, service, hashes, prefix, now);
    counters_.count_judged(v, tier_, static_cast<size_t>(service));
    return v;
  }
  Verdict judge_source(const PacketMeta& meta, std::span<const uint8_t> payload, int service,
                       SourceHashes hashes, PrefixVerdict prefix, uint64_t now) {
    const auto now_ms = static_cast<uint32_t>(now / 1'000'000);
    mitigation_.set_time(now);
    SourceEntry* src =
        timed(Stage::source, [&] { return mitigation_.source(meta, hashes.source, now_ms); });
    tier_ = Tier::banned;
    if (mitigation_.banned(src, now_ms)) return {Action::drop, Reason::source_banned};
    tier_ = mitigation_.trusted(src, now_ms) ? Tier::trusted : Tier::untrusted;
    const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    const SipVerdict sip =
        timed(Stage::tokenizer, [&] { return tokenize(text, message_, sip_limits_); });
    if (!sip.ok) {
      mitigation_.demerit(src, mitigation_.config().demerits_malformed, now_ms, sip.reason);
      return {Action::drop, sip.reason};
    }
    if (probe_cookie_ && message_.kind == SipKind::response) {  // an answer to our probe?
      const std::string_view branch = message_.top_via.branch.in(text);
      if (branch.starts_with(ProbeCookie::kBranchPrefix)) {
        if (!probe_cookie_->check(branch.substr(ProbeCookie::kBranchPrefix.size()), meta.src,
                                  meta.src_port, meta.dst, meta.dst_port, now / 1'000'000)) {
          mitigation_.demerit(src, mitigation_.config().demerits_auth_failure, now_ms,
                              Reason::probe_cookie_invalid);
          return {Action::drop, Reason::probe_cookie_invalid};
        }
        mitigation_.verify(meta, now_ms);  // a full table leaves it unverified (counted)
        return {Action::drop, Reason::probe_answer};
      }
    }
    if (const auto orphan = timed(Stage::dialog, [&] {
          return mitigation_.check_dialog(meta, message_, text, now_ms);
        })) {
      mitigation_.demerit(src, mitigation_.config().demerits_no_dialog, now_ms, *orphan);
      return {Action::drop, *orphan};
    }
    if (prefix == PrefixVerdict::allow) {  // trunks and peer SBCs: no signatures, meters or budget
      tier_ = Tier::allowed;
      if (message_.kind == SipKind::keepalive) return {Action::pass, Reason::sip_keepalive};
      timed(Stage::meters, [&] { mitigation_.note_admitted(meta, message_, text, now_ms); });
      return {Action::pass, Reason::admitted};
    }
    if (message_.kind == SipKind::keepalive) {  // metered like other requests, never scanned
      const Verdict v = timed(Stage::meters, [&] {
        return mitigation_.admit(src, address_of(meta, hashes.address, src, now_ms), message_, text,
                                 service, now_ms);
      });
      return v.action == Action::pass ? Verdict{Action::pass, Reason::sip_keepalive} : v;
    }
    // Whether a first contact waits for a probe is decided before the scan: a spoofed flood's
    // every message is the first from a new source and is held whatever it says, so scanning it
    // would cost more than all the rest and decide nothing (a ban of a forged address falls on
    // whoever owns it). Held sources are scanned from their second message on: a scanner at a
    // real address is still banned, one message later.
    const bool untrusted = !mitigation_.trusted(src, now_ms);
    const bool verified =
        probe_cookie_ && untrusted && mitigation_.verified(meta, hashes.source, now_ms);
    const bool probeable = probe_cookie_ && untrusted && !verified && !carried_by_sa_ &&
                           message_.kind == SipKind::request && message_.method != SipMethod::ACK &&
                           !services_.matches_address(meta.src);  // never toward the servers
    const bool held =
        probeable && timed(Stage::meters, [&] { return held_for_probe(src, service, now_ms); });
    uint16_t rule = kNoRule;
    if (scanner_ && !(held && (!src || src->messages <= 1)) && (untrusted || sample_trusted())) {
      const auto hit = timed(Stage::scan, [&] { return scanner_->scan(text, message_); });
      rule = hit.rule;
      if (hit.rule != kNoRule) {
        const Rule& r = scanner_->database().rules()[hit.rule];
        if (r.action == RuleAction::ban)
          src = mitigation_.ban(src, r.ban_seconds, now_ms, Reason::sip_signature, &r);
        if (r.action == RuleAction::demerit)
          src = mitigation_.demerit(src, uint16_t(r.demerits), now_ms, Reason::sip_signature);
      }
      if (hit.decisive) return {Action::drop, Reason::sip_signature, hit.rule};
    }
    const StageSpan meters(stages_, Stage::meters);  // the rest: admission
    const bool trusted = mitigation_.trusted(src, now_ms);
    tier_ = trusted ? Tier::trusted : verified ? Tier::verified : Tier::untrusted;
    if (held) {
      probe_wanted_ = true;
      return {Action::drop, Reason::unverified, rule};
    }
    Verdict v = mitigation_.admit(src, address_of(meta, hashes.address, src, now_ms), message_,
                                  text, service, now_ms, verified);
    v.rule = rule;
    if (v.action == Action::pass) mitigation_.note_admitted(meta, message_, text, now_ms, service);
    // Under pressure: the budget, or an AOR's meter or lock (which forged REGISTERs naming real
    // users can spend or close), refused it; the source may prove it receives at its address.
    probe_wanted_ =
        probeable && (v.reason == Reason::untrusted_budget || v.reason == Reason::aor_locked ||
                      v.reason == Reason::aor_rate_limited);
    return v;
  }

  // A first contact proves it receives first: always, or while first contacts surge (a spoofed
  // flood would drain the newcomers' bucket, and with it pass at its rate). The source's own
  // history decides, not its address's: in a surge a port-rotating address's requests are held
  // like any first contact (each new port needs a probe of its own, which the per-prefix limit
  // caps), and a spoofed flood forging a user's address cannot turn that user's first contact
  // into a bot's, refused without a probe. Counts the arrival (once per message).
  bool held_for_probe(const SourceEntry* src, int service, uint32_t now_ms) {
    const Pace pace = mitigation_.pace(src, now_ms);
    return (pace == Pace::newcomer || pace == Pace::familiar) &&
           (mitigation_.config().probe_mode == ProbeMode::always ||
            mitigation_.first_contact_surge(static_cast<size_t>(service), pace, now_ms));
  }

  // Trusted sources skip the scan but for one message in `sample_trusted_`.
  bool sample_trusted() {
    if (sample_trusted_ == 0) return false;
    if (++trusted_unscanned_ < sample_trusted_) return false;
    trusted_unscanned_ = 0;
    return true;
  }

  // What the servers answer teaches trust (200 OK to REGISTER), nonces (401/407) and failures
  // (403). Unfragmented datagrams only; the frame itself is always forwarded.
  void learn_from_inside(const rte_mbuf* m, uint64_t now) {
    if (m->nb_segs != 1) return;
    PacketMeta meta;
    const auto* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    if (!parse_frame(frame, rte_pktmbuf_data_len(m), meta, checksum_state(m)).ok || !meta.has_udp ||
        !services_.matches(meta.src, meta.src_port))
      return;
    // A first fragment carries the start line and the headers: enough to learn from.
    const size_t from = meta.is_fragment ? meta.l4_offset + 8u : meta.payload_offset;
    const size_t to = meta.is_fragment ? size_t{meta.frag_data_offset} + meta.frag_data_length
                                       : size_t{meta.payload_offset} + meta.payload_length;
    if (to <= from) return;
    const std::string_view text(reinterpret_cast<const char*>(frame + from), to - from);
    if (!tokenize(text, message_, sip_limits_, meta.is_fragment).ok) return;
    const auto now_ms = static_cast<uint32_t>(now / 1'000'000);
    mitigation_.learn(meta, message_, text, now_ms);
    if (esp_sas_) learn_sas(meta, text, now_ms);
  }

  // The P-CSCF's Security-Server (RFC 3329, in its 401 to a REGISTER) names the SPIs it will
  // receive on from the UE the 401 goes to: the SAs inbound at the P-CSCF.
  void learn_sas(const PacketMeta& meta, std::string_view text, uint32_t now_ms) {
    const SecurityMechanism& sec = message_.security_server;
    if (message_.kind != SipKind::response || !sec.present ||
        !is_ipsec_3gpp(sec.mechanism.in(text)))
      return;
    const auto auth = auth_algorithm_from_name(sec.alg.in(text));
    const std::string_view ealg = sec.ealg.in(text);
    const EspEncryption encryption = ealg.empty() || ealg == "null" ? EspEncryption::null
                                     : ealg == "aes-cbc"            ? EspEncryption::aes_cbc
                                                                    : EspEncryption::other;
    for (const uint32_t spi : {sec.spi_c, sec.spi_s}) {
      if (spi == 0) continue;
      EspSa* sa = esp_sas_->learn(meta.src, spi, meta.dst, now_ms);
      if (!sa) continue;  // full: counted by the table
      if (!sa->keyed) sa->auth = auth.value_or(AuthAlgorithm::none);
      sa->encryption = encryption;
    }
  }

  // Probes with the cookie secret every worker shares (a reload keeps it: the answers to probes
  // sent before still verify).
  void set_up_probes(const PolicyConfig& policy) {
    if (policy.probe_mode == ProbeMode::never) {
      probe_cookie_.reset();
      probe_limiter_.reset();
      return;
    }
    probe_cookie_ = std::make_unique<ProbeCookie>(probe_secret_, policy.probe_cookie);
    probe_limiter_ =
        std::make_unique<ProbeLimiter>(policy.probe_limits, policy.probe_cookie.slot_s, hash_);
  }

  ServiceSet services_;
  Action default_action_;
  SipLimits sip_limits_;
  Mitigation mitigation_;
  EventRing events_;
  AttackDetector attacks_;
  DropSampler drop_samples_;
  uint32_t sample_trusted_;
  uint32_t trusted_unscanned_ = 0;
  SipMessage message_;  // the message being judged; reused, never allocated
  // ESP (esp.enabled): the SAs, the ICV verifier, and a burst's packets waiting for their ICV.
  std::unique_ptr<EspSaTable> esp_sas_;
  std::unique_ptr<IcvVerifier> icv_;
  std::array<EspWaiting, kBurstSize> esp_frames_;
  std::array<IcvVerifier::Check, kBurstSize> esp_checks_;
  size_t esp_waiting_ = 0;
  bool carried_by_sa_ = false;  // judging the inner message of an ESP packet
  std::unique_ptr<SignatureScanner> scanner_;
  const PrefixLists* prefixes_ = nullptr;
  Reassembler reassembler_;
  const KeyedHash& hash_;
  std::array<uint8_t, 16> probe_secret_{};
  WorkerCounters counters_;
  StageCycles stages_;
  std::array<Parsed, kBurstSize> parsed_;
  std::unique_ptr<ProbeCookie> probe_cookie_;  // null: probes off
  std::unique_ptr<ProbeLimiter> probe_limiter_;
  bool probe_wanted_ = false;
  Tier tier_ = Tier::untrusted;  // of the source judge_source judged last  // set by
                                 // judge_datagram: the dropped request earns a probe
  struct ProbeFrame {
    rte_mbuf* m;
    PacketMeta meta;
    Verdict verdict;
  };
  static_assert(ProbeCookie::kBatchMax >= kBurstSize, "a burst's cookies in one batch");
  std::array<ProbeFrame, kBurstSize> probe_frames_;  // this burst's, sent at its end
  std::array<ProbeCookie::Request, kBurstSize> probe_requests_;
  std::array<ProbeCookie::Text, kBurstSize> probe_cookies_;
  size_t probes_waiting_ = 0;
  std::array<char, kProbeTextMax> probe_text_;
  int timestamp_offset_ = -1;
  uint64_t latest_ns_ = 0;
};

}  // namespace sipshield
