// sipshield-ctl: talks to a running sipshield over its control socket (control.socket).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "control/control_socket.hpp"
#include "control/operator_bans.hpp"

namespace {

using nlohmann::json;
using namespace sipshield;

constexpr const char* kUsage =
    R"(usage: sipshield-ctl [--socket PATH] [--json] [--timeout S] COMMAND
  stats                               counters, tables, budgets and ports
  bans                                every ban: sources the policy banned (with the reason
                                      and rule when its event was recorded) and operators' bans
  ban ADDR[/LEN] --for DURATION --why TEXT
                                      ban a prefix (DURATION: 90s, 15m, 2h, 1d); it drops as
                                      operator_banned, survives reloads and restarts
  unban ADDR[/LEN]                    lift an operator's ban of exactly that prefix and every
                                      policy ban of a source inside it
  allow add|del PREFIX                treat a prefix as the config's allow list does (trunks,
                                      peers: no meters, signatures or budget); kept across
                                      reloads and restarts
  trust show ADDR[:PORT]              what the tables hold on a source, and why it is or is not
                                      trusted ([2001:db8::7]:5060 for IPv6 with a port)
  top [--count N]                     the sources dropping the most now (estimated from sampled
                                      drops), with their main drop reason and their standing
  capture --drops --seconds N OUT.pcap
                                      a sampled, rate-limited copy of dropped frames for N
                                      seconds, and OUT.pcap.jsonl: each frame's reason and rule
  reload                              read the config file again (as SIGHUP), say the outcome
  snapshot                            write the state snapshot now (snapshot.file)

  --socket PATH   the daemon's control socket (default /run/sipshield/control.sock, or
                  $SIPSHIELD_CONTROL_SOCKET)
  --json          print the daemon's answer as JSON
  --timeout S     wait S seconds at most for the answer (default 10)
  --help          this text
Exit status: 0 done, 1 the daemon refused (its reason on stderr), 2 usage, 3 no daemon answered.
)";

[[noreturn]] void usage_error(const std::string& what) {
  fmt::print(stderr, "sipshield-ctl: {}\n{}", what, kUsage);
  std::exit(2);
}

// "198.18.0.7:5060", "[2001:db8::7]:5060" or a bare address: the address and the port, if any.
std::pair<std::string, std::optional<uint16_t>> split_source(const std::string& text) {
  std::string address = text;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) usage_error(fmt::format("\"{}\": no closing ]", text));
    address = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') usage_error(fmt::format("\"{}\": expected :PORT after ]", text));
      port = text.substr(close + 2);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    address = text.substr(0, text.find(':'));
    port = text.substr(text.find(':') + 1);
  }
  if (port.empty()) return {address, std::nullopt};
  char* end = nullptr;
  const unsigned long n = std::strtoul(port.c_str(), &end, 10);
  if (*end || n == 0 || n > 65535) usage_error(fmt::format("\"{}\": not a port 1-65535", port));
  return {address, static_cast<uint16_t>(n)};
}

void print_stats(const json& a) {
  const json& c = a["counters"];
  fmt::print("uptime {:.0f} s, {} worker(s)\n", a["uptime_s"].get<double>(),
             a["workers"].get<unsigned>());
  for (const char* side : {"outside", "inside"}) {
    const json& p = c["ports"][side];
    fmt::print("{:<8} rx {:>12}  forwarded {:>12}  tx failed {}\n", side, p["rx"].get<uint64_t>(),
               p["forwarded"].get<uint64_t>(), p["tx_failed"].get<uint64_t>());
  }
  fmt::print("passed {}  dropped {}\n", c["passed"].get<uint64_t>(), c["dropped"].get<uint64_t>());
  std::vector<std::pair<uint64_t, std::string>> drops;
  for (const auto& [reason, n] : c["dropped_by_reason"].items())
    drops.emplace_back(n.get<uint64_t>(), reason);
  std::sort(drops.rbegin(), drops.rend());
  for (const auto& [n, reason] : drops) fmt::print("  drop {:<28} {:>12}\n", reason, n);
  const json& s = a["state"];
  fmt::print("sources {}/{}  probation {}/{}  dialogs {}  familiar prefixes {}\n",
             s["sources"]["in_use"].get<uint64_t>(), s["sources"]["capacity"].get<uint64_t>(),
             s["probation"]["in_use"].get<uint64_t>(), s["probation"]["capacity"].get<uint64_t>(),
             s["dialogs"]["in_use"].get<uint64_t>(), s["familiar_prefixes"].get<uint64_t>());
  size_t service = 0;
  for (const auto& b : s["untrusted_budget"])
    fmt::print("service {} untrusted budget {}% (servers answer in {} ms)\n", service++,
               b["percent"].get<unsigned>(), b["latency_ms"].get<unsigned>());
}

