// sipshield-bench-probe: what return-routability probes cost a worker, in cycles: a probe sent
// (cookie MAC, OPTIONS text, the request's frame rewritten), an answer checked, and the
// verified-source lookup an admitted frame from a source without trust pays (empty table, hit,
// miss). Prints a table; asserts nothing.
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "admission/probe_cookie.hpp"
#include "admission/probe_frame.hpp"
#include "bench_clock.hpp"
#include "core/keyed_hash.hpp"
#include "packet/builder.hpp"
#include "packet/parse.hpp"
#include "state/verified_table.hpp"

using namespace sipshield;

namespace {

IpAddress v4(uint32_t host) {
  const uint8_t b[4] = {198, 18, uint8_t(host >> 8), uint8_t(host)};
  return IpAddress::from_v4(b);
}

}  // namespace

int main() {
  constexpr unsigned kRounds = 200000;
  const std::array<uint8_t, 16> secret = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
  ProbeCookie cookie(secret, {});
  const IpAddress service = *IpAddress::parse("198.18.0.10");
  const std::string request =
      "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.99.77:5060;branch=z9hG4bKx1\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:1077@example.test>;tag=f1\r\nTo: <sip:1077@example.test>\r\n"
      "Call-ID: bench-1077\r\nCSeq: 1 REGISTER\r\nContact: <sip:1077@198.18.99.77:5060>\r\n"
      "User-Agent: Yealink SIP-T46S 66.86.0.15\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n";
  const Frame original = build_udp({v4(99 << 8 | 77), 5060}, {service, 5060}, request)[0];
  PacketMeta meta;
  parse_frame(original.data(), static_cast<uint32_t>(original.size()), meta);

  std::array<uint8_t, 2048> frame;  // the request's frame, restored before each probe
  const auto restore = [&] { std::memcpy(frame.data(), original.data(), original.size()); };
  char text[kProbeTextMax];
  uint64_t now_ms = 1000;
  unsigned host = 0;
  const double probe = bench::cycles_per_call(
      [&] {
        restore();  // measured apart below
        meta.src = v4(++host & 0xffff);
        const auto c = cookie.make(meta.src, meta.src_port, meta.dst, meta.dst_port, now_ms);
        const size_t n =
            write_probe_text(text, meta.src, meta.src_port, meta.dst, meta.dst_port, c);
        rewrite_as_probe(frame.data(), meta, std::string_view(text, n));
      },
      kRounds);
  const double copy = bench::cycles_per_call(restore, kRounds);
  const double mac = bench::cycles_per_call(
      [&] { cookie.make(v4(++host & 0xffff), 5060, service, 5060, now_ms); }, kRounds);
  // A burst's cookies at once, as the pipeline makes them: 32 jobs submitted, then flushed.
  std::array<ProbeCookie::Request, 32> requests;
  std::array<ProbeCookie::Text, 32> texts;
  const double mac_batch = bench::cycles_per_call(
                               [&] {
                                 for (auto& r : requests)
                                   r = {v4(++host & 0xffff), service, 5060, 5060, now_ms};
                                 cookie.make(requests, texts);
                               },
                               kRounds / 32) /
                           32;
  const auto good = cookie.make(v4(7), 5060, service, 5060, now_ms);
  const std::string_view good_text(good.data(), good.size());
  const double check = bench::cycles_per_call(
      [&] { cookie.check(good_text, v4(7), 5060, service, 5060, now_ms); }, kRounds);

  const KeyedHash hash;
  VerifiedTable empty(65536, hash), full(65536, hash);
  for (uint32_t i = 0; i < 50000; ++i) full.verify(v4(i), 5060, 0, 600000);
  uint32_t i = 0;
  uint64_t hits = 0;  // printed: the lookups cannot be optimised away
  const double lookup_empty =
      bench::cycles_per_call([&] { hits += empty.verified(v4(++i & 0xffff), 5060, 10); }, kRounds);
  const double lookup_hit =
      bench::cycles_per_call([&] { hits += full.verified(v4(++i % 50000), 5060, 10); }, kRounds);
  const double lookup_miss =
      bench::cycles_per_call([&] { hits += full.verified(v4(++i % 50000), 5061, 10); }, kRounds);

  // As the pipeline does it: the source's hash is computed once per frame for the source table
  // anyway; a burst of 32 prefetches the buckets, then the entries, then looks up.
  std::vector<uint64_t> hashes(50000);
  for (uint32_t k = 0; k < hashes.size(); ++k) hashes[k] = full.hash_of(v4(k), 5060);
  size_t at = 0;
  const double burst_hit =
      bench::cycles_per_call(
          [&] {
            if (at + 32 > hashes.size()) at = 0;
            for (size_t k = 0; k < 32; ++k) full.prefetch_bucket(hashes[at + k]);
            for (size_t k = 0; k < 32; ++k) full.prefetch_entry(hashes[at + k]);
            for (size_t k = 0; k < 32; ++k)
              hits += full.verified(v4(uint32_t(at + k)), 5060, hashes[at + k], 10);
            at += 32;
          },
          kRounds / 32) /
      32;

  fmt::print("sipshield-bench-probe: cycles per call, the mean of {} calls ({:.2f} GHz TSC)\n",
             kRounds, bench::tsc_hz() / 1e9);
  fmt::print("  probe sent: cookie + OPTIONS text + frame rewrite  {:8.0f}\n", probe - copy);
  fmt::print("    of which the cookie (AES-128-CMAC, IPsec-MB)       {:8.0f}\n", mac);
  fmt::print("  cookie in a burst's batch of 32 (multi-buffer)      {:8.0f}\n", mac_batch);
  fmt::print("  answer checked (cookie recomputed, compared)        {:8.0f}\n", check);
  fmt::print("  verified lookup, table empty (no probe answered)    {:8.1f}\n", lookup_empty);
  fmt::print("  verified lookup, 50,000 entries, hit                {:8.1f}\n", lookup_hit);
  fmt::print("  verified lookup, 50,000 entries, miss               {:8.1f}\n", lookup_miss);
  fmt::print("  verified lookup, hit, hash given, prefetched by 32  {:8.1f}\n", burst_hit);
  fmt::print("  (lookups that found a verified source: {})\n", hits);
  return 0;
}
