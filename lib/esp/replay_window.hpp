// RFC 4303 3.4.3 anti-replay for one security association (32-bit sequence numbers, no ESN, as
// TS 33.203 SAs use): a window of the last `size` numbers below the highest one received. A
// packet is checked before its ICV, and the window moves only for packets whose ICV verified
// (or, for SAs without keys, for packets that passed every other check), so a forged packet
// cannot advance it.
#pragma once

#include <array>
#include <cstdint>

namespace sipshield {

class ReplayWindow {
 public:
  static constexpr uint32_t kMaxSize = 256;
  static constexpr uint32_t kWords = kMaxSize / 64;

  enum class Check : uint8_t { fresh, replayed, too_old, zero };

  // `size`: 64 to kMaxSize, a multiple of 64 (config checks it).
  ReplayWindow() = default;
  explicit ReplayWindow(uint32_t size) : size_(size) {}

  Check check(uint32_t seq) const {
    if (seq == 0) return Check::zero;  // the first packet of an SA carries 1
    if (seq > top_) return Check::fresh;
    const uint32_t behind = top_ - seq;
    if (behind >= size_) return Check::too_old;
    return bit(behind) ? Check::replayed : Check::fresh;
  }

  // Records `seq`, which check() found fresh.
  void accept(uint32_t seq) {
    if (seq > top_) {
      shift(seq - top_);
      top_ = seq;
      bits_[0] |= 1;
      return;
    }
    const uint32_t behind = top_ - seq;
    bits_[behind / 64] |= uint64_t{1} << (behind % 64);
  }

  uint32_t top() const { return top_; }
  uint32_t size() const { return size_; }

 private:
  bool bit(uint32_t behind) const { return (bits_[behind / 64] >> (behind % 64)) & 1; }
  // Bit i stands for top_ - i: moving the top up by n moves every bit n places up.
  void shift(uint32_t n) {
    std::array<uint64_t, kWords> moved{};
    if (n < kMaxSize) {
      const uint32_t words = n / 64, bits = n % 64;
      for (uint32_t i = words; i < kWords; ++i) {
        const uint32_t from = i - words;
        moved[i] = bits_[from] << bits;
        if (bits && from > 0) moved[i] |= bits_[from - 1] >> (64 - bits);
      }
    }
    bits_ = moved;
  }

  std::array<uint64_t, kWords> bits_{};
  uint32_t top_ = 0;
  uint32_t size_ = 64;
};

}  // namespace sipshield
