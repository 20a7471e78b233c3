#include "demo.hpp"
namespace sipshield {
int run_demo(const RunOptions&, const std::atomic<bool>&) {
  return 1;
}
}  // namespace sipshield
