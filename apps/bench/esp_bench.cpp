// sipshield-bench-esp: ESP ICV checks per second on one core, with Intel IPsec-MB's multi-buffer
// manager fed a burst at a time (as the pipeline does) against one check at a time (submit and
// flush each), for each algorithm and a short and a SIP-sized packet. Prints figures; asserts
// nothing.
#include <array>
#include <vector>

#include <fmt/format.h>

#include "bench_clock.hpp"
#include "esp/icv.hpp"

using namespace sipshield;

int main() {
  const double hz = bench::tsc_hz();
  IcvVerifier verifier;
  constexpr size_t kBurst = 32;
  fmt::print("ESP ICV checks, one core, TSC {:.2f} GHz, bursts of {}\n", hz / 1e9, kBurst);
  fmt::print("  {:<18} {:>6} {:>14} {:>14} {:>14} {:>14} {:>7}\n", "algorithm", "bytes",
             "burst cyc/chk", "burst M/s", "single cyc/chk", "single M/s", "ratio");
  for (const auto algorithm :
       {AuthAlgorithm::hmac_sha1_96, AuthAlgorithm::hmac_md5_96, AuthAlgorithm::hmac_sha256_128}) {
    std::array<uint8_t, 20> raw{};
    for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 7 + 1);
    const AuthKey key = *verifier.prepare(algorithm, raw);
    for (const size_t bytes : {100u, 700u}) {
      std::vector<std::vector<uint8_t>> packets(kBurst, std::vector<uint8_t>(bytes, 0x5a));
      for (size_t i = 0; i < kBurst; ++i) packets[i][8] = static_cast<uint8_t>(i);
      std::array<uint8_t, 16> icv{};
      std::vector<IcvVerifier::Check> checks;
      for (auto& p : packets)
        checks.push_back({&key, p.data(), static_cast<uint32_t>(p.size()), icv.data(), false});
      const unsigned rounds = bytes > 200 ? 4000 : 20000;
      const double burst =
          bench::cycles_per_call([&] { verifier.verify(checks); }, rounds) / kBurst;
      const double single = bench::cycles_per_call(
                                [&] {
                                  for (auto& c : checks) verifier.verify_one(c);
                                },
                                rounds) /
                            kBurst;
      fmt::print("  {:<18} {:>6} {:>14.0f} {:>14.2f} {:>14.0f} {:>14.2f} {:>7.2f}\n",
                 auth_algorithm_name(algorithm), bytes, burst, hz / burst / 1e6, single,
                 hz / single / 1e6, single / burst);
    }
  }
  return 0;
}
