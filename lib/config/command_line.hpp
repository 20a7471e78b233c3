// DPDK's command-line convention: EAL options before "--", the program's own after. Without
// "--" every argument is the program's.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sipshield {

struct CommandLine {
  std::vector<std::string> eal;  // EAL options, without the program name
  std::vector<char*> app;        // argv[0], the program's options, then a null (for getopt)
  int app_argc() const { return static_cast<int>(app.size()) - 1; }
};

inline CommandLine split_command_line(int argc, char** argv) {
  CommandLine c;
  int app_start = 1;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--") {
      c.eal.assign(argv + 1, argv + i);
      app_start = i + 1;
      break;
    }
  c.app.push_back(argv[0]);
  for (int i = app_start; i < argc; ++i) c.app.push_back(argv[i]);
  c.app.push_back(nullptr);
  return c;
}

}  // namespace sipshield
