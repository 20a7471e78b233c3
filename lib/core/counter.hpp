// Single-writer counters: written by one worker with plain stores, read by the main lcore off the
// fast path. std::atomic_ref with relaxed order compiles to plain moves on x86: no lock prefix.
#pragma once

#include <atomic>
#include <cstdint>

namespace sipshield {

inline void bump(uint64_t& counter, uint64_t by = 1) {
  std::atomic_ref<uint64_t> ref(counter);
  ref.store(ref.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
template <class T>
inline T read(const T& counter) {
  return std::atomic_ref<const T>(counter).load(std::memory_order_relaxed);
}
// A single-writer gauge (a table's occupancy): the owner sets it, the main lcore reads it live.
template <class T>
inline void write(T& gauge, T value) {
  std::atomic_ref<T>(gauge).store(value, std::memory_order_relaxed);
}

}  // namespace sipshield
