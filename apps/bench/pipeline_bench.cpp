// sipshield-bench-pipeline: cycles per frame of the per-burst pipeline itself (no PMD, no TX),
// for each kind of frame the filter sees, on one core. Prints a table; asserts nothing.
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <functional>

#include <fmt/format.h>

#include "dataplane/eal.hpp"
#include "dataplane/replay.hpp"
#include "packet/builder.hpp"
#include "policy/pipeline.hpp"

using namespace sipshield;

namespace {

// Verdicts are carried out by nobody: the same mbufs are judged again and again.
struct NullSink {
  uint64_t forwarded = 0, dropped = 0;
  void forward(rte_mbuf*, Verdict) { ++forwarded; }
  void drop(rte_mbuf*, Verdict) { ++dropped; }
};

std::string register_text() {
  return "REGISTER sip:example.test SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 198.18.16.5:5060;branch=z9hG4bKnashds7;rport\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:1005@example.test>;tag=8wj3kd\r\n"
         "To: <sip:1005@example.test>\r\nCall-ID: a84b4c76e66710@198.18.16.5\r\n"
         "CSeq: 1826 REGISTER\r\nContact: <sip:1005@198.18.16.5:5060;transport=udp>\r\n"
         "Expires: 600\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
         "User-Agent: Linphone/5.2.5 (belle-sip/5.2.0)\r\nContent-Length: 0\r\n\r\n";
}

double measure(Pipeline& pipeline, std::vector<rte_mbuf*>& frames, Direction from,
               unsigned rounds) {
  NullSink sink;
  const uint64_t start = rte_rdtsc_precise();
  for (unsigned r = 0; r < rounds; ++r)
    for (size_t i = 0; i < frames.size(); i += kBurstSize)
      pipeline.process_burst(from, frames.data() + i,
                             static_cast<uint16_t>(std::min<size_t>(kBurstSize, frames.size() - i)),
                             r, sink);
  const uint64_t cycles = rte_rdtsc_precise() - start;
  return double(cycles) / double(rounds * frames.size());
}

}  // namespace

