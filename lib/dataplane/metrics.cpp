#include "dataplane/metrics.hpp"

#include <fmt/format.h>

#include "core/table_memory.hpp"
#include "policy/state_report.hpp"
#include "telemetry/events.hpp"
#include "telemetry/exposition.hpp"

namespace sipshield {
namespace {

void worker_counters(Exposition& x, const std::vector<std::unique_ptr<Worker>>& workers) {
  std::vector<std::string> ids;
  for (const auto& w : workers) ids.push_back(std::to_string(w->queue()));
  x.family("sipshield_frames_total", "counter",
           "Frames judged, by action (pass or drop), verdict reason and worker");
  for (size_t w = 0; w < workers.size(); ++w) {
    const WorkerCounters& c = workers[w]->pipeline().counters();
    for (size_t r = 0; r < kReasonCount; ++r) {
      const uint64_t passed = read(c.passed[r]), dropped = read(c.dropped[r]);
      // Every drop reason always (a stable series to alert on); passes where they happen.
      if (passed)
        x.sample({{"action", "pass"}, {"reason", kReasonNames[r]}, {"worker", ids[w]}}, passed);
      x.sample({{"action", "drop"}, {"reason", kReasonNames[r]}, {"worker", ids[w]}}, dropped);
    }
  }
  // A family of per-direction counters (`field` of WorkerCounters), by worker.
  const auto by_direction = [&](const char* name, const char* label, const char* help,
                                std::array<uint64_t, 2> WorkerCounters::*field) {
    x.family(name, "counter", help);
    for (size_t w = 0; w < workers.size(); ++w)
      for (const Direction d : {Direction::from_outside, Direction::from_inside})
        x.sample({{label, direction_name(d)}, {"worker", ids[w]}},
                 read((workers[w]->pipeline().counters().*field)[static_cast<size_t>(d)]));
  };
  by_direction("sipshield_received_frames_total", "port",
               "Frames the workers polled from each port (outside: clients, inside: servers)",
               &WorkerCounters::rx);
  by_direction("sipshield_forwarded_frames_total", "from",
               "Frames sent on, by the port they came from", &WorkerCounters::tx);
  by_direction("sipshield_tx_failed_frames_total", "from",
               "Frames freed because the TX ring stayed full, by the port they came from",
               &WorkerCounters::tx_failed);
  x.family("sipshield_probes_total", "counter",
           "Return-routability probes asked for, by what became of them");
  for (size_t w = 0; w < workers.size(); ++w)
    for (size_t o = 0; o < kProbeOutcomes; ++o)
      x.sample({{"outcome", kProbeOutcomeNames[o]}, {"worker", ids[w]}},
               read(workers[w]->pipeline().counters().probes[o]));
}

// Verdicts by tier and by service, and the untrusted budget by rank (summed over the workers).
void judged(Exposition& x, const std::vector<std::unique_ptr<Worker>>& workers,
            const Config& config) {
  CounterTotals t;
  std::array<std::array<uint64_t, 2>, 5> ranks{};
  for (const auto& w : workers) {
    t.add(w->pipeline().counters());
    const auto& r = w->pipeline().mitigation().budget_by_rank();
    for (size_t i = 0; i < ranks.size(); ++i)
      for (size_t a = 0; a < 2; ++a) ranks[i][a] += read(r[i][a]);
  }
  static constexpr const char* kActions[2] = {"pass", "drop"};
  x.family("sipshield_tier_frames_total", "counter",
           "Messages to protected services by the source's tier and the verdict");
  for (size_t tier = 0; tier < kTiers; ++tier)
    for (size_t a = 0; a < 2; ++a)
      x.sample({{"tier", kTierNames[tier]}, {"action", kActions[a]}}, t.by_tier[tier][a]);
  x.family("sipshield_service_frames_total", "counter",
           "Messages to each protected service by verdict");
  for (size_t s = 0; s < config.protected_services.size() && s < kCountedServices; ++s)
    for (size_t a = 0; a < 2; ++a)
      x.sample({{"service", config.protected_services[s].to_string()}, {"action", kActions[a]}},
               t.by_service[s][a]);
  static constexpr const char* kRanks[5] = {"polite", "familiar", "newcomer", "bursty", "bot"};
  static constexpr const char* kSpent[2] = {"spent", "refused"};
  x.family("sipshield_untrusted_budget_messages_total", "counter",
           "Messages from sources without trust that spent the untrusted budget or found it "
           "spent, by rank");
  for (size_t r = 0; r < 5; ++r)
    for (size_t a = 0; a < 2; ++a)
      x.sample({{"rank", kRanks[r]}, {"outcome", kSpent[a]}}, ranks[r][a]);
}

void tables(Exposition& x, const StateSummary& s, const Config& config) {
  const std::array<std::pair<const char*, const StateSummary::Table*>, 5> tables = {
      std::pair{"sources", &s.sources}, std::pair{"probation", &s.probation},
      std::pair{"verified", &s.verified}, std::pair{"dialogs", &s.dialogs},
      std::pair{"esp_sas", &s.esp_sas}};
  x.family("sipshield_table_entries", "gauge", "Entries in use, summed over the workers");
  for (const auto& [name, t] : tables) x.sample({{"table", name}}, t->in_use);
  x.sample({{"table", "familiar_prefixes"}}, s.familiar_prefixes);
  x.sample({{"table", "reassembly"}}, s.datagrams_held);
  x.family("sipshield_table_capacity", "gauge", "Entries each table holds at most");
  for (const auto& [name, t] : tables) x.sample({{"table", name}}, t->capacity);
  x.sample({{"table", "familiar_prefixes"}}, uint64_t{config.policy.familiar_prefixes});
  x.sample({{"table", "reassembly"}}, uint64_t{config.reassembly.max_datagrams} * config.workers);
  x.family("sipshield_table_insert_failures_total", "counter",
           "New entries refused for want of room");
  for (const auto& [name, t] : tables) x.sample({{"table", name}}, t->insert_failures);
  x.family("sipshield_table_evictions_total", "counter",
           "Entries pushed out for newer ones (the probation area's oldest first contacts)");
  for (const auto& [name, t] : tables) x.sample({{"table", name}}, t->evictions);
  const auto memory = table_memory::usage();
  x.family("sipshield_table_memory_bytes", "gauge",
           "Memory of the tables (allocated at start), in hugepages or on the heap");
  x.sample({{"memory", "hugepages"}}, memory.hugepage_bytes);
  x.sample({{"memory", "heap"}}, memory.heap_bytes);
}

void budgets(Exposition& x, const StateSummary& s, const Config& config) {
  std::vector<std::string> names;
  for (size_t i = 0; i < s.budgets.size(); ++i)
    names.push_back(i < config.protected_services.size() ? config.protected_services[i].to_string()
                                                         : std::to_string(i));
  x.family("sipshield_untrusted_budget_ratio", "gauge",
           "The untrusted budget now, as a share of the configured one (lowest worker)");
  for (size_t i = 0; i < s.budgets.size(); ++i)
    x.sample({{"service", names[i]}}, s.budgets[i].percent / 100.0);
  x.family("sipshield_server_response_seconds", "gauge",
           "The protected servers' smoothed response time to admitted requests (slowest worker)");
  for (size_t i = 0; i < s.budgets.size(); ++i)
    x.sample({{"service", names[i]}}, s.budgets[i].latency_ms / 1000.0);
  x.family("sipshield_server_response_samples_total", "counter",
           "Response times measured (answers, and requests given up unanswered)");
  for (size_t i = 0; i < s.budgets.size(); ++i)
    x.sample({{"service", names[i]}}, s.budgets[i].samples);
}

void ports(Exposition& x, const Port& outside, const Port& inside) {
  const PortStats stats[2] = {outside.stats(), inside.stats()};
  const char* roles[2] = {"outside", "inside"};
  const auto each = [&](const char* name, const char* help, auto field) {
    x.family(name, "counter", help);
    for (size_t p = 0; p < 2; ++p) x.sample({{"port", roles[p]}}, field(stats[p]));
  };
  each("sipshield_port_received_packets_total", "Packets the NIC received (rte_eth_stats ipackets)",
       [](const PortStats& s) { return s.ipackets; });
  each("sipshield_port_sent_packets_total", "Packets the NIC sent (opackets)",
       [](const PortStats& s) { return s.opackets; });
  each("sipshield_port_received_bytes_total", "Bytes the NIC received (ibytes)",
       [](const PortStats& s) { return s.ibytes; });
  each("sipshield_port_sent_bytes_total", "Bytes the NIC sent (obytes)",
       [](const PortStats& s) { return s.obytes; });
  each("sipshield_port_missed_packets_total",
       "Packets the NIC dropped because no RX descriptor was free (imissed): the workers fell "
       "behind",
       [](const PortStats& s) { return s.imissed; });
  each("sipshield_port_receive_errors_total", "Erroneous packets received (ierrors)",
       [](const PortStats& s) { return s.ierrors; });
  each("sipshield_port_transmit_errors_total", "Packets that failed to send (oerrors)",
       [](const PortStats& s) { return s.oerrors; });
  each("sipshield_port_rx_nombuf_total", "Receptions that found no free mbuf (rx_nombuf)",
       [](const PortStats& s) { return s.rx_nombuf; });
  x.family("sipshield_port_queue_received_packets_total", "counter",
           "Packets received per RX queue (drivers that count per queue)");
  for (size_t p = 0; p < 2; ++p)
    for (size_t q = 0; q < stats[p].q_ipackets.size(); ++q)
      x.sample({{"port", roles[p]}, {"queue", std::to_string(q)}}, stats[p].q_ipackets[q]);
  x.family("sipshield_port_queue_errors_total", "counter",
           "Packets dropped per RX queue (drivers that count per queue)");
  for (size_t p = 0; p < 2; ++p)
    for (size_t q = 0; q < stats[p].q_errors.size(); ++q)
      x.sample({{"port", roles[p]}, {"queue", std::to_string(q)}}, stats[p].q_errors[q]);
}

void operations(Exposition& x, const MetricsView& v) {
  const OperationsCounters& o = v.operations;
  x.family("sipshield_events_total", "counter",
           "Events written (bans, unbans, demotions, attacks, budget changes), by type");
  for (size_t t = 0; t < kEventTypes; ++t)
    x.sample({{"type", event_action(static_cast<EventType>(t))}}, o.events[t]);
  x.family("sipshield_bans", "gauge",
           "Bans in force: set by the policy (as their events told) or by an operator");
  x.sample({{"set_by", "policy"}}, o.source_bans);
  x.sample({{"set_by", "operator"}}, o.operator_bans);
  x.family("sipshield_alarm_level", "gauge",
           "Alarm level per drop reason: 0 none, 1 warning, 2 major (alarms.* thresholds)");
  for (size_t r = 0; r < kReasonCount; ++r)
    x.sample({{"reason", kReasonNames[r]}}, uint64_t{o.alarm_levels[r]});
  x.family("sipshield_reloads_total", "counter", "Config reloads, by outcome");
  x.sample({{"outcome", "applied"}}, o.reloads_applied);
  x.sample({{"outcome", "refused"}}, o.reloads_refused);
  x.family("sipshield_signature_hits_total", "counter", "Signature rule matches, by rule id");
  for (auto it = v.signature_hits.begin(); it != v.signature_hits.end(); ++it)
    x.sample({{"rule", it.key()}}, it.value().get<uint64_t>());
  x.family("sipshield_syslog_messages_total", "counter",
           "Events sent to the syslog collector, by outcome (suppressed: over syslog.per_second)");
  x.sample({{"outcome", "sent"}}, o.syslog_sent);
  x.sample({{"outcome", "suppressed"}}, o.syslog_suppressed);
  x.sample({{"outcome", "failed"}}, o.syslog_failed);
  x.family("sipshield_workers", "gauge", "Worker lcores running");
  x.sample({}, uint64_t{v.workers.size()});
  x.family("sipshield_uptime_seconds", "gauge", "Seconds since the workers started");
  x.sample({}, v.uptime_s);
}

}  // namespace

std::string render_metrics(const MetricsView& v) {
  Exposition x;
  worker_counters(x, v.workers);
  std::vector<const Pipeline*> pipelines;
  for (const auto& w : v.workers) pipelines.push_back(&w->pipeline());
  const StateSummary s = summarize_state(pipelines);
  judged(x, v.workers, v.config);
  tables(x, s, v.config);
  budgets(x, s, v.config);
  ports(x, v.outside, v.inside);
  operations(x, v);
  return x.text();
}

}  // namespace sipshield
