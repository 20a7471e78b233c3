// sipshield: the inline SIP flood filter daemon.
//   sipshield [EAL options] -- --config FILE [options]
//   sipshield --config FILE [options]          (EAL options then come from the config alone)
#include <getopt.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/command_line.hpp"
#include "config/config.hpp"
#include "config/run_main.hpp"
#include "dataplane/daemon.hpp"
#include "dataplane/eal.hpp"
#include "demo.hpp"
#include "telemetry/report.hpp"

namespace {

using namespace sipshield;

constexpr const char* kUsage = R"(usage: sipshield [EAL options] -- --config FILE [options]
       sipshield --demo [--keep DIR]

  --config FILE       JSON config (docs/configuration.md); EAL options in it come first, the
                      command line's after
  --check-config      validate the config, print the effective config as JSON, exit
  --report FILE       write the final counters as JSON to FILE as well as to stdout
  --idle-exit-ms N    stop once no frame has arrived for N ms (capture replays, tests)
  --duration S        stop after S seconds
  --events FILE       append bans, unbans and attacks as ECS-style JSON lines to FILE
  --demo              run the built-in scenario: users and floods from a capture, through the
                      real ports (net_pcap) and workers, then a readable report; its captures
                      go to a temporary directory that is removed at exit
  --keep DIR          with --demo: write the captures (input and forwarded, per port) to DIR
                      and keep them
  --help              this text
SIGINT or SIGTERM stops the daemon gracefully; it then prints its final counters as JSON.
SIGHUP (or sipshield-ctl reload) reads the config file again and applies it without a restart:
rules, prefixes, policy, SIP and reassembly limits, protected services, metrics, syslog; trust,
bans and counters stay. A config with an error, or one that would resize a table, is refused
whole and the running one stays; ports, workers, EAL, mempool, clock and control wait for a
restart. sipshield-ctl (control.socket) lists and sets bans, shows trust, and more.
)";

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
extern "C" void on_signal(int) {
  g_stop.store(true);
}
extern "C" void on_reload(int) {
  g_reload.store(true);
}

int run(int argc, char** argv) {
  CommandLine cmd = split_command_line(argc, argv);
  auto& app_argv = cmd.app;

  std::optional<std::string> config_file, report_file, keep_dir;
  bool check_only = false, demo = false;
  RunOptions options;
  options.program = argv[0];
  options.extra_eal_args = cmd.eal;
  static const option kOptions[] = {{"config", required_argument, nullptr, 'c'},
                                    {"check-config", no_argument, nullptr, 'k'},
                                    {"report", required_argument, nullptr, 'R'},
                                    {"idle-exit-ms", required_argument, nullptr, 'i'},
                                    {"duration", required_argument, nullptr, 'd'},
                                    {"demo", no_argument, nullptr, 'D'},
                                    {"events", required_argument, nullptr, 'E'},
                                    {"keep", required_argument, nullptr, 'K'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  const int app_argc = cmd.app_argc();
  for (int c; (c = getopt_long(app_argc, app_argv.data(), "", kOptions, nullptr)) != -1;) {
    try {
      switch (c) {
        case 'c':
          config_file = optarg;
          break;
        case 'k':
          check_only = true;
          break;
        case 'R':
          report_file = optarg;
          break;
        case 'i':
          options.idle_exit_ms = static_cast<unsigned>(std::stoul(optarg));
          break;
        case 'd':
          options.duration_s = std::stod(optarg);
          break;
        case 'D':
          demo = true;
          break;
        case 'E':
          options.events_file = optarg;
          break;
        case 'K':
          keep_dir = optarg;
          break;
        case 'h':
          fmt::print("{}", kUsage);
          return 0;
        default:
          fmt::print(stderr, "{}", kUsage);
          return 2;
      }
    } catch (const std::logic_error&) {
      fmt::print(stderr, "sipshield: {} needs a number, got \"{}\"\n", app_argv[optind - 1],
                 optarg);
      return 2;
    }
  }
  if (optind != app_argc) {
    fmt::print(stderr, "sipshield: unexpected argument \"{}\"\n{}", app_argv[optind], kUsage);
    return 2;
  }
  if (keep_dir && !demo) {
    fmt::print(stderr, "sipshield: --keep goes with --demo\n{}", kUsage);
    return 2;
  }
  // A stopped run (the demo too) ends through its destructors, which remove the demo's files.
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  if (demo) return run_demo(options, g_stop, keep_dir);
  if (!config_file) {
    fmt::print(stderr, "sipshield: --config is required (or --demo)\n{}", kUsage);
    return 2;
  }
  const Config config = load_config(*config_file);
  if (check_only) {
    fmt::print("{}\n", to_json(config).dump(2));
    return 0;
  }

  // Opened before the run: an unwritable report path fails at start, not after hours of work.
  std::ofstream report;
  if (report_file) {
    report.open(*report_file);
    if (!report) throw DataplaneError(fmt::format("cannot write the report file {}", *report_file));
  }

  // The whole file is read and checked again; its signature rules and prefix lists apply.
  options.reload_requested = &g_reload;
  options.reload_config = [path = *config_file] { return load_config(path); };
  std::signal(SIGHUP, on_reload);
  const RunResult result = run_dataplane(config, options, g_stop);
  fmt::print(stderr, "sipshield: stopped\n{}", render_verdict_table(result.totals));
  const std::string json = result.summary.dump(2);
  fmt::print("{}\n", json);
  std::fflush(stdout);
  if (report_file) {
    report << json << "\n";
    if (!report.flush())
      throw DataplaneError(fmt::format("cannot write the report file {}", *report_file));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return sipshield::run_main("sipshield", "config", [&] { return run(argc, argv); });
}
