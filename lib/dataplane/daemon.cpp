#include "dataplane/daemon.hpp"

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf_dyn.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/table_memory.hpp"
#include "dataplane/clock.hpp"
#include "dataplane/eal.hpp"
#include "dataplane/metrics.hpp"
#include "dataplane/operations.hpp"
#include "dataplane/port.hpp"
#include "dataplane/reload.hpp"
#include "dataplane/telemetry_commands.hpp"
#include "dataplane/worker.hpp"
#include "esp/keys_file.hpp"
#include "policy/state_report.hpp"
#include "telemetry/alarms.hpp"
#include "telemetry/metrics_server.hpp"
#include "telemetry/syslog.hpp"

namespace sipshield {
namespace {

struct Launch {
  Worker* worker;
  const std::atomic<bool>* stop;
};

int worker_main(void* arg) {
  auto* launch = static_cast<Launch*>(arg);
  launch->worker->run(*launch->stop);
  return 0;
}

// The lcores running workers. Stops and joins them when it goes out of scope, so an error after
// a launch never unwinds the ports, the pool and the tables under running workers.
class LaunchedWorkers {
 public:
  explicit LaunchedWorkers(std::atomic<bool>& stop) : stop_(stop) {}
  LaunchedWorkers(const LaunchedWorkers&) = delete;
  LaunchedWorkers& operator=(const LaunchedWorkers&) = delete;
  ~LaunchedWorkers() {
    if (lcores_.empty()) return;
    fmt::print(stderr, "sipshield: stopping {} worker(s) after an error\n", lcores_.size());
    stop_and_join();
  }

  void launch(Launch& launch, unsigned lcore) {
    if (rte_eal_remote_launch(worker_main, &launch, lcore) != 0)
      throw DataplaneError(
          fmt::format("cannot launch worker {} on lcore {}", lcores_.size(), lcore));
    lcores_.push_back(lcore);
  }

  void stop_and_join() {
    stop_.store(true);
    for (const unsigned lcore : lcores_) rte_eal_wait_lcore(lcore);
    lcores_.clear();
  }

