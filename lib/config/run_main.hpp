// The outermost frame of every sipshield program: configuration errors and every other failure
// at start-up end in one line on stderr naming the program, and exit code 1.
#pragma once

#include <exception>

#include <fmt/format.h>

#include "config/config.hpp"

namespace sipshield {

template <class Run>
int run_main(const char* program, const char* config_kind, Run&& run) {
  try {
    return run();
  } catch (const ConfigError& e) {
    fmt::print(stderr, "{}: {} error: {}\n", program, config_kind, e.what());
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", program, e.what());
  }
  return 1;
}

}  // namespace sipshield