void print_bans(const json& a) {
  const uint64_t now = a["now"].get<uint64_t>();
  const auto left = [now](uint64_t until) { return until > now ? until - now : 0; };
  fmt::print("{:<42} {:<20} {:<20} {:>9}  {}\n", "source", "reason", "rule", "left (s)", "since");
  for (const auto& b : a["sources"])
    fmt::print("{:<42} {:<20} {:<20} {:>9}  {}\n", b["source"].get<std::string>(),
               b["reason"].get<std::string>(), b.value("rule", "-"),
               left(b["until"].get<uint64_t>()),
               b.contains("since") ? rfc3339(b["since"].get<uint64_t>()) : "-");
  for (const auto& b : a["operator"])
    fmt::print("{:<42} {:<20} {:<20} {:>9}  {}  ({})\n", b["prefix"].get<std::string>(),
               "operator_banned", "-", left(b["until"].get<uint64_t>()),
               rfc3339(b["since"].get<uint64_t>()), b["why"].get<std::string>());
  fmt::print("{} source ban(s), {} operator ban(s)\n", a["sources"].size(), a["operator"].size());
  for (const auto& p : a["operator_allows"])
    fmt::print("allowed by an operator: {}\n", p.get<std::string>());
}

void print_trust(const json& a) {
  if (a["sources"].empty())
    fmt::print("{}: no source in the tables (never seen, or expired)\n",
               a["prefix"].get<std::string>());
  for (const auto& s : a["sources"])
    fmt::print("{}: {}\n", s["source"].get<std::string>(), s["standing"].get<std::string>());
  for (const auto& p : a["prefixes"]) fmt::print("  in {}\n", p.get<std::string>());
}

void print_top(const json& a) {
  fmt::print("{:<42} {:>12} {:>14}  {:<22} {}\n", "source", "dropped/s", "dropped", "reason",
             "standing");
  for (const auto& t : a["sources"])
    fmt::print("{:<42} {:>12} {:>14}  {:<22} {}\n", t["source"].get<std::string>(),
               t["dropped_per_s"].get<uint64_t>(), t["dropped"].get<uint64_t>(),
               t["reason"].get<std::string>(), t["standing"].get<std::string>());
  fmt::print("({})\n", a["note"].get<std::string>());
}

uint64_t number_argument(const char* option, const std::string& text, uint64_t min, uint64_t max) {
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end || n < min || n > max)
    usage_error(fmt::format("{} \"{}\": a number from {} to {}", option, text, min, max));
  return n;
}