 private:
  std::atomic<bool>& stop_;
  std::vector<unsigned> lcores_;
};

uint32_t mbufs_needed(const Config& config, unsigned workers) {
  const uint32_t descriptors = config.outside->rx_descriptors + config.outside->tx_descriptors +
                               config.inside->rx_descriptors + config.inside->tx_descriptors;
  // Every queue full, every reassembly table full, a burst in flight, and the per-lcore caches.
  const uint32_t per_worker = descriptors + config.reassembly.max_held + 4 * kBurstSize;
  return workers * per_worker + (workers + 1) * config.mempool.cache * 2u + 1024;
}

// 1234567 as "1.23M", 4321 as "4.3k".
std::string rate(uint64_t n) {
  if (n >= 1'000'000) return fmt::format("{:.2f}M", n / 1e6);
  if (n >= 1'000) return fmt::format("{:.1f}k", n / 1e3);
  return std::to_string(n);
}

// The live line on a terminal: a second's rates per port, the top three drop reasons, bans,
// alarms, and the tables and budgets (as the stats line).
std::string status_line(const CounterTotals& now, const CounterTotals& before,
                        const AlarmLevels& alarms, const Operations& operations,
                        const std::string& tables) {
  const auto delta = [](uint64_t a, uint64_t b) { return a >= b ? a - b : 0; };
  std::vector<std::pair<uint64_t, size_t>> drops;
  for (size_t r = 0; r < kReasonCount; ++r)
    if (const uint64_t d = delta(now.dropped[r], before.dropped[r])) drops.emplace_back(d, r);
  std::sort(drops.rbegin(), drops.rend());
  std::string top;
  for (size_t i = 0; i < drops.size() && i < 3; ++i)
    top += fmt::format("{}{} {}/s", i ? ", " : " ", kReasonNames[drops[i].second],
                       rate(drops[i].first));
  std::string raised;
  for (size_t r = 0; r < kReasonCount; ++r)
    if (alarms.level(static_cast<Reason>(r)) != AlarmLevel::none)
      raised += fmt::format(" {} {}", kReasonNames[r],
                            alarm_level_name(alarms.level(static_cast<Reason>(r))));
  return fmt::format(
      "outside in {}/s out {}/s | inside in {}/s out {}/s | drops{} | bans {} + {} by hand | "
      "alarms{}{}",
      rate(delta(now.rx[0], before.rx[0])), rate(delta(now.tx[1], before.tx[1])),
      rate(delta(now.rx[1], before.rx[1])), rate(delta(now.tx[0], before.tx[0])),
      top.empty() ? " none" : top, operations.source_ban_count(), operations.operator_ban_count(),
      raised.empty() ? " none" : raised, tables);
}

// How loud an event is for syslog: bans and attacks warn, the rest notify.
Severity severity_of(EventType type) {
  switch (type) {
    case EventType::source_banned:
    case EventType::attack_started:
    case EventType::suppressed:
      return Severity::warning;
    default:
      return Severity::notice;
  }
}

std::string stats_line(const CounterTotals& t) {
  std::string top;
  std::vector<std::pair<uint64_t, size_t>> drops;
  for (size_t r = 0; r < kReasonCount; ++r)
    if (t.dropped[r]) drops.emplace_back(t.dropped[r], r);
  std::sort(drops.rbegin(), drops.rend());
  for (size_t i = 0; i < drops.size() && i < 3; ++i)
    top += fmt::format("{}{} {}", i ? ", " : " (", kReasonNames[drops[i].second], drops[i].first);
  if (!top.empty()) top += ")";
  return fmt::format(
      "rx outside {} inside {} | forwarded to inside {} to outside {} | "
      "dropped {}{} | tx failed {}",
      t.rx[0], t.rx[1], t.tx[0], t.tx[1], t.total_dropped(), top, t.tx_failed[0] + t.tx_failed[1]);
}

// What a port lost before the filter, for the stats line: " | outside lost: imissed 120,
// rx_nombuf 4"; nothing when it lost nothing. Reads the device's counters: main lcore only.
std::string port_losses(const Port& port) {
  const PortStats s = port.stats();
  std::string lost;
  for (const auto& [name, n] :
       {std::pair{"imissed", s.imissed}, std::pair{"ierrors", s.ierrors},
        std::pair{"rx_nombuf", s.rx_nombuf}, std::pair{"oerrors", s.oerrors}})
    if (n) lost += fmt::format("{}{} {}", lost.empty() ? "" : ", ", name, n);
  return lost.empty() ? lost : fmt::format(" | {} lost: {}", port.role(), lost);
}

// How full the workers' tables are and where the budgets stand, for the stats line (a
// probation area that evicts fast or a budget down to its minimum tells why newcomers wait).
std::string tables_line(const std::vector<std::unique_ptr<Worker>>& workers) {
  std::vector<const Pipeline*> pipelines;
  for (const auto& w : workers) pipelines.push_back(&w->pipeline());
  return state_line(summarize_state(pipelines));
}

// A port in the final summary: its device, driver and the device's own counters (what it
// received and sent, and what it lost before any worker saw it). Main lcore only.
nlohmann::json port_summary(const Port& port) {
  nlohmann::json out = {{"device", port.device()}, {"driver", port.driver()}};
  const PortStats s = port.stats();
  if (!s.error.empty()) {
    out["stats_error"] = s.error;
    return out;
  }
  out.update({{"ipackets", s.ipackets},
              {"opackets", s.opackets},
              {"imissed", s.imissed},
              {"ierrors", s.ierrors},
              {"oerrors", s.oerrors},
              {"rx_nombuf", s.rx_nombuf}});
  if (!s.q_ipackets.empty()) {
    out["q_ipackets"] = s.q_ipackets;
    out["q_errors"] = s.q_errors;
  }
  return out;
}

// What the tables take and where, and the process's resident memory (VmRSS; hugepage mappings
// are counted apart by the kernel as HugetlbPages).
nlohmann::json memory_report() {
  const auto tables = table_memory::usage();
  nlohmann::json out = {{"tables_hugepage_bytes", tables.hugepage_bytes},
                        {"tables_heap_bytes", tables.heap_bytes}};
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    for (const auto& [field, key] :
         {std::pair{"VmRSS:", "resident_bytes"}, std::pair{"HugetlbPages:", "hugetlb_bytes"}})
      if (line.starts_with(field)) out[key] = std::stoull(line.substr(std::strlen(field))) * 1024;
  }
  return out;
}
}  // namespace

RunResult run_dataplane(const Config& config, const RunOptions& options,
                        const std::atomic<bool>& stop_requested) {
  if (!config.outside || !config.inside)
    throw ConfigError("$.ports", "the daemon needs ports.outside and ports.inside");
  // Opened before anything starts: a bad path fails the start before any worker runs.
  std::ofstream events_out;
  if (!options.events_file.empty()) {
    events_out.open(options.events_file, std::ios::app);
    if (!events_out)
      throw DataplaneError(fmt::format("--events {}: cannot open for appending: {}",
                                       options.events_file, std::strerror(errno)));
  }

  std::vector<std::string> eal_args{options.program};
  eal_args.insert(eal_args.end(), config.eal_args.begin(), config.eal_args.end());
  eal_args.insert(eal_args.end(), options.extra_eal_args.begin(), options.extra_eal_args.end());
  Eal eal(eal_args);
  register_telemetry_commands();

  unsigned workers = config.workers;

  std::optional<Mempool> pool;  // declared before the ports: they close first
  Port outside("outside", *config.outside);
  Port inside("inside", *config.inside);

  for (const Port* port : {&outside, &inside}) {
    std::string why;
    const uint16_t queues = port->max_worker_queues(why);
    if (queues == 1 && workers > 1 && !why.empty()) {
      RTE_LOG(WARNING, USER1,
              "ports.%s (%s): no RSS (%s): falling back to one queue and one worker\n",
              port->role().c_str(), port->device().c_str(), why.c_str());
      workers = 1;
    } else if (queues < workers) {
      throw DataplaneError(
          fmt::format("ports.{} ({}): {} workers need {} queues; the device "
                      "offers {}",
                      port->role(), port->device(), workers, workers, queues));
    }
  }

  if (rte_lcore_count() < workers + 1)
    throw DataplaneError(fmt::format(
        "workers: {} workers need {} lcores (the main lcore and one per worker); EAL has {} "
        "(set -l in eal.args or on the command line)",
        workers, workers + 1, rte_lcore_count()));

  // One clock per decision: packet timestamps when a capture feeds the ports (replay decides
  // as it did live), the TSC otherwise.
  const int timestamp_offset = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, nullptr);
  const bool pcap_ports = outside.driver() == "net_pcap" && inside.driver() == "net_pcap";
  bool packet_clock = false;
  switch (config.clock) {
    case ClockSource::tsc:
      break;
    case ClockSource::packet:
      if (timestamp_offset < 0 || !pcap_ports)
        throw ConfigError("$.clock", "\"packet\" needs both ports to timestamp frames (net_pcap)");
      packet_clock = true;
      break;
    case ClockSource::automatic:
      packet_clock = pcap_ports && timestamp_offset >= 0;
      break;
  }

