// The live clock: TSC cycles to nanoseconds by one multiply and shift, read once per burst.
#pragma once

#include <cstdint>

#include <rte_cycles.h>

namespace sipshield {

class TscClock {
 public:
  TscClock() : mult_((uint64_t{1'000'000'000} << kShift) / rte_get_tsc_hz()) {}
  uint64_t now_ns() const {
    __extension__ using u128 = unsigned __int128;
    return static_cast<uint64_t>((static_cast<u128>(rte_rdtsc()) * mult_) >> kShift);
  }

 private:
  static constexpr unsigned kShift = 32;
  uint64_t mult_;
};

}  // namespace sipshield
