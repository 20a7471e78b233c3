// Cycles per stage of the data path, for the benchmark suite's breakdown (scripts/bench.sh
// --json). A build with `-Dstage_cycles=true` reads the TSC around each stage (a span costs
// about two TSC reads, which the stage's figure includes); in every other build a span is empty
// and compiles to nothing.
#pragma once

#include <rte_cycles.h>

#include <array>
#include <cstddef>
#include <cstdint>

#ifndef SIPSHIELD_STAGE_CYCLES
#define SIPSHIELD_STAGE_CYCLES 0
#endif

namespace sipshield {

inline constexpr bool kStageCycles = SIPSHIELD_STAGE_CYCLES != 0;

// In the order a frame meets them. `burst` is a whole burst's judging, every stage below it
// included; `rx` every poll of a queue, empty ones too.
enum class Stage : uint8_t {
  rx,
  parse,       // L2-L4 parse, service match, source hashes, bucket and entry prefetches
  prefixes,    // the burst's bulk allow/deny/ban lookup
  reassembly,  // fragments held, datagrams completed
  source,      // source entry lookup or insert, the ban check
  tokenizer,
  dialog,  // in-dialog requests and responses against the dialog table
  scan,    // Hyperscan signatures
  meters,  // admission: meters, budgets, probes' decision, what an admitted message teaches
  probes,  // return-routability probes: the limiter, cookies (one CMAC batch), the frames
  inside,  // learning from the servers' messages
  esp,     // ESP: SA lookup, anti-replay, ICV batches (the inner message's stages apart)
  tx,      // TX bursts and freeing dropped frames
  burst,
};
inline constexpr size_t kStages = static_cast<size_t>(Stage::burst) + 1;
inline constexpr std::array<const char*, kStages> kStageNames = {
    "rx",   "parse",  "prefixes", "reassembly", "source", "tokenizer", "dialog",
    "scan", "meters", "probes",   "inside",     "esp",    "tx",        "burst"};

struct StageCycles {
  std::array<uint64_t, kStages> cycles{};
  std::array<uint64_t, kStages> spans{};
};

// Times its scope into one stage.
class StageSpan {
 public:
  StageSpan(StageCycles& into, Stage stage) {
    if constexpr (kStageCycles) {
      into_ = &into;
      stage_ = static_cast<size_t>(stage);
      start_ = rte_rdtsc();
    }
  }
  ~StageSpan() {
    if constexpr (kStageCycles) {
      into_->cycles[stage_] += rte_rdtsc() - start_;
      ++into_->spans[stage_];
    }
  }
  StageSpan(const StageSpan&) = delete;
  StageSpan& operator=(const StageSpan&) = delete;

 private:
  StageCycles* into_ = nullptr;
  size_t stage_ = 0;
  uint64_t start_ = 0;
};

}  // namespace sipshield
