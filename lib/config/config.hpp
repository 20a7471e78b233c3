// The daemon's and inspect's configuration: JSON, validated whole before anything starts. Every
// error names the JSON path and the expected form; unknown keys are errors, not ignored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/errors.hpp"
#include "core/ip_address.hpp"
#include "policy/settings.hpp"
#include "signatures/rules.hpp"
#include "telemetry/alarms.hpp"
#include "telemetry/syslog.hpp"

namespace sipshield {

enum class ClockSource : uint8_t { automatic, tsc, packet };

struct RssConfig {
  bool enabled = true;
  bool symmetric_key = true;  // 0x6d5a repeated: both directions of a pair hash alike
  // The device spreads flows over its queues itself (net_pcap with one rx_pcap per queue,
  // net_af_packet with qpairs and the kernel's symmetric fanout hash): one queue per worker, no
  // RSS configured.
  bool by_device = false;
  std::vector<std::string> types{"ipv4", "frag_ipv4", "nonfrag_ipv4_other",
                                 "ipv6", "frag_ipv6", "nonfrag_ipv6_other"};
};

struct PortConfig {
  std::string device;  // PCI address (0000:03:00.0) or vdev args (net_pcap0,rx_pcap=...)
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  uint16_t mtu = 1500;
  bool promiscuous = true;  // a bump in the wire forwards frames for every MAC
  RssConfig rss;
  std::vector<std::string> rx_offloads{"ipv4_cksum"};
  std::vector<std::string> tx_offloads;
};

struct MempoolConfig {
  uint32_t mbufs = 0;  // 0: sized from descriptors, workers and reassembly.max_held
  uint16_t cache = 256;
};

// The pipeline's settings (protected services, limits, policy) plus what only the daemon and
// the tools read.
// Operations (docs/operations.md): the control socket of sipshield-ctl, the Prometheus endpoint,
// the state snapshot that survives a restart (syslog: telemetry/syslog.hpp).
struct ControlConfig {
  std::string socket = "/run/sipshield/control.sock";  // "": no control socket
  std::string group;  // also open to this group (mode 0660); "": root only (0600)
};
struct MetricsConfig {
  bool enabled = true;
  std::string address = "127.0.0.1";
  uint16_t port = 9470;
};
struct SnapshotConfig {
  std::string file;            // "": no snapshot
  unsigned interval_s = 60;    // also written this often while running (0: only at the stop)
  unsigned max_age_s = 86400;  // an older snapshot is not loaded
};
struct Config : PipelineSettings {
  std::vector<std::string> eal_args;
  std::optional<PortConfig> outside;
  std::optional<PortConfig> inside;
  unsigned workers = 1;
  std::vector<IpPrefix> allow;         // trunks, peer SBCs: no signatures, meters or budget
  std::vector<IpPrefix> deny;          // dropped before anything else
  std::string signatures = "builtin";  // "builtin", "none" or a rules file (relative to the config)
  // Loaded and checked from `signatures` by parse_config: a default-constructed Config has no
  // rules (start from parse_config_text("{}") for the embedded defaults).
  std::vector<Rule> signature_rules;
  ClockSource clock = ClockSource::automatic;
  MempoolConfig mempool;
  unsigned stats_interval_s = 10;  // 0: no periodic stats line
  ControlConfig control;
  MetricsConfig metrics;
  SnapshotConfig snapshot;
  SyslogConfig syslog;
  AlarmConfig alarms;
};

// Parses and validates. `base_dir` resolves relative paths (port profiles) in the file.
Config parse_config(const nlohmann::json& document, const std::filesystem::path& base_dir = {});
Config load_config(const std::filesystem::path& file);
Config parse_config_text(std::string_view text, const std::filesystem::path& base_dir = {});

// Every key that parse_config knows, with its value (defaults filled in): the effective config.
nlohmann::json to_json(const Config& config);

}  // namespace sipshield