  const uint16_t data_room = data_room_for_mtu(std::max(config.outside->mtu, config.inside->mtu));
  const uint32_t mbufs =
      config.mempool.mbufs ? config.mempool.mbufs : mbufs_needed(config, workers);
  pool.emplace("sipshield_mbufs", mbufs, config.mempool.cache, data_room, outside.socket());
  outside.start(static_cast<uint16_t>(workers), pool->get());
  inside.start(static_cast<uint16_t>(workers), pool->get());

  const KeyedHash hash;  // one secret per start, shared read-only by every worker's tables
  // Tables in hugepage memory when the EAL has hugepages, each worker's on its core's NUMA node.
  table_memory::use_hugepages(rte_eal_has_hugepages() != 0);
  // Signature rules (each worker scans with its own scratch) and prefix lists, built at start
  // and on reload.
  TableReload tables(config);
  // Prefixes that produced trusted users, learned and read by every worker.
  FamiliarPrefixes familiar(config.policy.familiar_prefixes, config.policy.familiar_ipv4_length,
                            config.policy.familiar_ipv6_length, hash);
  SharedTables shared = tables.shared();
  shared.familiar = &familiar;
  // The operator's ESP keys, as HMAC states, seeded into every worker's SA table; wiped at exit.
  const EspKeys esp_keys(config.esp);
  shared.esp_keys = esp_keys.sas();
  // One secret for every worker's probe cookies, drawn per start: a probe's answer verifies on
  // whichever worker it reaches.
  std::array<uint8_t, 16> probe_secret;
  std::random_device random;
  for (auto& byte : probe_secret) byte = static_cast<uint8_t>(random());
  shared.probe_secret = &probe_secret;
  // One untrusted budget per protected service for the daemon, split among the workers.
  // Sized for the most services a config may list: a reload may protect more.
  BudgetShares budget_shares(workers, kMaxProtectedServices);
  shared.budget_shares = &budget_shares;
  std::vector<unsigned> worker_lcores;
  for (unsigned lcore = rte_get_next_lcore(-1, 1, 0); worker_lcores.size() < workers;
       lcore = rte_get_next_lcore(lcore, 1, 0))
    worker_lcores.push_back(lcore);
  std::vector<std::unique_ptr<Worker>> worker_objects;
  for (unsigned w = 0; w < workers; ++w) {
    const table_memory::OnSocket on_socket(
        static_cast<int>(rte_lcore_to_socket_id(worker_lcores[w])));
    worker_objects.push_back(std::make_unique<Worker>(config, hash, shared, outside.id(),
                                                      inside.id(), static_cast<uint16_t>(w),
                                                      packet_clock ? timestamp_offset : -1));
  }
  // Forward declared for the operations' hooks; defined with the main loop below.
  std::function<std::string()> reload_now;
  std::function<nlohmann::json()> stats_now;
  std::function<void()> settle_tables;
  std::function<void(const std::string&, std::string_view)> event_writer;
  // The config in force: a reload replaces it (but for what waits for a restart).
  Config running = config;
  Operations operations(running, worker_objects, tables,
                        {[&] { return stats_now(); }, [&] { return reload_now(); },
                         [&] {
                           if (settle_tables) settle_tables();
                         },
                         [&](const std::string& line, std::string_view action) {
                           if (event_writer) event_writer(line, action);
                         }});
  if (const std::string restored = operations.restore_snapshot(); !restored.empty())
    fmt::print(stderr, "sipshield: {}\n", restored);
  // Listening before the workers start: a port in use fails the start, not a scrape later.
  std::unique_ptr<MetricsServer> metrics;
  if (config.metrics.enabled)
    metrics = std::make_unique<MetricsServer>(config.metrics.address, config.metrics.port);
  OperationsCounters operations_counters;
  std::vector<Launch> launches(workers);
  std::atomic<bool> stop_workers{false};
  LaunchedWorkers launched(stop_workers);  // from here on, every exit stops and joins them
  for (unsigned w = 0; w < workers; ++w) {
    launches[w] = {worker_objects[w].get(), &stop_workers};
    launched.launch(launches[w], worker_lcores[w]);
  }
  operations.set_running(true);
  const auto memory = table_memory::usage();
  fmt::print(stderr,
             "sipshield: {} worker(s); outside {} [{}], inside {} [{}]; {} protected service(s); "
             "clock {}; tables {:.1f} MiB {}\n",
             workers, outside.device(), outside.driver(), inside.device(), inside.driver(),
             config.protected_services.size(), packet_clock ? "packet timestamps" : "tsc",
             static_cast<double>(memory.hugepage_bytes + memory.heap_bytes) / (1 << 20),
             memory.hugepage_bytes ? "in hugepages" : "on the heap (no hugepages)");
  // Fault injection for the tests (docs/operations.md): a start-up error with workers running.
  if (const char* fail = std::getenv("SIPSHIELD_TEST_FAIL_AFTER_LAUNCH"); fail && *fail == '1')
    throw DataplaneError("SIPSHIELD_TEST_FAIL_AFTER_LAUNCH: injected failure after the launch");

