// Cycle counting for the micro-benchmarks: the TSC's rate, and cycles per call of a function
// (after a tenth of the rounds as warm-up). They print figures; they assert nothing.
#pragma once

#include <x86intrin.h>

#include <chrono>
#include <cstdint>
#include <thread>

namespace bench {

inline double tsc_hz() {
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t c0 = __rdtsc();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const uint64_t c1 = __rdtsc();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return double(c1 - c0) / s;
}

template <class F>
double cycles_per_call(F&& f, unsigned rounds) {
  for (unsigned i = 0; i < rounds / 10; ++i) f();  // warm up
  const uint64_t start = __rdtsc();
  for (unsigned i = 0; i < rounds; ++i) f();
  return double(__rdtsc() - start) / rounds;
}

}  // namespace bench
