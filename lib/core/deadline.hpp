// Deadlines on the workers' 32-bit millisecond clock (about 49 days; differences wrap safely,
// so a deadline may lie at most 2^31 ms, about 24.8 days, ahead).
#pragma once

#include <cstdint>

namespace sipshield {

// Has time `t` passed `deadline`, on a wrapping millisecond clock?
inline bool before(uint32_t t, uint32_t deadline) {
  return static_cast<int32_t>(t - deadline) < 0;
}

}  // namespace sipshield
