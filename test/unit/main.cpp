// One Catch2 runner for all unit tests. Tests that need mbufs call test::ensure_eal(), which
// starts a no-hugepage EAL once for the whole run.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <memory>

#include "dataplane/eal.hpp"
#include "dataplane/replay.hpp"
#include "support.hpp"

namespace test {
void ensure_eal() {
  static std::unique_ptr<sipshield::Eal> eal =
      std::make_unique<sipshield::Eal>(sipshield::offline_eal_args("unit-tests"));
}
}  // namespace test

int main(int argc, char** argv) {
  return Catch::Session().run(argc, argv);
}
