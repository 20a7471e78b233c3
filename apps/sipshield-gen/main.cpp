// sipshield-gen: labelled SIP traffic, legitimate and hostile, from a scenario.
//   sipshield-gen [--scenario FILE] --out PREFIX
//   sipshield-gen [EAL options] -- [--scenario FILE] --live --device DEV [--inside-device DEV]
//                 --rate PPS [--loops N]
#include <getopt.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <optional>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <fmt/format.h>

#include "config/command_line.hpp"
#include "config/run_main.hpp"
#include "dataplane/eal.hpp"
#include "dataplane/port.hpp"
#include "generator/generator.hpp"

namespace {

using namespace sipshield;

constexpr const char* kUsage = R"(usage: sipshield-gen [--scenario FILE] --out PREFIX
       sipshield-gen [EAL options] -- [--scenario FILE] --live --device DEV [--inside-device DEV]
                     --rate PPS [--loops N]

  --scenario FILE       scenario JSON (docs/generator.md); default: the built-in demo scenario
  --out PREFIX          write PREFIX.pcap (both directions) and PREFIX.labels.tsv
  --live                send through DPDK ports instead, paced like a hardware generator
  --device DEV          port for client-to-server frames (PCI address or vdev arguments)
  --inside-device DEV   port for server-to-client frames (omitted: those frames are not sent)
  --rate PPS            total frames per second, sent in bursts of up to 32
  --loops N             play the scenario N times (default 1)
  --help                this text

--live starts DPDK's EAL with the options before "--". On a machine without hugepages, into
a capture file through a net_pcap port:
  sipshield-gen --no-huge --no-shconf -m 512 --no-pci -l 0 --
                --live --device net_pcap0,tx_pcap=out.pcap --rate 10000
)";

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) {
  g_stop.store(true);
}

struct LiveOptions {
  std::string device, inside_device;
  double rate = 0;
  unsigned loops = 1;
};

int send_live(const Scenario& scenario, const LiveOptions& live,
              std::vector<std::string> eal_args) {
  FrameList list;
  generate(scenario, list);
  Eal eal(eal_args);
  Mempool pool("gen_mbufs", 8191, 256, data_room_for_mtu(9000), SOCKET_ID_ANY);
  PortConfig port_config;
  port_config.rss.enabled = false;
  port_config.rx_offloads.clear();
  std::optional<Port> out, in;
  port_config.device = live.device;
  out.emplace("generator", port_config);
  out->start(1, pool.get());
  if (!live.inside_device.empty()) {
    port_config.device = live.inside_device;
    in.emplace("generator-inside", port_config);
    in->start(1, pool.get());
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  const uint64_t hz = rte_get_tsc_hz();
  const double cycles_per_frame = hz / live.rate;
  const uint64_t start = rte_rdtsc();
  uint64_t sent[2] = {0, 0}, failed = 0, skipped = 0, next_report = start + hz;
  uint64_t offered = 0;
  const uint64_t total = list.frames.size() * live.loops;
  rte_mbuf* burst[32];
  while (offered < total && !g_stop.load()) {
    const uint64_t now = rte_rdtsc();
    const uint64_t due = std::min<uint64_t>(total, uint64_t((now - start) / cycles_per_frame) + 1);
    while (offered < due) {
      // One burst per port direction: consecutive frames that leave by the same port.
      const auto& first = list.frames[offered % list.frames.size()];
      const bool toward = first.toward_server;
      Port* port = toward ? &*out : (in ? &*in : nullptr);
      uint16_t n = 0;
      while (offered < due && n < 32) {
        const auto& f = list.frames[offered % list.frames.size()];
        if (f.toward_server != toward) break;
        ++offered;
        if (!port) {
          ++skipped;
          continue;
        }
        rte_mbuf* m = rte_pktmbuf_alloc(pool.get());
        if (!m) {  // the pool is empty: the port has not freed what it sent yet
          ++failed;
          continue;
        }
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.bytes.size())), f.bytes.data(),
                    f.bytes.size());
        burst[n++] = m;
      }
      if (n == 0) continue;
      const uint16_t ok = rte_eth_tx_burst(port->id(), 0, burst, n);
      sent[toward ? 0 : 1] += ok;
      if (ok < n) {
        failed += n - ok;
        rte_pktmbuf_free_bulk(burst + ok, n - ok);
      }
    }
    if (now >= next_report) {
      const double secs = double(now - start) / hz;
      fmt::print(stderr,
                 "sipshield-gen: {:.0f} s: sent {} toward servers, {} from servers, {:.0f} pps, "
                 "{} tx failed\n",
                 secs, sent[0], sent[1], (sent[0] + sent[1]) / secs, failed);
      next_report += hz;
    }
  }
  const double secs = double(rte_rdtsc() - start) / hz;
  fmt::print(
      "{{\"frames_offered\": {}, \"sent_toward_servers\": {}, \"sent_from_servers\": {}, "
      "\"tx_failed\": {}, \"not_sent_no_inside_port\": {}, \"seconds\": {:.3f}, "
      "\"rate_pps\": {:.0f}}}\n",
      offered, sent[0], sent[1], failed, skipped, secs, (sent[0] + sent[1]) / secs);
  return 0;
}

