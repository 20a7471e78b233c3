// The untrusted budget of a protected service is one for the whole daemon, however many workers
// RSS spreads its clients over. Each worker still spends a bucket of its own (no lock, no shared
// cache line on the fast path), refilled at its share of the service's rate; the main lcore
// moves the shares toward where the demand is, every `kRebalanceMs`.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/counter.hpp"

namespace sipshield {

class BudgetShares {
 public:
  static constexpr uint32_t kWhole = 1u << 16;  // shares are in 1/65536 of the service's budget
  static constexpr uint32_t kRebalanceMs = 100;

  // Equal shares to start.
  BudgetShares(size_t workers, size_t services)
      : workers_(workers ? workers : 1),
        services_(services ? services : 1),
        slots_(workers_ * services_) {
    for (Slot& s : slots_) s.share.store(kWhole / static_cast<uint32_t>(workers_));
  }

  size_t workers() const { return workers_; }
  // Worker side: its share of `service`'s budget, and one more message wanting it.
  uint32_t share(size_t worker, size_t service) const {
    return slot(worker, service).share.load(std::memory_order_relaxed);
  }
  void note_demand(size_t worker, size_t service) { bump(slot(worker, service).demand); }

  // Main lcore: per service, every worker keeps a floor of 1/(4N) (a worker whose clients
  // appear must not start from nothing); the rest goes in proportion to the demand since the
  // last call. A service without demand keeps its shares.
  void rebalance() {
    const auto floor = static_cast<uint32_t>(kWhole / (4 * workers_));
    const uint64_t rest = kWhole - floor * workers_;
    for (size_t s = 0; s < services_; ++s) {
      uint64_t total = 0;
      std::vector<uint64_t> recent(workers_);
      for (size_t w = 0; w < workers_; ++w) {
        Slot& x = slot(w, s);
        const uint64_t now = read(x.demand);
        recent[w] = now - x.seen;
        x.seen = now;
        total += recent[w];
      }
      if (total == 0) continue;
      uint64_t given = 0;
      size_t busiest = 0;
      for (size_t w = 0; w < workers_; ++w) {
        given += rest * recent[w] / total;
        if (recent[w] > recent[busiest]) busiest = w;
      }
      for (size_t w = 0; w < workers_; ++w) {  // the rounding's remainder to the busiest
        const uint64_t extra = w == busiest ? rest - given : 0;
        slot(w, s).share.store(floor + static_cast<uint32_t>(rest * recent[w] / total + extra),
                               std::memory_order_relaxed);
      }
    }
  }

 private:
  struct alignas(64) Slot {  // one worker's, for one service: its own cache line
    std::atomic<uint32_t> share{0};
    uint64_t demand = 0;  // written by the worker
    uint64_t seen = 0;    // main lcore only
  };
  Slot& slot(size_t worker, size_t service) {
    return slots_[(worker % workers_) * services_ + service % services_];
  }
  const Slot& slot(size_t worker, size_t service) const {
    return slots_[(worker % workers_) * services_ + service % services_];
  }

  size_t workers_, services_;
  std::vector<Slot> slots_;
};

}  // namespace sipshield
