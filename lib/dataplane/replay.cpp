#include "dataplane/replay.hpp"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <fmt/format.h>

#include "packet/builder.hpp"

namespace sipshield {
namespace {

constexpr uint16_t kReplayDataRoom = 9216 + RTE_PKTMBUF_HEADROOM;  // jumbo frames in one segment

// The index field of a frame the client model added: this bit, the attempt in bits 48-55, the
// original frame's index below.
constexpr uint64_t kInjected = 1ull << 63;
constexpr uint64_t kIndexMask = (1ull << 48) - 1;
uint64_t injected_tag(uint64_t origin, unsigned attempt) {
  return kInjected | uint64_t{attempt} << 48 | origin;
}

// A request a client would retransmit when no answer comes: a whole UDP datagram (a dropped
// fragment would need the whole datagram again) whose payload is a SIP request other than ACK.
bool retransmittable(std::span<const uint8_t> frame) {
  PacketMeta meta;
  if (!parse_frame(frame.data(), static_cast<uint32_t>(frame.size()), meta).ok || !meta.has_udp ||
      meta.is_fragment || meta.payload_length < 4)
    return false;
  const std::string_view start(reinterpret_cast<const char*>(frame.data() + meta.payload_offset),
                               4);
  return start[0] >= 'A' && start[0] <= 'Z' && start != "SIP/" && start != "ACK ";
}

// A frame's bytes: in place when it is one segment, else copied into `buffer`.
std::span<const uint8_t> bytes_of(const rte_mbuf* m, std::vector<uint8_t>& buffer) {
  if (m->nb_segs == 1) return {rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)};
  buffer.resize(rte_pktmbuf_pkt_len(m));
  rte_pktmbuf_read(m, 0, buffer.size(), buffer.data());
  return buffer;
}

int register_index_field() {
  static const rte_mbuf_dynfield kField = {"sipshield_replay_frame_index", sizeof(uint64_t),
                                           alignof(uint64_t), 0};
  const int offset = rte_mbuf_dynfield_register(&kField);
  if (offset < 0)
    throw DataplaneError(
        fmt::format("cannot register the frame index field: {}", rte_strerror(rte_errno)));
  return offset;
}

}  // namespace

std::vector<std::string> offline_eal_args(const std::string& program) {
  return {program, "--no-huge", "--no-pci", "--no-shconf",    "-m",
          "512",   "-l",        "0",        "--no-telemetry", "--log-level=*:warning"};
}

Direction capture_direction(std::span<const uint8_t> frame, const ServiceSet& services) {
  PacketMeta meta;
  if (!parse_frame(frame.data(), static_cast<uint32_t>(frame.size()), meta).ok ||
      meta.ip_version == 0)
    return Direction::from_outside;
  const bool to_service =
      meta.has_udp ? services.matches(meta.dst, meta.dst_port) : services.matches_address(meta.dst);
  if (to_service) return Direction::from_outside;
  const bool from_service =
      meta.has_udp ? services.matches(meta.src, meta.src_port) : services.matches_address(meta.src);
  return from_service ? Direction::from_inside : Direction::from_outside;
}

class ReplaySink {
 public:
  explicit ReplaySink(Replay& replay) : replay_(replay) {}
  void forward(rte_mbuf* m, Verdict v) { replay_.release(m, v); }
  void drop(rte_mbuf* m, Verdict v) { replay_.release(m, v); }
  // Offline nothing answers: the request is recorded as dropped, and the probe it earned is
  // counted (counters.probes) as the daemon would send it.
  void probe(rte_mbuf* m, Verdict v, const PacketMeta& meta, std::string_view sip) {
    replay_.probe(m, meta, sip);
    replay_.release(m, v);
  }

 private:
  Replay& replay_;
};

Replay::Replay(const Config& config, const KeyedHash& hash, ReplayListener* listener)
    : services_(config.protected_services),
      signatures_(config.signature_rules.empty()
                      ? nullptr
                      : std::make_unique<SignatureDatabase>(config.signature_rules)),
      prefixes_(config.allow.empty() && config.deny.empty()
                    ? nullptr
                    : std::make_unique<PrefixLists>(config.allow, config.deny)),
      esp_keys_(config.esp),
      pipeline_(config, hash,
                SharedTables{.signatures = signatures_.get(),
                             .prefixes = prefixes_.get(),
                             .esp_keys = esp_keys_.sas()}),
      listener_(listener),
      pool_(fmt::format("replay_{}", static_cast<const void*>(this)),
            config.reassembly.max_held + 4 * kBurstSize, 0, kReplayDataRoom, SOCKET_ID_ANY),
      timestamp_offset_(register_timestamp_field()),
      index_offset_(register_index_field()) {
  pipeline_.use_packet_timestamps(timestamp_offset_);
}

Replay::~Replay() {
  // Frames still buffered or held go back to the pool before it is freed.
  if (burst_count_) rte_pktmbuf_free_bulk(burst_, burst_count_);
  burst_count_ = 0;
  struct Discard {
    void forward(rte_mbuf* m, Verdict) { rte_pktmbuf_free(m); }
    void drop(rte_mbuf* m, Verdict) { rte_pktmbuf_free(m); }
  } discard;
  pipeline_.flush(discard);
}

void Replay::feed(uint64_t time_us, std::span<const uint8_t> frame) {
  if (model_) inject_until(time_us);
  verdicts_.push_back({Action::drop, Reason::frag_incomplete});  // until judged
  enqueue(time_us, frame, next_index_++);
  if (model_) flush_burst();
}