  const TscClock clock;
  const uint64_t started = clock.now_ns();
  const auto totals_now = [&] {
    CounterTotals t;
    for (const auto& w : worker_objects) t.add(w->pipeline().counters());
    return t;
  };
  // Events: drained from every worker's ring by this lcore, written as JSON lines.
  uint64_t events_written = 0;
  AttackMerger attacks;  // one attack per drop reason across the workers
  // Workers stamp events with their clock: the TSC's nanoseconds since boot, or capture time.
  const auto wall_ns = [] {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  };
  const uint64_t tsc_to_wall_ns = packet_clock ? 0 : wall_ns() - clock.now_ns();
  operations.set_clock_offset(tsc_to_wall_ns);
  // Every event goes to the events file and, if configured, to the syslog collector.
  std::unique_ptr<SyslogSender> syslog;
  if (config.syslog.enabled) syslog = std::make_unique<SyslogSender>(config.syslog);
  const auto write_event = [&](const std::string& line, std::string_view action, Severity severity,
                               uint64_t time_ns) {
    if (events_out.is_open()) events_out << line << '\n';
    if (syslog) syslog->send(severity, time_ns, action, line, clock.now_ns());
  };
  event_writer = [&](const std::string& line, std::string_view action) {
    write_event(line, action, Severity::notice, wall_ns());
    if (events_out.is_open()) events_out.flush();
  };
  const auto drain_events = [&] {
    Event e;
    for (unsigned w = 0; w < worker_objects.size(); ++w) {
      auto& ring = worker_objects[w]->events();
      while (ring.next(e)) {
        e.time_ns += tsc_to_wall_ns;
        operations.note(e);
        if (!attacks.pass(e, w)) continue;
        ++events_written;
        ++operations_counters.events[static_cast<size_t>(e.type)];
        write_event(event_json(e, w), event_action(e.type), severity_of(e.type), e.time_ns);
      }
    }
    if (events_out.is_open()) events_out.flush();
  };