int main() {
  try {
    Eal eal(offline_eal_args("sipshield-bench-pipeline"));
    Mempool pool("bench", 65536 + 8191, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    Config config;
    config.protected_services.push_back(*ServiceMatch::parse("198.18.0.10:5060"));
    // Meters and the budget out of the way, so that admitted traffic is what is measured; the
    // same frames from a banned source are measured separately.
    for (auto* tier : {&config.policy.untrusted, &config.policy.trusted})
      for (auto& m : tier->classes) m = {1'000'000, 1000};
    config.policy.untrusted_budget_pps = 1'000'000;
    config.policy.demerits_rate_limited = 0;
    // The bench's clock hardly moves (a nanosecond per round), so every first contact falls in
    // one 100-ms window: a surge, which probes would hold back. Probes off; their cost and the
    // verified lookup are sipshield-bench-probe's.
    config.policy.probe_mode = ProbeMode::never;
    Config banning = config;
    banning.policy.demerits_rate_limited = 1000;
    banning.policy.untrusted.classes[0] = {1, 1};
    banning.policy.max_sources = 1u << 18;  // room for 65536 sources and their addresses
    const KeyedHash hash;
    const Endpoint client{*IpAddress::parse("198.18.16.5"), 5060};
    const Endpoint server{*IpAddress::parse("198.18.0.10"), 5060};

    const auto burst_of = [&](const std::function<Frame(size_t)>& make, size_t count = 1024) {
      std::vector<rte_mbuf*> frames;
      for (size_t i = 0; i < count; ++i) {
        const Frame f = make(i);
        rte_mbuf* m = rte_pktmbuf_alloc(pool.get());
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
        frames.push_back(m);
      }
      return frames;
    };
    struct Case {
      const char* name;
      Direction from;
      std::function<Frame(size_t)> make;
      const Config* config = nullptr;
      size_t frames = 1024;
    };
    const std::string reg = register_text();
    const std::vector<Case> cases = {
        {"REGISTER to a protected service (admitted)", Direction::from_outside,
         [&](size_t i) {
           Endpoint phone = client;  // 1024 phones: one source's meter is not what is measured
           phone.address.bytes[14] = static_cast<uint8_t>(16 + (i >> 8));
           phone.address.bytes[15] = static_cast<uint8_t>(i);
           return build_udp(phone, server, reg)[0];
         }},
        {"REGISTER from a banned source", Direction::from_outside,
         [&](size_t) { return build_udp(client, server, reg)[0]; }, &banning},
        // A table far larger than the caches: every lookup misses (what bulk lookups are for).
        {"REGISTER from 65536 banned sources", Direction::from_outside,
         [&](size_t i) {
           Endpoint bot{*IpAddress::parse("198.19.0.0"), 5060};
           bot.address.bytes[14] = static_cast<uint8_t>(i >> 8);
           bot.address.bytes[15] = static_cast<uint8_t>(i);
           return build_udp(bot, server, reg)[0];
         },
         &banning, 65536},
        {"UDP to an unprotected address (default)", Direction::from_outside,
         [&](size_t) {
           return build_udp(client, {server.address, 53}, "x")[0];
         }},
        {"non-IP (ARP)", Direction::from_outside,
         [&](size_t) { return build_arp_request(client.address, server.address); }},
        {"malformed IPv4 (bad checksum)", Direction::from_outside,
         [&](size_t) {
           Frame f = build_udp(client, server, reg)[0];
           f[24] ^= 0xff;
           return f;
         }},
        {"server to client (inside)", Direction::from_inside,
         [&](size_t) { return build_udp(server, client, "SIP/2.0 200 OK\r\n\r\n")[0]; }},
    };
    fmt::print("sipshield pipeline, one core, bursts of {}, TSC {:.2f} GHz\n", kBurstSize,
               double(rte_get_tsc_hz()) / 1e9);
    fmt::print("  {:<46} {:>14} {:>12}\n", "frames", "cycles/frame", "Mpps/core");
    for (const auto& c : cases) {
      auto frames = burst_of(c.make, c.frames);
      Pipeline pipeline(c.config ? *c.config : config, hash, SharedTables{});
      measure(pipeline, frames, c.from, 20);  // warm caches and branch predictors
      const double cycles = measure(pipeline, frames, c.from, unsigned(2'048'000 / frames.size()));
      fmt::print("  {:<46} {:>14.1f} {:>12.1f}\n", c.name, cycles,
                 double(rte_get_tsc_hz()) / cycles / 1e6);
      rte_pktmbuf_free_bulk(frames.data(), static_cast<unsigned>(frames.size()));
    }
    // First fragments that never complete: each takes and then loses reassembly state.
    {
      FrameOptions o;
      o.mtu = 576;
      Pipeline pipeline(config, hash, SharedTables{});
      std::vector<rte_mbuf*> frames;
      NullSink sink;
      uint64_t cycles = 0, n = 0;
      for (uint32_t round = 0; round < 200; ++round) {
        auto batch = burst_of([&](size_t i) {
          FrameOptions f = o;
          f.ip_id = static_cast<uint32_t>(round * 1024 + i);
          Endpoint src{*IpAddress::parse("198.19.0.0"), 4000};
          src.address.bytes[14] = static_cast<uint8_t>(i >> 8);
          src.address.bytes[15] = static_cast<uint8_t>(i);
          return build_udp(src, server, std::string(1200, 'a'), f)[0];
        });
        const uint64_t start = rte_rdtsc_precise();
        for (size_t i = 0; i < batch.size(); i += kBurstSize)
          pipeline.process_burst(Direction::from_outside, batch.data() + i, kBurstSize, 0, sink);
        cycles += rte_rdtsc_precise() - start;
        n += batch.size();
        struct Free {
          void forward(rte_mbuf* m, Verdict) { rte_pktmbuf_free(m); }
          void drop(rte_mbuf* m, Verdict) { rte_pktmbuf_free(m); }
        } free_sink;
        pipeline.flush(free_sink);
      }
      fmt::print("  {:<46} {:>14.1f} {:>12.1f}\n", "first fragments, spoofed sources (held)",
                 double(cycles) / double(n),
                 double(rte_get_tsc_hz()) / (double(cycles) / double(n)) / 1e6);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "sipshield-bench-pipeline: {}\n", e.what());
    return 1;
  }
  return 0;
}