void Replay::inject_until(uint64_t time_us) {
  while (!injections_.empty() && injections_.top().time_us <= time_us) {
    const Injection next = injections_.top();  // judging it may schedule more
    injections_.pop();
    enqueue(next.time_us, next.frame, next.tag);
    flush_burst();
  }
}

void Replay::schedule(uint64_t time_us, std::vector<uint8_t> frame, uint64_t tag) {
  injections_.push({time_us, tag, std::move(frame)});
}

void Replay::enqueue(uint64_t time_us, std::span<const uint8_t> frame, uint64_t tag) {
  const Direction direction = capture_direction(frame, services_);
  if (burst_count_ && direction != burst_direction_) flush_burst();
  burst_direction_ = direction;

  rte_mbuf* m = rte_pktmbuf_alloc(pool_.get());
  if (!m) throw DataplaneError("replay: mbuf pool exhausted");
  // A frame larger than one segment is chained, as a scattering NIC would deliver it.
  rte_mbuf* tail = m;
  size_t copied = 0;
  while (copied < frame.size()) {
    const size_t room = rte_pktmbuf_tailroom(tail);
    const size_t n = std::min(room, frame.size() - copied);
    std::memcpy(rte_pktmbuf_append(tail, static_cast<uint16_t>(n)), frame.data() + copied, n);
    copied += n;
    if (copied < frame.size()) {
      rte_mbuf* next = rte_pktmbuf_alloc(pool_.get());
      if (!next) throw DataplaneError("replay: mbuf pool exhausted");
      if (rte_pktmbuf_chain(m, next) != 0) throw DataplaneError("replay: frame too long");
      tail = next;
    }
  }
  *RTE_MBUF_DYNFIELD(m, timestamp_offset_, uint64_t*) = time_us;
  *RTE_MBUF_DYNFIELD(m, index_offset_, uint64_t*) = tag;
  burst_[burst_count_++] = m;
  if (burst_count_ == kBurstSize) flush_burst();  // judged as soon as it is whole
}

void Replay::flush_burst() {
  ReplaySink sink(*this);
  pipeline_.process_burst(burst_direction_, burst_, burst_count_, 0, sink);
  burst_count_ = 0;
  drain_events();
}

void Replay::drain_events() {
  Event e;
  while (pipeline_.events().next(e))
    if (listener_) listener_->event(e);
}

void Replay::finish() {
  if (burst_count_) flush_burst();
  if (model_) inject_until(UINT64_MAX);
  ReplaySink sink(*this);
  pipeline_.flush(sink);
  drain_events();
}

void Replay::probe(rte_mbuf* m, const PacketMeta& meta, std::string_view sip) {
  const uint64_t tag = *RTE_MBUF_DYNFIELD(m, index_offset_, uint64_t*);
  if (listener_ && !(tag & kInjected)) listener_->probe(tag, sip);
  if (!model_ || !model_->real(tag & kIndexMask)) return;
  // The client answers from where it was probed, to the service that probed it.
  const uint64_t sent_us = *RTE_MBUF_DYNFIELD(m, timestamp_offset_, uint64_t*);
  Frame answer =
      build_udp({meta.src, meta.src_port}, {meta.dst, meta.dst_port}, probe_answer_text(sip))[0];
  ++loop_counts_.answers;
  schedule(sent_us + model_->answer_delay_us, std::move(answer), injected_tag(tag & kIndexMask, 0));
}

void Replay::release(rte_mbuf* m, Verdict v) {
  const uint64_t tag = *RTE_MBUF_DYNFIELD(m, index_offset_, uint64_t*);
  const uint64_t index = tag & kIndexMask;
  if (model_) client_reacts(m, tag, v);
  if (!(tag & kInjected)) {  // the model's own frames are not the capture's: kept apart
    verdicts_[index] = v;
    std::vector<uint8_t> buffer;
    if (listener_)
      listener_->released(index, bytes_of(m, buffer),
                          *RTE_MBUF_DYNFIELD(m, timestamp_offset_, uint64_t*), v);
  }
  rte_pktmbuf_free(m);
}

void Replay::client_reacts(const rte_mbuf* m, uint64_t tag, Verdict v) {
  const uint64_t index = tag & kIndexMask;
  const unsigned attempt = tag & kInjected ? (tag >> 48) & 0xff : 0;
  if ((tag & kInjected && attempt == 0) || !model_->real(index)) return;  // an answer, a forger
  if (v.action == Action::pass) {
    if (attempt == 0) return;
    verdicts_[index] = v;  // a retransmission that passed settles its original
    if (retransmitted_.size() <= index) retransmitted_.resize(index + 1);
    retransmitted_[index] = static_cast<uint8_t>(attempt);
    ++loop_counts_.retransmissions_passed;
    return;
  }
  if (attempt >= model_->retransmissions) return;
  std::vector<uint8_t> buffer;
  const std::span<const uint8_t> frame = bytes_of(m, buffer);
  if (!retransmittable(frame)) return;
  ++loop_counts_.retransmissions;
  schedule(*RTE_MBUF_DYNFIELD(m, timestamp_offset_, const uint64_t*) +
               (model_->retransmit_us << attempt),
           {frame.begin(), frame.end()}, injected_tag(index, attempt + 1));
}

}  // namespace sipshield
