// The sources dropping the most, from the workers' sampled drops (telemetry/drop_samples.hpp):
// for sipshield-ctl top and the periodic top-talker events. Each sample counts as the drops it
// stands for; a second's counts roll into "last second", and sources quiet for a minute are
// forgotten. Bounded: past kMaxSources new sources wait until room is freed.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ip_address.hpp"
#include "core/reasons.hpp"

namespace sipshield {

class TopTalkers {
 public:
  static constexpr size_t kMaxSources = 16384;

  // A sampled drop from `source` ("ip:port") standing for `weight` drops of `reason`.
  void add(const std::string& source, const IpAddress& ip, uint16_t port, Reason reason,
           uint64_t weight, uint64_t now_s);
  // Rolls the current second into the last one (call once a second).
  void second(uint64_t now_s);

  struct Talker {
    std::string source;
    IpAddress ip;
    uint16_t port = 0;
    uint64_t last_second = 0;  // drops in the last full second (estimated)
    uint64_t total = 0;        // since it was first seen here
    Reason top_reason = Reason::admitted;
  };
  // The `n` sources with the most drops in the last second (then in total).
  std::vector<Talker> top(size_t n) const;

 private:
  struct Entry {
    Talker talker;
    uint64_t this_second = 0;
    uint64_t last_seen_s = 0;
    std::unordered_map<uint8_t, uint64_t> by_reason;
  };
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace sipshield