int run(int argc, char** argv) {
  CommandLine cmd = split_command_line(argc, argv);
  auto& app_argv = cmd.app;
  std::vector<std::string> eal_args{argv[0]};
  eal_args.insert(eal_args.end(), cmd.eal.begin(), cmd.eal.end());

  std::optional<std::string> scenario_file, out;
  bool live = false;
  LiveOptions live_options;
  static const option kOptions[] = {{"scenario", required_argument, nullptr, 's'},
                                    {"out", required_argument, nullptr, 'o'},
                                    {"live", no_argument, nullptr, 'l'},
                                    {"device", required_argument, nullptr, 'd'},
                                    {"inside-device", required_argument, nullptr, 'i'},
                                    {"rate", required_argument, nullptr, 'r'},
                                    {"loops", required_argument, nullptr, 'n'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  const int app_argc = cmd.app_argc();
  for (int c; (c = getopt_long(app_argc, app_argv.data(), "", kOptions, nullptr)) != -1;) {
    switch (c) {
      case 's':
        scenario_file = optarg;
        break;
      case 'o':
        out = optarg;
        break;
      case 'l':
        live = true;
        break;
      case 'd':
        live_options.device = optarg;
        break;
      case 'i':
        live_options.inside_device = optarg;
        break;
      case 'r':
        live_options.rate = std::strtod(optarg, nullptr);
        break;
      case 'n': {
        const long loops = std::strtol(optarg, nullptr, 10);
        live_options.loops = loops > 0 && loops < 1000000 ? static_cast<unsigned>(loops) : 0;
      } break;
      case 'h':
        fmt::print("{}", kUsage);
        return 0;
      default:
        fmt::print(stderr, "{}", kUsage);
        return 2;
    }
  }
  if (optind != app_argc || live == out.has_value()) {
    fmt::print(stderr, "sipshield-gen: give either --out PREFIX or --live\n{}", kUsage);
    return 2;
  }
  const Scenario scenario = scenario_file ? load_scenario(*scenario_file)
                                          : parse_scenario(builtin_scenario_text(), "(built-in)");
  if (live) {
    if (live_options.device.empty() || !(live_options.rate > 0) || live_options.loops == 0) {
      fmt::print(stderr, "sipshield-gen: --live needs --device, --rate > 0 and --loops >= 1\n");
      return 2;
    }
    return send_live(scenario, live_options, eal_args);
  }
  CaptureFiles files(*out);
  const uint64_t frames = generate(scenario, files);
  fmt::print(stderr, "sipshield-gen: {} frames in {}.pcap, labels in {}.labels.tsv\n", frames, *out,
             *out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return sipshield::run_main("sipshield-gen", "scenario", [&] { return run(argc, argv); });
}
