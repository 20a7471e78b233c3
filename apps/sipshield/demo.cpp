// `sipshield --demo`: the daemon on its embedded defaults, fed the built-in scenario through two
// real DPDK ports (net_pcap vdevs, no NIC or hugepages needed), then a readable report of what
// it forwarded and dropped, scored against the scenario's labels.
#include "demo.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "generator/generator.hpp"
#include "packet/pcap_file.hpp"
#include "telemetry/evaluation.hpp"
#include "telemetry/report.hpp"

namespace sipshield {

namespace {

// The captures are about 50 MB: gone however the demo ends (report, error, signal).
struct RemovedAtExit {
  std::filesystem::path dir;
  ~RemovedAtExit() {
    std::error_code ignored;
    if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
  }
};

// "12 floods of 10 kinds (register_flood, ...), 6 s to 16 s": counted, so the text follows
// the scenario.
std::string describe_floods(const Scenario& scenario) {
  if (scenario.floods.empty()) return "no floods";
  std::set<std::string_view> kinds;
  std::string names;
  double start = scenario.duration_s, end = 0;
  for (const auto& f : scenario.floods) {
    if (kinds.insert(flood_kind_name(f.kind)).second)
      names += fmt::format("{}{}", names.empty() ? "" : ", ", flood_kind_name(f.kind));
    start = std::min(start, f.start_s);
    end = std::max(end, std::min(f.start_s + f.duration_s, scenario.duration_s));
  }
  return fmt::format("{} floods of {} kinds ({}), {:g} s to {:g} s", scenario.floods.size(),
                     kinds.size(), names, start, end);
}

// What real clients would have seen: the same capture through sipshield-inspect --closed-loop
// (the same pipeline, offline), where clients answer probes and retransmit a dropped request
// once. The daemon's run above is open loop: nothing answers its probes. Null when the sibling
// binary is missing or fails (said on stderr).
std::optional<std::vector<LabelledOutcome>> closed_loop_outcomes(const std::filesystem::path& dir,
                                                                 const Config& config,
                                                                 const FrameList& generated) {
  const std::filesystem::path inspect =
      std::filesystem::read_symlink("/proc/self/exe").parent_path() / "sipshield-inspect";
  if (!std::filesystem::exists(inspect)) {
    fmt::print(stderr, "sipshield: no {}: the closed-loop table is left out\n", inspect.string());
    return std::nullopt;
  }
  {
    CaptureFiles capture((dir / "scenario").string());
    for (const auto& f : generated.frames) capture.frame(f);
  }
  std::vector<std::string> args = {inspect.string(),
                                   "--pcap",
                                   (dir / "scenario.pcap").string(),
                                   "--closed-loop",
                                   (dir / "scenario.labels.tsv").string(),
                                   "--verdicts",
                                   (dir / "closed-loop.verdicts.jsonl").string(),
                                   "--quiet"};
  for (const auto& s : config.protected_services) {
    args.push_back("--protect");
    args.push_back(s.to_string());
  }
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fmt::print(stderr, "sipshield: {} failed: the closed-loop table is left out\n",
               inspect.string());
    return std::nullopt;
  }
  return read_labelled_verdicts(dir / "scenario.labels.tsv", dir / "closed-loop.verdicts.jsonl");
}

}  // namespace