  // Reload (SIGHUP): the new config is read and checked whole; its signature rules and prefix
  // lists are built here and handed to the workers; the rest waits for a restart, so it is
  // compared with the config the daemon started with.
  std::vector<std::string> need_restart;
  const auto write_reload_event = [&](const std::string& error) {
    const uint64_t now_ns = wall_ns();
    write_event(reload_json(now_ns, tables.in_force(), need_restart, error),
                error.empty() ? "config-reloaded" : "config-reload-refused",
                error.empty() ? Severity::info : Severity::error, now_ns);
    if (events_out.is_open()) events_out.flush();
  };
  const auto finish_reload = [&] {
    const bool bans_only = tables.offering_bans_only();
    if (!tables.finish(worker_objects, drain_events) || bans_only) return;
    ++operations_counters.reloads_applied;
    fmt::print(stderr, "sipshield: reloaded: {}\n", tables.summary());
    if (!need_restart.empty())
      fmt::print(stderr, "sipshield: reload: {} changed; applied at the next restart\n",
                 fmt::join(need_restart, ", "));
    write_reload_event("");
  };
  settle_tables = [&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (tables.pending() && std::chrono::steady_clock::now() < deadline) {
      finish_reload();
      if (tables.pending()) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  };
  AlarmConfig alarms_config = config.alarms;  // what a reload hands the alarm levels
  // Returns "" when the new tables are offered, else why the reload was refused.
  const auto start_reload = [&]() -> std::string {
    if (!options.reload_config) return "this run has no config file to read again";
    settle_tables();
    try {
      Config next = options.reload_config();
      if (const auto refusals = reload_refusals(running, next); !refusals.empty())
        throw ConfigError("$", fmt::format("{}", fmt::join(refusals, "; ")));
      // Everything that can fail is built before anything changes.
      std::unique_ptr<SyslogSender> next_syslog;
      if (next.syslog.enabled) next_syslog = std::make_unique<SyslogSender>(next.syslog);
      std::unique_ptr<MetricsServer> next_metrics;
      const bool rebind = to_json(next)["metrics"] != to_json(running)["metrics"];
      if (rebind && next.metrics.enabled) {
        if (metrics && next.metrics.port == running.metrics.port) metrics.reset();  // same port
        next_metrics = std::make_unique<MetricsServer>(next.metrics.address, next.metrics.port);
      }
      tables.offer(next, worker_objects);
      need_restart = settings_needing_restart(running, next);
      // The workers take the new settings between bursts, keeping every table's entries.
      const PipelineSettings settings = next;
      operations.run_on_workers([&](Pipeline& p, uint32_t) { p.reconfigure(settings); });
      if (rebind) metrics = std::move(next_metrics);
      syslog = std::move(next_syslog);
      keep_restart_settings(next, running);  // what waits for a restart stays as it started
      running = std::move(next);
      alarms_config = running.alarms;
      return "";
    } catch (const std::exception& e) {
      fmt::print(stderr, "sipshield: reload refused, keeping {}: {}\n", tables.summary(), e.what());
      need_restart.clear();
      write_reload_event(e.what());
      ++operations_counters.reloads_refused;
      return e.what();
    }
  };
  reload_now = [&] {
    std::string error = start_reload();
    if (error.empty()) settle_tables();
    return error;
  };
  stats_now = [&] {
    std::vector<const Pipeline*> pipelines;
    for (const auto& w : worker_objects) pipelines.push_back(&w->pipeline());
    return nlohmann::json{
        {"uptime_s", static_cast<double>(clock.now_ns() - started) / 1e9},
        {"workers", workers},
        {"counters", totals_now().to_json()},
        {"state", state_report(pipelines)},
        {"ports", {{"outside", port_summary(outside)}, {"inside", port_summary(inside)}}},
        {"in_force", tables.in_force()}};
  };

  uint64_t next_stats = started + uint64_t{config.stats_interval_s} * 1'000'000'000;
  uint64_t next_rebalance = started;
  constexpr uint64_t kMetricsIntervalNs = 500'000'000;  // twice per second: fresh for 1 s scrapes
  uint64_t next_metrics_ns = started;
  // The answers dpdk-telemetry.py gets under /sipshield/, renewed once a second.
  const auto publish_telemetry_answers = [&](const CounterTotals& t) {
    const nlohmann::json counters = t.to_json();
    publish_telemetry("stats",
                      {{"uptime_s", static_cast<uint64_t>((clock.now_ns() - started) / 1e9)},
                       {"workers", workers},
                       {"ports", counters["ports"]},
                       {"passed", counters["passed"]},
                       {"dropped", counters["dropped"]},
                       {"probes", counters["probes"]}});
    nlohmann::json per_worker = nlohmann::json::object();
    for (const auto& w : worker_objects) {
      CounterTotals one;
      one.add(w->pipeline().counters());
      per_worker[std::to_string(w->queue())] = {{"rx_outside", one.rx[0]},
                                                {"rx_inside", one.rx[1]},
                                                {"forwarded", one.tx[0] + one.tx[1]},
                                                {"dropped", one.total_dropped()}};
    }
    publish_telemetry("workers", per_worker);
    publish_telemetry("reasons", {{"passed", counters["passed_by_reason"]},
                                  {"dropped", counters["dropped_by_reason"]}});
    std::vector<const Pipeline*> pipelines;
    for (const auto& w : worker_objects) pipelines.push_back(&w->pipeline());
    publish_telemetry("sources", state_report(pipelines));
    publish_telemetry("bans", {{"by_policy", operations.source_ban_count()},
                               {"by_operators", operations.operator_ban_count()}});
    publish_telemetry("config", to_json(running));
  };
  uint64_t next_second = started;
  AlarmLevels alarms(config.alarms);
  CounterTotals last_second;
  // On a terminal, one live line a second replaces the periodic stats lines.
  const bool terminal = isatty(STDOUT_FILENO) == 1;
  while (!stop_requested.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const uint64_t now = clock.now_ns();
    if (options.duration_s > 0 && now - started >= options.duration_s * 1e9) break;
    if (options.idle_exit_ms > 0) {  // every worker idle for that long, by its own account
      bool idle = true;
      for (const auto& w : worker_objects) {
        const uint64_t since = w->idle_since_ns();
        idle = idle && since && now > since &&
               now - since >= uint64_t{options.idle_exit_ms} * 1'000'000;
      }
      if (idle) break;
    }
    drain_events();
    operations.tick();
    operations.drain_drop_samples();
    if (now >= next_second) {  // alarms, and the live status line on a terminal
      next_second = now + 1'000'000'000;
      alarms.configure(alarms_config);
      operations.second();
      const CounterTotals t = totals_now();
      for (const auto& c : alarms.second(t.dropped)) {
        const bool raised = c.to > c.from;
        const uint64_t at = wall_ns();
        write_event(alarm_json(at, c.reason, alarm_level_name(c.from), alarm_level_name(c.to),
                               raised, c.pps),
                    raised ? "alarm-raised" : "alarm-cleared",
                    !raised                     ? Severity::notice
                    : c.to == AlarmLevel::major ? Severity::critical
                                                : Severity::warning,
                    at);
        operations_counters.alarm_levels[static_cast<size_t>(c.reason)] =
            static_cast<uint8_t>(c.to);
      }
      if (events_out.is_open()) events_out.flush();
      if (terminal) {
        fmt::print("\r\033[K{}",
                   status_line(t, last_second, alarms, operations, tables_line(worker_objects)));
        std::fflush(stdout);
      }
      last_second = t;
      publish_telemetry_answers(t);
    }
    if (now >= next_rebalance) {
      budget_shares.rebalance();
      next_rebalance = now + uint64_t{BudgetShares::kRebalanceMs} * 1'000'000;
    }
    if (tables.pending()) finish_reload();
    if (!tables.pending() && options.reload_requested && options.reload_requested->exchange(false))
      start_reload();
    // Signature hits are read through each worker's scanner: not while a reload swaps them.
    if (metrics && now >= next_metrics_ns && !tables.pending()) {
      operations_counters.operator_bans = operations.operator_ban_count();
      operations_counters.source_bans = operations.source_ban_count();
      if (syslog) {
        operations_counters.syslog_sent = syslog->sent();
        operations_counters.syslog_suppressed = syslog->suppressed();
        operations_counters.syslog_failed = syslog->failed();
      }
      std::vector<const SignatureScanner*> scanners;
      for (const auto& w : worker_objects) scanners.push_back(w->pipeline().scanner());
      const nlohmann::json hits = tables.hits(scanners);
      metrics->publish(
          render_metrics({running, worker_objects, outside, inside, operations_counters, hits,
                          static_cast<double>(now - started) / 1e9}));
      next_metrics_ns = now + kMetricsIntervalNs;
    }
    if (!terminal && running.stats_interval_s > 0 && now >= next_stats) {
      fmt::print(stderr, "sipshield: {}{}{}{}\n", stats_line(totals_now()),
                 tables_line(worker_objects), port_losses(outside), port_losses(inside));
      next_stats = now + uint64_t{running.stats_interval_s} * 1'000'000'000;
    }
  }
  launched.stop_and_join();
  if (terminal) fmt::print("\n");
  operations.set_running(false);
  if (tables.pending()) {  // a worker stopped before it took its offer: swap it in for it
    for (auto& w : worker_objects) w->take_offered_tables();
    finish_reload();
  }
  drain_events();
  operations.final_snapshot();

  RunResult result;
  result.totals = totals_now();
  nlohmann::json reassembly = nlohmann::json::array();
  for (const auto& w : worker_objects)
    reassembly.push_back(
        {{"worker", w->queue()}, {"datagrams_held", w->pipeline().reassembler().in_use()}});
  result.summary = {
      {"workers", workers},
      {"clock", packet_clock ? "packet" : "tsc"},
      {"uptime_s", static_cast<double>(clock.now_ns() - started) / 1e9},
      {"ports", {{"outside", port_summary(outside)}, {"inside", port_summary(inside)}}},
      {"mbufs", mbufs},
      {"memory", memory_report()},
      {"events", events_written},
      {"counters", result.totals.to_json()},
      {"state",
       [&] {
         std::vector<const Pipeline*> pipelines;
         for (const auto& w : worker_objects) pipelines.push_back(&w->pipeline());
         return state_report(pipelines);
       }()},
      {"signature_hits",
       [&] {
         std::vector<const SignatureScanner*> scanners;
         for (const auto& w : worker_objects) scanners.push_back(w->pipeline().scanner());
         return tables.hits(scanners);
       }()},
  };
  if constexpr (kStageCycles) {  // the benchmark suite's breakdown, over every worker
    nlohmann::json stages = nlohmann::json::object();
    for (size_t k = 0; k < kStages; ++k) {
      uint64_t cycles = 0, spans = 0;
      for (const auto& w : worker_objects) {
        cycles += w->pipeline().stage_cycles().cycles[k];
        spans += w->pipeline().stage_cycles().spans[k];
      }
      stages[kStageNames[k]] = {{"cycles", cycles}, {"spans", spans}};
    }
    result.summary["stage_cycles"] = stages;
  }
  return result;
}

}  // namespace sipshield
