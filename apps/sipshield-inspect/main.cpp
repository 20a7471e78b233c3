// sipshield-inspect: what would the filter do with every frame of this capture? Runs the
// daemon's own per-burst pipeline over a pcap that holds both directions.
#include <getopt.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "config/run_main.hpp"
#include "core/json_reader.hpp"
#include "dataplane/replay.hpp"
#include "packet/pcap_file.hpp"
#include "policy/state_report.hpp"
#include "sip/message_json.hpp"
#include "telemetry/evaluation.hpp"
#include "telemetry/events.hpp"
#include "telemetry/report.hpp"

namespace {

using namespace sipshield;

constexpr const char* kUsage =
    R"(usage: sipshield-inspect [--config FILE] --pcap IN.pcap [--protect ADDR[:PORT]]...
                         [--verdicts OUT.jsonl] [--pass OUT.pcap] [--drop OUT.pcap]
                         [--report OUT.json] [--events OUT.jsonl] [--quiet]
                         [--closed-loop LABELS.tsv]
       sipshield-inspect [--config FILE] --message FILE

Replays a capture (both directions) through the filter's pipeline and reports what it would
forward and what it would drop, and why. A capture cut short inside a frame: every output is
written for the whole frames before it, then the damaged frame is named and the exit code is 1.

  --config FILE     the daemon's config (default: the built-in default config; ports and EAL
                    settings are ignored here)
  --pcap FILE       the capture to judge (Ethernet, pcap format)
  --protect SPEC    add a protected UDP SIP service to the config's list (repeatable):
                    198.18.0.10:5060, 198.18.0.0/24, [2001:db8::10]:5060, 2001:db8::/64
  --verdicts FILE   one JSON line per input frame, in input order:
                    {"frame": N, "action": "pass"|"drop", "reason": "..."} (N from 1, as Wireshark)
  --pass FILE       the frames that pass, as the daemon would forward them
  --drop FILE       the frames that are dropped, in the order they are given up
  --report FILE     the summary and every counter as JSON
  --events FILE     the events the daemon would have emitted (bans, unbans, attacks starting
                    and ending), one ECS-style JSON line each, with capture timestamps
  --quiet           no verdict table on stdout
  --closed-loop FILE  the capture's labels (sipshield-gen's PREFIX.labels.tsv): real clients
                    (labels legit_*) answer the filter's probes 20 ms after they were sent and
                    retransmit a dropped request once, 0.5 s later (RFC 3261 T1); forged sources
                    do neither. A frame's verdict is then that of its retransmission if it
                    passed, with "retransmissions": 1 in --verdicts
  --message FILE    read one SIP message (a UDP payload, bytes as they are) and print how the
                    filter reads it: the verdict, the reason, every parsed field and the
                    signature rules that match it (those of --config, or the built-in ones),
                    as JSON
  --help            this text
)";

class OutputFiles : public ReplayListener {
 public:
  std::unique_ptr<PcapWriter> pass, drop;
  std::unique_ptr<std::ofstream> events;
  uint64_t event_count = 0;
  void event(const Event& e) override {
    ++event_count;
    if (!events) return;
    *events << event_json(e, 0) << "\n";
  }
  void released(uint64_t, std::span<const uint8_t> frame, uint64_t time_us, Verdict v) override {
    auto& writer = v.action == Action::pass ? pass : drop;
    if (writer) writer->write(time_us, frame);
  }
};

