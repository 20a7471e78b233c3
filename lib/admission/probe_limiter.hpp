// What keeps probes from becoming a reflection tool, and what keeps a forged flood from taking
// the probes real clients need. A source address is forged by whoever floods, so a probe goes to
// whoever owns it: per worker, probes are bounded by a token bucket, by a second bucket per
// destination prefix (a /24 or /48 gets a trickle whatever the flood forges), and one probe per
// source per cookie slot. Ranked like the untrusted budget: a source refused again within a few
// seconds (a client retransmitting; a source forged afresh per packet never comes back) may
// spend the bucket to the last token, a first refusal only its upper half. Fixed memory:
// direct-mapped slots, where a collision only shares a limit or loses a mark.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/ip_address.hpp"
#include "core/keyed_hash.hpp"
#include "core/table_memory.hpp"

namespace sipshield {

struct ProbeLimits {
  uint32_t rate_per_s = 2000;  // probes per worker
  uint32_t burst = 200;
  uint32_t per_prefix_per_s = 20;  // toward one /24 (IPv4) or /48 (IPv6)
};

class ProbeLimiter {
 public:
  enum class Outcome : uint8_t { send, rate_limited, prefix_limited, already_probed };

  // `slot_s`: the cookie's slot; a source is probed at most once in each.
  ProbeLimiter(const ProbeLimits& limits, uint32_t slot_s, const KeyedHash& hash)
      : limits_(limits),
        slot_s_(std::max<uint32_t>(slot_s, 1)),
        hash_(hash),
        prefixes_(4096),
        sources_(65536),
        recent_(1u << 20) {}  // 8 MB: at 60k refusals/s a mark outlives T1 97 % of the time

  Outcome take(const IpAddress& ip, uint16_t port, uint64_t now_ms) {
    struct alignas(8) SourceKey {
      IpAddress ip;
      uint64_t port;
    } source{ip, port};
    const uint64_t h = hash_(source);
    const auto slot = static_cast<uint32_t>(now_ms / 1000 / slot_s_);
    // Mark (fingerprint, slot): the same source in the same slot was probed already.
    uint64_t& seen = sources_[h & (sources_.size() - 1)];
    const uint64_t mark = (h >> 32) << 32 | slot;
    if (seen == mark) return Outcome::already_probed;
    // Refused before, lately? (RFC 3261 timers E and A: 0.5 s, then doubling up to 4 s.)
    uint64_t& last = recent_[(h >> 20) & (recent_.size() - 1)];
    const bool again = last >> 32 == h >> 32 && now_ms - uint32_t(last) <= kAgainWithinMs;
    last = (h >> 32) << 32 | uint32_t(now_ms);
    struct alignas(8) PrefixKey {
      IpAddress prefix;
    } prefix{ip.masked(ip.is_v4() ? 96 + 24 : 48)};
    Bucket& p = prefixes_[hash_(prefix) & (prefixes_.size() - 1)];
    if (!take(p, now_ms, limits_.per_prefix_per_s, limits_.per_prefix_per_s,
              again ? 0 : limits_.per_prefix_per_s / 2))
      return Outcome::prefix_limited;
    if (!take(worker_, now_ms, limits_.rate_per_s, limits_.burst, again ? 0 : limits_.burst / 2)) {
      p.tokens += 1000;  // not sent: the prefix keeps its token
      return Outcome::rate_limited;
    }
    seen = mark;
    return Outcome::send;
  }

 private:
  struct Bucket {
    uint64_t ms = 0;
    uint64_t tokens = 0;  // in thousandths of a probe
    bool started = false;
  };
  static constexpr uint64_t kAgainWithinMs = 5000;

  // One token, if more than `floor` whole tokens remain.
  static bool take(Bucket& b, uint64_t now_ms, uint32_t rate, uint32_t burst, uint32_t floor = 0) {
    const uint64_t cap = uint64_t{std::max<uint32_t>(burst, 1)} * 1000;
    if (!b.started) {
      b = {now_ms, cap, true};
    } else if (now_ms > b.ms) {
      b.tokens = std::min(cap, b.tokens + (now_ms - b.ms) * rate);
      b.ms = now_ms;
    }
    if (b.tokens < (uint64_t{floor} + 1) * 1000) return false;
    b.tokens -= 1000;
    return true;
  }

  ProbeLimits limits_;
  uint32_t slot_s_;
  const KeyedHash& hash_;
  Bucket worker_;
  TableVector<Bucket> prefixes_;
  TableVector<uint64_t> sources_;  // (fingerprint, slot) of the last probe
  TableVector<uint64_t> recent_;   // (fingerprint, ms) of the last refusal that asked for one
};

}  // namespace sipshield
