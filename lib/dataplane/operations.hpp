// The daemon's operations on the main lcore: sipshield-ctl's commands (over the control socket),
// the operators' bans, and the state snapshot that survives a restart. Commands that read or
// change per-source state run on each worker between its bursts (Worker::post), so no table is
// ever read while its worker writes it.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "control/control_socket.hpp"
#include "control/operator_bans.hpp"
#include "control/snapshot.hpp"
#include "control/top_talkers.hpp"
#include "dataplane/reload.hpp"
#include "dataplane/worker.hpp"
#include "packet/pcap_file.hpp"
#include "telemetry/events.hpp"

namespace sipshield {

// Unix time in milliseconds.
uint64_t wall_ms();

class Operations {
 public:
  struct Hooks {
    std::function<nlohmann::json()> stats;  // the counters and tables, as `stats --json` shows
    // Reads and checks the config file again and offers what it changes; "" or why refused.
    std::function<std::string()> reload;
    std::function<void()> settle_tables;  // waits until a pending table offer is taken
    // Writes an event line (the events file, syslog) with its event.action.
    std::function<void(const std::string& line, std::string_view action)> event;
  };
  Operations(const Config& config, std::vector<std::unique_ptr<Worker>>& workers,
             TableReload& tables, Hooks hooks);

  // Before the workers run: loads the snapshot (if configured) into every worker's tables and
  // the operators' bans into the prefix table; the line that says what was loaded, or why not.
  std::string restore_snapshot();
  // The workers run from now on (commands go to them), or have stopped (run here).
  void set_running(bool running) { running_ = running; }

  // Called every few ms by the main lcore: control requests, bans running out, the periodic
  // snapshot.
  void tick();
  // At the stop (workers joined): the last snapshot. Errors are logged, not thrown.
  void final_snapshot();
  // Every event the daemon drains: ban causes for `bans` (a ban's entry holds no cause).
  void note(const Event& e);

  // Drains the workers' sampled drops: top talkers, and the capture if one runs. Every tick.
  void drain_drop_samples();
  // Workers stamp samples with their clock; this turns it into Unix time (0: it is already).
  void set_clock_offset(uint64_t to_wall_ns) { to_wall_ns_ = to_wall_ns; }
  // Once a second: top talkers roll, the periodic top-talker event, a capture that ran out.
  void second();

  nlohmann::json handle(const nlohmann::json& request);
  // Runs `task` on every worker's pipeline between its bursts (here, once they have stopped)
  // and waits for each, two seconds at most: std::runtime_error then.
  void run_on_workers(const Worker::ControlTask& task);
  size_t operator_ban_count() const { return operator_bans_.list().size(); }
  // Sources banned now, as their events told (a lower bound when the event rings held some
  // back; no walk over the tables).
  size_t source_ban_count() const { return ban_causes_.size(); }

 private:
  std::vector<Mitigation::Standing> proven_sources();
  void write_snapshot_now();
  void offer_bans();
  void unban_event(const IpPrefix& prefix, uint64_t now_ms);

  nlohmann::json bans();
  nlohmann::json ban(const nlohmann::json& request);
  nlohmann::json unban(const nlohmann::json& request);
  nlohmann::json allow(const nlohmann::json& request, bool add);
  nlohmann::json trust_show(const nlohmann::json& request);
  nlohmann::json top(const nlohmann::json& request);
  nlohmann::json capture(const nlohmann::json& request);
  nlohmann::json capture_status() const;
  // Each talker's standing in words, from the first worker whose tables hold it.
  std::vector<std::string> standings(const std::vector<TopTalkers::Talker>& talkers);
  void end_capture();

  const Config& config_;
  std::vector<std::unique_ptr<Worker>>& workers_;
  TableReload& tables_;
  Hooks hooks_;
  std::optional<ControlSocket> socket_;
  OperatorBans operator_bans_;
  OperatorBans operator_allows_;  // sipshield-ctl allow add: trunks and peers, with no end
  static constexpr uint64_t kForever = UINT64_MAX / 2;
  bool running_ = false;
  uint32_t task_generation_ = 0;
  uint64_t next_snapshot_ms_ = 0;
  uint64_t next_prune_ms_ = 0;
  // The cause of each ban the events told (source "ip:port"); at most kMaxBanCauses (later bans
  // then show "not recorded": the event rings rate-limit too).
  struct BanCause {
    std::string reason, rule;
    uint64_t since_ms = 0;
    uint64_t until_ms = 0;
  };
  std::map<std::string, BanCause> ban_causes_;
  static constexpr size_t kMaxBanCauses = 65536;
  static constexpr uint32_t kSamplesPerSecond = 200;   // per worker: top talkers
  static constexpr uint32_t kCapturePerSecond = 5000;  // per worker, while a capture runs
  TopTalkers top_talkers_;
  uint64_t to_wall_ns_ = 0;
  uint64_t next_top_event_ms_ = 0;
  // sipshield-ctl capture --drops: a pcap and its JSON lines index while it runs.
  struct Capture {
    std::unique_ptr<PcapWriter> pcap;
    std::ofstream index;
    std::string file;
    uint64_t until_ms = 0, frames = 0, max_frames = 0;
  };
  std::optional<Capture> capture_;
  Capture last_capture_;  // what the last one wrote, for capture-status
};

}  // namespace sipshield