int run(int argc, char** argv) {
  std::string socket = "/run/sipshield/control.sock";
  if (const char* env = std::getenv("SIPSHIELD_CONTROL_SOCKET"); env && *env) socket = env;
  bool as_json = false;
  double timeout_s = 10;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      fmt::print("{}", kUsage);
      return 0;
    }
    if (a == "--json") {
      as_json = true;
    } else if (a == "--timeout") {
      if (++i == argc) usage_error("--timeout needs seconds");
      char* end = nullptr;
      timeout_s = std::strtod(argv[i], &end);
      if (*end || !(timeout_s > 0 && timeout_s <= 3600))
        usage_error(
            fmt::format("--timeout \"{}\": seconds, more than 0 and at most 3600", argv[i]));
    } else if (a == "--socket") {
      if (++i == argc) usage_error("--socket needs a path");
      socket = argv[i];
    } else {
      args.push_back(a);
    }
  }
  if (args.empty()) usage_error("a command is required");
  json request = {{"command", args[0]}};
  const std::string& command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "stats" || command == "bans" || command == "reload" || command == "snapshot") {
    if (!rest.empty()) usage_error(fmt::format("{} takes no argument", command));
  } else if (command == "ban") {
    if (rest.empty()) usage_error("ban needs ADDR[/LEN]");
    request["prefix"] = rest[0];
    for (size_t i = 1; i < rest.size(); i += 2) {
      if (i + 1 >= rest.size()) usage_error(fmt::format("{} needs a value", rest[i]));
      if (rest[i] == "--for") {
        request["for"] = rest[i + 1];
      } else if (rest[i] == "--why") {
        request["why"] = rest[i + 1];
      } else {
        usage_error(fmt::format("ban: unknown option {}", rest[i]));
      }
    }
    if (!request.contains("for") || !request.contains("why"))
      usage_error("ban needs --for DURATION and --why TEXT");
  } else if (command == "allow") {
    if (rest.size() != 2 || (rest[0] != "add" && rest[0] != "del"))
      usage_error("allow add|del PREFIX");
    request = {{"command", "allow-" + rest[0]}, {"prefix", rest[1]}};
  } else if (command == "top") {
    if (rest.size() == 2 && rest[0] == "--count") {
      request["count"] = number_argument("--count", rest[1], 1, 1000);
    } else if (!rest.empty()) {
      usage_error("top [--count N]");
    }
  } else if (command == "capture") {
    std::optional<std::string> file;
    bool drops = false;
    uint64_t seconds = 10;
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == "--drops") {
        drops = true;
      } else if (rest[i] == "--seconds" && i + 1 < rest.size()) {
        seconds = number_argument("--seconds", rest[++i], 1, 3600);
      } else if (!file && !rest[i].starts_with("--")) {
        file = rest[i];
      } else {
        usage_error(fmt::format("capture: unexpected \"{}\"", rest[i]));
      }
    }
    if (!drops || !file) usage_error("capture --drops --seconds N OUT.pcap");
    request["file"] = std::filesystem::absolute(*file).lexically_normal().string();
    request["seconds"] = seconds;
  } else if (command == "unban") {
    if (rest.size() != 1) usage_error("unban needs ADDR[/LEN]");
    request["prefix"] = rest[0];
  } else if (command == "trust") {
    if (rest.size() != 2 || rest[0] != "show") usage_error("trust show ADDR[:PORT]");
    const auto [address, port] = split_source(rest[1]);
    request = {{"command", "trust-show"}, {"prefix", address}};
    if (port) request["port"] = *port;
  } else {
    usage_error(fmt::format("unknown command \"{}\"", command));
  }

  json answer;
  try {
    answer = control_request(socket, request,
                             std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  } catch (const std::exception& e) {
    fmt::print(stderr, "sipshield-ctl: {}\n", e.what());
    return 3;
  }
  if (answer.contains("error")) {
    fmt::print(stderr, "sipshield-ctl: {}\n", answer["error"].get<std::string>());
    return 1;
  }
  if (command == "capture") {  // runs in the daemon: wait for its end
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::seconds(request["seconds"].get<uint64_t>() + 10);
    while (answer.value("capturing", false) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      try {
        answer = control_request(socket, {{"command", "capture-status"}}, std::chrono::seconds(10));
      } catch (const std::exception& e) {
        fmt::print(stderr, "sipshield-ctl: {}\n", e.what());
        return 3;
      }
    }
    if (answer.value("capturing", false)) {
      fmt::print(stderr, "sipshield-ctl: the capture did not end in time\n");
      return 1;
    }
  }
  if (as_json) {
    fmt::print("{}\n", answer.dump(2));
  } else if (command == "stats") {
    print_stats(answer);
  } else if (command == "bans") {
    print_bans(answer);
  } else if (command == "trust") {
    print_trust(answer);
  } else if (command == "ban") {
    fmt::print("banned {} until {}: {}\n", answer["banned"].get<std::string>(),
               rfc3339(answer["until"].get<uint64_t>()), answer["why"].get<std::string>());
  } else if (command == "unban") {
    fmt::print("unbanned {}: operator ban {}, {} source ban(s) lifted\n",
               answer["unbanned"].get<std::string>(),
               answer["operator_ban_lifted"].get<bool>() ? "lifted" : "none",
               answer["source_bans_lifted"].get<uint64_t>());
  } else if (command == "allow") {
    fmt::print("operator allows now: {}\n", answer["operator_allows"].dump());
  } else if (command == "top") {
    print_top(answer);
  } else if (command == "capture") {
    fmt::print("wrote {} dropped frame(s) to {} (their reasons: {})\n",
               answer["frames"].get<uint64_t>(), answer["file"].get<std::string>(),
               answer["index"].get<std::string>());
  } else if (command == "reload") {
    fmt::print("reloaded: {}\n", answer["in_force"].dump());
  } else {
    fmt::print("{}\n", answer.dump());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "sipshield-ctl: {}\n", e.what());
    return 1;
  }
}