int run(int argc, char** argv) {
  std::optional<std::string> config_file, pcap_file, verdicts_file, pass_file, drop_file,
      report_file, message_file, events_file, closed_loop_file;
  std::vector<std::string> protect;
  bool quiet = false;
  static const option kOptions[] = {{"config", required_argument, nullptr, 'c'},
                                    {"pcap", required_argument, nullptr, 'r'},
                                    {"protect", required_argument, nullptr, 'p'},
                                    {"verdicts", required_argument, nullptr, 'v'},
                                    {"pass", required_argument, nullptr, 'P'},
                                    {"drop", required_argument, nullptr, 'D'},
                                    {"report", required_argument, nullptr, 'R'},
                                    {"quiet", no_argument, nullptr, 'q'},
                                    {"message", required_argument, nullptr, 'm'},
                                    {"events", required_argument, nullptr, 'E'},
                                    {"closed-loop", required_argument, nullptr, 'L'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  for (int c; (c = getopt_long(argc, argv, "", kOptions, nullptr)) != -1;) {
    switch (c) {
      case 'c':
        config_file = optarg;
        break;
      case 'r':
        pcap_file = optarg;
        break;
      case 'p':
        protect.emplace_back(optarg);
        break;
      case 'v':
        verdicts_file = optarg;
        break;
      case 'P':
        pass_file = optarg;
        break;
      case 'D':
        drop_file = optarg;
        break;
      case 'R':
        report_file = optarg;
        break;
      case 'q':
        quiet = true;
        break;
      case 'm':
        message_file = optarg;
        break;
      case 'E':
        events_file = optarg;
        break;
      case 'L':
        closed_loop_file = optarg;
        break;
      case 'h':
        fmt::print("{}", kUsage);
        return 0;
      default:
        fmt::print(stderr, "{}", kUsage);
        return 2;
    }
  }
  if (optind == argc && message_file && !pcap_file) {
    const Config config = config_file ? load_config(*config_file) : parse_config_text("{}");
    std::ifstream in(*message_file, std::ios::binary);
    if (!in) throw PcapError(fmt::format("cannot read {}", *message_file));
    const std::string payload((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    SipMessage message;
    const SipVerdict verdict = tokenize(payload, message, config.sip);
    nlohmann::json out = sip_message_json(payload, message, verdict);
    // Scanned as the pipeline scans a source without trust: valid messages, not keepalives.
    if (verdict.ok && message.kind != SipKind::keepalive && !config.signature_rules.empty()) {
      const SignatureDatabase rules(config.signature_rules);
      SignatureScanner scanner(rules);
      const auto hit = scanner.scan(payload, message, /*every_rule=*/true);
      nlohmann::json matched = nlohmann::json::array();
      for (size_t i = 0; i < rules.rules().size(); ++i)
        if (scanner.hits()[i]) matched.push_back(rules.rules()[i].id);
      out["signatures"] = {
          {"rules", rules.rules().size()},
          {"matched", matched},
          {"decisive", hit.decisive ? nlohmann::json(rules.rules()[hit.rule].id) : nullptr}};
    }
    fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return 0;
  }
  if (optind != argc || !pcap_file) {
    fmt::print(stderr, "sipshield-inspect: --pcap is required\n{}", kUsage);
    return 2;
  }

  // --protect entries join the config's list before validation, so duplicates and the entry
  // limit are checked as for the file's own entries.
  nlohmann::json document =
      config_file ? read_json_file(*config_file, "$") : nlohmann::json::object();
  for (const auto& spec : protect) {
    std::string why;
    if (!ServiceMatch::parse(spec, &why))
      throw ConfigError("--protect " + spec,
                        why.empty() ? fmt::format("expected {}", ServiceMatch::kForms) : why);
    if (document.is_object()) document["protected"].push_back(spec);
  }
  const Config config =
      parse_config(document, config_file ? std::filesystem::path(*config_file).parent_path()
                                         : std::filesystem::path{});
  if (config.protected_services.empty())
    fmt::print(stderr,
               "sipshield-inspect: warning: no protected service (config \"protected\" or "
               "--protect): every IP frame follows default_action\n");

  PcapReader reader(*pcap_file);  // fails before EAL starts if the file is unreadable
  OutputFiles outputs;
  if (pass_file) outputs.pass = std::make_unique<PcapWriter>(*pass_file);
  if (drop_file) outputs.drop = std::make_unique<PcapWriter>(*drop_file);
  if (events_file) {
    outputs.events = std::make_unique<std::ofstream>(*events_file);
    if (!*outputs.events) throw PcapError(fmt::format("cannot write {}", *events_file));
  }

  Eal eal(offline_eal_args("sipshield-inspect"));
  const KeyedHash hash;
  Replay replay(config, hash, &outputs);
  std::vector<bool> real_client;  // by frame, under --closed-loop
  if (closed_loop_file) {
    for (const LabelledOutcome& o : read_labels(*closed_loop_file))
      real_client.push_back(o.label.starts_with("legit"));
    replay.close_loop({[&](uint64_t index) {
      if (index >= real_client.size())
        throw PcapError(fmt::format("{}: no label for frame {} of {}", *closed_loop_file, index + 1,
                                    *pcap_file));
      return bool(real_client[index]);
    }});
  }
  CapturedFrame frame;
  uint64_t first_us = 0, last_us = 0;
  // A capture cut short (a copy interrupted, a capture killed) still tells about the frames
  // before the cut: judge and write those, then fail naming the damaged frame.
  std::optional<PcapDamaged> damage;
  try {
    while (reader.next(frame)) {
      if (replay.frames() == 0) first_us = frame.time_us;
      last_us = frame.time_us;
      replay.feed(frame.time_us, frame.bytes);
    }
  } catch (const PcapDamaged& e) {
    damage = e;
  }
  replay.finish();

  if (verdicts_file) {
    std::ofstream out(*verdicts_file);
    if (!out) throw PcapError(fmt::format("cannot write {}", *verdicts_file));
    const auto& verdicts = replay.verdicts();
    const auto* scanner = replay.pipeline().scanner();
    for (size_t i = 0; i < verdicts.size(); ++i) {
      const Verdict& v = verdicts[i];
      out << fmt::format("{{\"frame\": {}, \"action\": \"{}\", \"reason\": \"{}\"", i + 1,
                         action_name(v.action), reason_name(v.reason));
      if (const unsigned k = replay.retransmissions(i))
        out << fmt::format(", \"retransmissions\": {}", k);
      if (v.rule != kNoRule && scanner)
        out << fmt::format(", \"rule\": \"{}\"", scanner->database().rules()[v.rule].id);
      out << "}\n";
    }
  }

  CounterTotals totals;
  totals.add(replay.pipeline().counters());
  if (report_file) {
    nlohmann::json report = {{"capture", *pcap_file},
                             {"frames", replay.frames()},
                             {"capture_seconds", double(last_us - first_us) / 1e6},
                             {"config", to_json(config)},
                             {"counters", totals.to_json()},
                             {"signature_hits", signature_hits({replay.pipeline().scanner()})},
                             {"state", state_report({&replay.pipeline()})},
                             {"events", outputs.event_count}};
    if (closed_loop_file) {
      const auto& loop = replay.loop_counts();
      report["closed_loop"] = {{"labels", *closed_loop_file},
                               {"probe_answers", loop.answers},
                               {"retransmissions", loop.retransmissions},
                               {"retransmissions_passed", loop.retransmissions_passed}};
    }
    std::ofstream out(*report_file);
    out << report.dump(2) << "\n";
  }
  if (!quiet) {
    std::string services;
    for (const auto& s : config.protected_services)
      services += (services.empty() ? "" : ", ") + s.to_string();
    fmt::print("sipshield-inspect: {}: {} frames ({} from outside, {} from inside), {:.3f} s\n",
               *pcap_file, replay.frames(), totals.rx[0], totals.rx[1],
               double(last_us - first_us) / 1e6);
    fmt::print("protected: {}\n{}", services.empty() ? "(none)" : services,
               render_verdict_table(totals));
  }
  if (damage) {
    fmt::print(stderr, "sipshield-inspect: {}; {} the {} frames before it\n", damage->what(),
               verdicts_file ? "verdicts written for" : "judged only", replay.frames());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return sipshield::run_main("sipshield-inspect", "config", [&] { return run(argc, argv); });
}