int run_demo(const RunOptions& base_options, const std::atomic<bool>& stop,
             const std::optional<std::string>& keep_dir) {
  const Scenario scenario = parse_scenario(builtin_scenario_text(), "(built-in scenario)");
  FrameList generated;
  generate(scenario, generated);

  RemovedAtExit temporary;
  const std::filesystem::path dir = keep_dir ? std::filesystem::path(*keep_dir)
                                             : std::filesystem::temp_directory_path() /
                                                   fmt::format("sipshield-demo-{}", getpid());
  if (!keep_dir) temporary.dir = dir;
  std::filesystem::create_directories(dir);
  {
    PcapWriter outside(dir / "outside-rx.pcap"), inside(dir / "inside-rx.pcap");
    for (const auto& f : generated.frames)
      (f.toward_server ? outside : inside).write(f.time_us, f.bytes);
  }

  // The embedded defaults as a config file would give them (built-in signature rules
  // included), with two pcap ports and the scenario's servers.
  Config config = parse_config_text("{}");
  const bool two_cores = std::thread::hardware_concurrency() >= 2;
  config.eal_args = {"--no-huge",
                     "--no-pci",
                     "--no-shconf",
                     "-m",
                     "1024",
                     "--log-level=*:warning",
                     "--no-telemetry",
                     two_cores ? "-l" : "--lcores",
                     two_cores ? "0-1" : "0@0,1@0"};
  PortConfig port;
  port.rss.enabled = false;
  port.device = fmt::format("net_pcap0,rx_pcap={},tx_pcap={}", (dir / "outside-rx.pcap").string(),
                            (dir / "outside-tx.pcap").string());
  config.outside = port;
  port.device = fmt::format("net_pcap1,rx_pcap={},tx_pcap={}", (dir / "inside-rx.pcap").string(),
                            (dir / "inside-tx.pcap").string());
  config.inside = port;
  for (const auto& server : scenario.servers)
    config.protected_services.push_back({IpPrefix{server.address, 128}, server.port});
  config.stats_interval_s = 0;
  // A demonstration, not a deployment: no control socket or metrics port of its own (a daemon
  // running on this host keeps its own).
  config.control.socket.clear();
  config.metrics.enabled = false;

  RunOptions options = base_options;
  options.extra_eal_args.clear();
  options.idle_exit_ms = 1000;
  fmt::print(
      "sipshield demo: the built-in scenario, {} frames over {} s, through the daemon.\n{}\n"
      "{} users, {}.\n",
      generated.frames.size(), scenario.duration_s, scenario.description, scenario.users.count,
      describe_floods(scenario));
  std::fflush(stdout);  // seen before the run, also through a pipe
  const RunResult result = run_dataplane(config, options, stop);
  if (stop.load()) {
    fmt::print(stderr, "sipshield: demo interrupted\n");
    return 130;
  }

  // Which frames came out? Match the two ports' output to the generated frames by content
  // (identical retransmissions are counted, not told apart).
  // Keyed by the bytes as a string: a map of vectors trips a false -Wstringop-overread in GCC 12
  // at -O3.
  const auto key = [](const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); };
  std::unordered_map<std::string, uint64_t> forwarded;
  for (const char* file : {"outside-tx.pcap", "inside-tx.pcap"})
    for (auto& f : read_pcap(dir / file)) ++forwarded[key(f.bytes)];
  std::vector<LabelledOutcome> outcomes;
  outcomes.reserve(generated.frames.size());
  for (const auto& f : generated.frames) {
    auto it = forwarded.find(key(f.bytes));
    const bool passed = it != forwarded.end() && it->second > 0;
    if (passed) --it->second;
    outcomes.push_back({f.label, f.flow, f.toward_server, passed});
  }

  std::string services;
  for (const auto& s : config.protected_services)
    services += (services.empty() ? "" : ", ") + s.to_string();
  fmt::print("\nprotected services: {}\nworkers: {}, clock: {}, run time {:.2f} s\n\n", services,
             result.summary["workers"].get<unsigned>(), result.summary["clock"].get<std::string>(),
             result.summary["uptime_s"].get<double>());
  fmt::print("What the daemon did, by reason:\n{}\n", render_verdict_table(result.totals));
  fmt::print(
      "What that means for each kind of traffic (in: toward the servers, out: from them;\n"
      "a flow is ok when all its frames toward the servers passed):\n{}\n",
      render_evaluation(evaluate(outcomes)));
  const uint64_t probes = result.totals.probes[0];
  if (const auto closed = closed_loop_outcomes(dir, config, generated))
    fmt::print(
        "The daemon sent {} return-routability probes and held first contacts while they\n"
        "surged, but here nothing answers a probe and no client retransmits. The same capture\n"
        "through the same pipeline offline, with clients that answer probes and retransmit a\n"
        "dropped request once after 0.5 s (sipshield-inspect --closed-loop, "
        "docs/generator.md):\n{}\n",
        probes, render_evaluation(evaluate(*closed)));
  if (keep_dir)
    fmt::print("Captures (input and forwarded, per port) are in {}\n", dir.string());
  else
    fmt::print(
        "Captures (input and forwarded, per port) are removed at exit; --keep DIR keeps them.\n");
  return 0;
}

}  // namespace sipshield
