// `sipshield --demo`: the daemon on its embedded defaults, fed the built-in scenario through two
// real DPDK ports (net_pcap vdevs, no NIC or hugepages needed), then a readable report of what
// it forwarded and dropped, scored against the scenario's labels.
#include "demo.hpp"

#include <unistd.h>

#include <filesystem>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "generator/generator.hpp"
#include "packet/pcap_file.hpp"
#include "telemetry/evaluation.hpp"
#include "telemetry/report.hpp"

namespace sipshield {

int run_demo(const RunOptions& base_options, const std::atomic<bool>& stop) {
  const Scenario scenario = parse_scenario(builtin_scenario_text(), "(built-in scenario)");
  FrameList generated;
  generate(scenario, generated);

  const auto dir =
      std::filesystem::temp_directory_path() / fmt::format("sipshield-demo-{}", getpid());
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

  RunOptions options = base_options;
  options.extra_eal_args.clear();
  options.idle_exit_ms = 1000;
  fmt::print(
      "sipshield demo: the built-in scenario, {} frames over {} s, through the daemon.\n{}\n",
      generated.frames.size(), scenario.duration_s, scenario.description);
  const RunResult result = run_dataplane(config, options, stop);

  // Which frames came out? Match the two ports' output to the generated frames by content
  // (identical retransmissions are counted, not told apart).
  std::map<std::vector<uint8_t>, uint64_t> forwarded;
  for (const char* file : {"outside-tx.pcap", "inside-tx.pcap"})
    for (auto& f : read_pcap(dir / file)) ++forwarded[f.bytes];
  std::vector<LabelledOutcome> outcomes;
  outcomes.reserve(generated.frames.size());
  for (const auto& f : generated.frames) {
    auto it = forwarded.find(f.bytes);
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
  fmt::print("Captures (input and forwarded, per port) are in {}\n", dir.string());
  return 0;
}

}  // namespace sipshield
