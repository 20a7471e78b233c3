#include "config/config.hpp"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/port_flags.hpp"
#include "core/json_reader.hpp"
#include "esp/replay_window.hpp"

namespace sipshield {
namespace {

using nlohmann::json;

std::vector<std::string> flag_names(const Node& node, std::span<const NamedFlag> table) {
  std::vector<std::string> names;
  for (const auto& item : node.array()) {
    auto name = item.value().is_string() ? item.value().get<std::string>() : std::string{};
    if (!find_flag(table, name)) {
      std::string known;
      for (const auto& f : table) known += fmt::format("{}{}", known.empty() ? "" : ", ", f.name);
      item.fail(fmt::format("one of {}", known));
    }
    names.push_back(name);
  }
  return names;
}

#ifndef SIPSHIELD_DATADIR
#define SIPSHIELD_DATADIR "/usr/share/sipshield"
#endif

// A file a config names (`profile`, `signatures.rules`): beside the config, else under the
// installed data (SIPSHIELD_DATADIR in the environment overrides the built-in dir), so a config in
// /etc/sipshield can say "ports/ixgbe.json". Not found: an error at `json_path` naming both.
std::filesystem::path find_config_file(const std::filesystem::path& base_dir,
                                       const std::string& name, const std::string& json_path) {
  const auto beside = base_dir / name;
  if (std::filesystem::path(name).is_absolute() || std::filesystem::exists(beside)) return beside;
  const char* env = std::getenv("SIPSHIELD_DATADIR");
  const auto installed = std::filesystem::path(env && *env ? env : SIPSHIELD_DATADIR) / name;
  if (std::filesystem::exists(installed)) return installed;
  throw ConfigError(json_path,
                    fmt::format("cannot open {} (nor {})", beside.string(), installed.string()));
}

constexpr std::string_view kPortKeys[] = {
    "device",      "profile", "rx_descriptors", "tx_descriptors", "mtu",
    "promiscuous", "rss",     "offloads",       "description",    "notes"};

// Reads the port fields of `node` over `port` (used for profiles, then for the port's own keys).
void read_port_fields(const Node& node, PortConfig& port) {
  optional_field(node, "device", port.device, [](const Node& n) {
    auto s = n.string();
    if (s.empty()) n.fail("a PCI address or vdev arguments");
    return s;
  });
  optional_field(node, "rx_descriptors", port.rx_descriptors,
                 [](const Node& n) { return static_cast<uint16_t>(n.integer(64, 32768)); });
  optional_field(node, "tx_descriptors", port.tx_descriptors,
                 [](const Node& n) { return static_cast<uint16_t>(n.integer(64, 32768)); });
  optional_field(node, "mtu", port.mtu,
                 [](const Node& n) { return static_cast<uint16_t>(n.integer(576, 9600)); });
  optional_field(node, "promiscuous", port.promiscuous, [](const Node& n) { return n.boolean(); });
  if (auto rss = node.find("rss")) {
    rss->object({"enabled", "symmetric_key", "types", "by_device"});
    optional_field(*rss, "by_device", port.rss.by_device,
                   [](const Node& n) { return n.boolean(); });
    optional_field(*rss, "enabled", port.rss.enabled, [](const Node& n) { return n.boolean(); });
    optional_field(*rss, "symmetric_key", port.rss.symmetric_key,
                   [](const Node& n) { return n.boolean(); });
    optional_field(*rss, "types", port.rss.types,
                   [](const Node& n) { return flag_names(n, rss_type_flags()); });
    for (const auto& t : port.rss.types)
      if (t == "nonfrag_ipv4_udp" || t == "nonfrag_ipv6_udp")
        throw ConfigError(rss->path() + ".types",
                          fmt::format("\"{}\" hashes UDP ports on most NICs, which splits a "
                                      "datagram's fragments across workers; use IP-only types",
                                      t));
  }
  if (auto offloads = node.find("offloads")) {
    offloads->object({"rx", "tx"});
    optional_field(*offloads, "rx", port.rx_offloads,
                   [](const Node& n) { return flag_names(n, rx_offload_flags()); });
    optional_field(*offloads, "tx", port.tx_offloads,
                   [](const Node& n) { return flag_names(n, tx_offload_flags()); });
  }
}

// Deadlines are compared on a wrapping 32-bit millisecond clock (before()): at most 2^31 ms,
// about 24.8 days, ahead. 20 days keeps clear of that.
constexpr uint64_t kMaxDeadlineS = 20 * 86400;

constexpr std::string_view kClassNames[] = {"register", "invite", "options", "other", "response"};

void read_meter(const Node& n, MeterProfile& m) {
  n.object({"rate_per_s", "burst"});
  optional_field(n, "rate_per_s", m.rate_per_s,
                 [](const Node& v) { return static_cast<uint32_t>(v.integer(0, 1000000)); });
  optional_field(n, "burst", m.burst,
                 [](const Node& v) { return static_cast<uint16_t>(v.integer(1, 1000)); });
}

void read_policy(const Node& n, PolicyConfig& p) {
  n.object({"untrusted", "trusted", "per_address", "untrusted_budget", "demerits", "trust",
            "sources", "dialogs", "overload", "aor", "familiar", "probe", "bots"});
  if (auto b = n.find("bots")) {
    b->object({"fresh_ports", "window_s", "budget"});
    optional_field(*b, "fresh_ports", p.bot_fresh_ports,
                   [](const Node& v) { return static_cast<uint8_t>(v.integer(0, 255)); });
    optional_field(*b, "window_s", p.bot_window_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 3600)); });
    if (auto m = b->find("budget")) read_meter(*m, p.bot_budget);
  }
  if (auto pr = n.find("probe")) {
    pr->object({"mode", "rate_per_s", "burst", "per_prefix_per_s", "slot_s", "key_rotate_s",
                "verified_s", "verified_max", "verified_budget"});
    if (auto m = pr->find("mode")) {
      const std::string mode = m->choice({"never", "pressure", "always"});
      p.probe_mode = mode == "never"      ? ProbeMode::never
                     : mode == "pressure" ? ProbeMode::pressure
                                          : ProbeMode::always;
    }
    const auto count = [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 1000000)); };
    optional_field(*pr, "rate_per_s", p.probe_limits.rate_per_s, count);
    optional_field(*pr, "burst", p.probe_limits.burst, count);
    optional_field(*pr, "per_prefix_per_s", p.probe_limits.per_prefix_per_s, count);
    optional_field(*pr, "slot_s", p.probe_cookie.slot_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 60)); });
    optional_field(*pr, "key_rotate_s", p.probe_cookie.rotate_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(60, 86400)); });
    optional_field(*pr, "verified_s", p.verified_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 86400)); });
    optional_field(*pr, "verified_max", p.verified_max,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 1u << 24)); });
    if (auto b = pr->find("verified_budget")) read_meter(*b, p.verified_budget);
    if (p.probe_cookie.rotate_s < p.probe_cookie.slot_s) pr->fail("key_rotate_s at least slot_s");
  }
  if (auto f = n.find("familiar")) {
    f->object({"max", "ipv4_length", "ipv6_length", "keep_s"});
    optional_field(*f, "max", p.familiar_prefixes,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(0, 1u << 24)); });
    optional_field(*f, "ipv4_length", p.familiar_ipv4_length,
                   [](const Node& v) { return static_cast<uint8_t>(v.integer(8, 32)); });
    optional_field(*f, "ipv6_length", p.familiar_ipv6_length,
                   [](const Node& v) { return static_cast<uint8_t>(v.integer(16, 128)); });
    optional_field(*f, "keep_s", p.familiar_keep_s, [](const Node& v) {
      return static_cast<uint32_t>(v.integer(1, kMaxDeadlineS));
    });
  }
  if (auto a = n.find("aor")) {
    a->object({"register", "failures", "window_s", "lock_s", "slots"});
    if (auto r = a->find("register")) read_meter(*r, p.aor_register);
    optional_field(*a, "failures", p.aor_failures,
                   [](const Node& v) { return static_cast<uint16_t>(v.integer(1, 10000)); });
    optional_field(*a, "window_s", p.aor_window_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 86400)); });
    optional_field(*a, "lock_s", p.aor_lock_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 86400)); });
    optional_field(*a, "slots", p.aor_slots,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 1u << 24)); });
  }
  if (auto o = n.find("overload")) {
    o->object({"budget_percent", "max_s"});
    optional_field(*o, "budget_percent", p.overload_budget_percent,
                   [](const Node& v) { return static_cast<uint8_t>(v.integer(1, 100)); });
    optional_field(*o, "max_s", p.overload_max_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 86400)); });
  }
  for (auto [key, tier] : {std::pair{"untrusted", &p.untrusted}, std::pair{"trusted", &p.trusted},
                           std::pair{"per_address", &p.per_address}}) {
    if (auto t = n.find(key)) {
      t->object(kClassNames);
      for (size_t c = 0; c < kMethodClasses; ++c)
        if (auto m = t->find(kClassNames[c])) read_meter(*m, tier->classes[c]);
    }
  }
  if (auto b = n.find("untrusted_budget")) {
    b->object({"rate_per_s", "burst", "polite_rate_per_s", "floor_percent", "newcomer", "familiar",
               "control"});
    if (auto c = b->find("control")) {
      c->object(
          {"target_ms", "interval_ms", "min_percent", "decrease_percent", "increase_percent"});
      optional_field(*c, "target_ms", p.budget_target_ms,
                     [](const Node& v) { return static_cast<uint32_t>(v.integer(0, 60000)); });
      optional_field(*c, "interval_ms", p.budget_interval_ms,
                     [](const Node& v) { return static_cast<uint32_t>(v.integer(10, 60000)); });
      const auto percent = [](const Node& v) { return static_cast<uint8_t>(v.integer(1, 100)); };
      optional_field(*c, "min_percent", p.budget_min_percent, percent);
      optional_field(*c, "increase_percent", p.budget_increase_percent, percent);
      optional_field(*c, "decrease_percent", p.budget_decrease_percent,
                     [](const Node& v) { return static_cast<uint8_t>(v.integer(1, 99)); });
    }
    if (auto f = b->find("newcomer")) read_meter(*f, p.newcomer_budget);
    if (auto f = b->find("familiar")) read_meter(*f, p.familiar_budget);
    optional_field(*b, "rate_per_s", p.untrusted_budget_pps,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(0, 1000000)); });
    optional_field(*b, "burst", p.untrusted_budget_burst,
                   [](const Node& v) { return static_cast<uint16_t>(v.integer(1, 60000)); });
    optional_field(*b, "polite_rate_per_s", p.polite_rate_per_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 1000)); });
    if (auto f = b->find("floor_percent")) {
      f->object({"familiar", "newcomer", "bursty"});
      const auto percent = [](const Node& v) { return static_cast<uint8_t>(v.integer(0, 99)); };
      optional_field(*f, "familiar", p.floor_familiar_percent, percent);
      optional_field(*f, "newcomer", p.floor_newcomer_percent, percent);
      optional_field(*f, "bursty", p.floor_bursty_percent, percent);
    }
  }
  if (auto d = n.find("demerits")) {
    d->object({"threshold", "demote", "window_s", "ban_s", "malformed", "rate_limited",
               "auth_failure", "no_dialog"});
    const auto points = [](const Node& v) { return static_cast<uint16_t>(v.integer(0, 1000)); };
    optional_field(*d, "threshold", p.demerit_threshold,
                   [](const Node& v) { return static_cast<uint16_t>(v.integer(1, 10000)); });
    optional_field(*d, "window_s", p.demerit_window_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 86400)); });
    optional_field(*d, "ban_s", p.ban_s, [](const Node& v) {
      return static_cast<uint32_t>(v.integer(1, kMaxDeadlineS));
    });
    optional_field(*d, "malformed", p.demerits_malformed, points);
    optional_field(*d, "rate_limited", p.demerits_rate_limited, points);
    optional_field(*d, "auth_failure", p.demerits_auth_failure, points);
    optional_field(*d, "no_dialog", p.demerits_no_dialog, points);
    if (auto v = d->find("demote")) {
      p.demote_threshold = static_cast<uint16_t>(v->integer(0, 10000));
      if (p.demote_threshold > p.demerit_threshold)
        v->fail(fmt::format("0 (never) or at most threshold ({})", p.demerit_threshold));
    }
  }
  if (auto t = n.find("trust")) {
    t->object({"max_s", "nonce_s"});
    optional_field(*t, "max_s", p.trust_max_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(0, 7 * 86400)); });
    optional_field(*t, "nonce_s", p.nonce_trust_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(0, 86400)); });
  }
  if (auto d = n.find("dialogs")) {
    d->object({"max", "transaction_s", "dialog_s", "grace_s"});
    optional_field(*d, "max", p.max_dialogs,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 1u << 26)); });
    optional_field(*d, "transaction_s", p.transaction_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 3600)); });
    optional_field(*d, "dialog_s", p.dialog_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 7 * 86400)); });
    optional_field(*d, "grace_s", p.grace_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(0, 86400)); });
  }
  if (auto s = n.find("sources")) {
    s->object({"max", "probation", "idle_s", "stray_idle_s"});
    optional_field(*s, "probation", p.probation_sources,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(0, 1u << 26)); });
    optional_field(*s, "stray_idle_s", p.stray_idle_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 86400)); });
    optional_field(*s, "max", p.max_sources,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 1u << 26)); });
    optional_field(*s, "idle_s", p.idle_s,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 86400)); });
  }
}

json prefixes_json(const std::vector<IpPrefix>& list) {
  json out = json::array();
  for (const auto& p : list) out.push_back(p.to_string());
  return out;
}

json policy_to_json(const PolicyConfig& p) {
  const auto tier = [](const TierProfile& t) {
    json j = json::object();
    for (size_t c = 0; c < kMethodClasses; ++c)
      j[std::string(kClassNames[c])] = {{"rate_per_s", t.classes[c].rate_per_s},
                                        {"burst", t.classes[c].burst}};
    return j;
  };
  return {
      {"untrusted", tier(p.untrusted)},
      {"trusted", tier(p.trusted)},
      {"per_address", tier(p.per_address)},
      {"untrusted_budget",
       {{"rate_per_s", p.untrusted_budget_pps},
        {"burst", p.untrusted_budget_burst},
        {"polite_rate_per_s", p.polite_rate_per_s},
        {"newcomer",
         {{"rate_per_s", p.newcomer_budget.rate_per_s}, {"burst", p.newcomer_budget.burst}}},
        {"familiar",
         {{"rate_per_s", p.familiar_budget.rate_per_s}, {"burst", p.familiar_budget.burst}}},
        {"floor_percent",
         {{"familiar", p.floor_familiar_percent},
          {"newcomer", p.floor_newcomer_percent},
          {"bursty", p.floor_bursty_percent}}},
        {"control",
         {{"target_ms", p.budget_target_ms},
          {"interval_ms", p.budget_interval_ms},
          {"min_percent", p.budget_min_percent},
          {"decrease_percent", p.budget_decrease_percent},
          {"increase_percent", p.budget_increase_percent}}}}},
      {"bots",
       {{"fresh_ports", p.bot_fresh_ports},
        {"window_s", p.bot_window_s},
        {"budget", {{"rate_per_s", p.bot_budget.rate_per_s}, {"burst", p.bot_budget.burst}}}}},
      {"familiar",
       {{"max", p.familiar_prefixes},
        {"ipv4_length", p.familiar_ipv4_length},
        {"ipv6_length", p.familiar_ipv6_length},
        {"keep_s", p.familiar_keep_s}}},
      {"demerits",
       {{"threshold", p.demerit_threshold},
        {"demote", p.demote_threshold},
        {"window_s", p.demerit_window_s},
        {"ban_s", p.ban_s},
        {"malformed", p.demerits_malformed},
        {"rate_limited", p.demerits_rate_limited},
        {"auth_failure", p.demerits_auth_failure},
        {"no_dialog", p.demerits_no_dialog}}},
      {"trust", {{"max_s", p.trust_max_s}, {"nonce_s", p.nonce_trust_s}}},
      {"sources",
       {{"max", p.max_sources},
        {"probation", p.probation_sources},
        {"idle_s", p.idle_s},
        {"stray_idle_s", p.stray_idle_s}}},
      {"dialogs",
       {{"max", p.max_dialogs},
        {"transaction_s", p.transaction_s},
        {"dialog_s", p.dialog_s},
        {"grace_s", p.grace_s}}},
      {"overload", {{"budget_percent", p.overload_budget_percent}, {"max_s", p.overload_max_s}}},
      {"aor",
       {{"register", {{"rate_per_s", p.aor_register.rate_per_s}, {"burst", p.aor_register.burst}}},
        {"failures", p.aor_failures},
        {"window_s", p.aor_window_s},
        {"lock_s", p.aor_lock_s},
        {"slots", p.aor_slots}}},
      {"probe",
       {{"mode", p.probe_mode == ProbeMode::never      ? "never"
                 : p.probe_mode == ProbeMode::pressure ? "pressure"
                                                       : "always"},
        {"rate_per_s", p.probe_limits.rate_per_s},
        {"burst", p.probe_limits.burst},
        {"per_prefix_per_s", p.probe_limits.per_prefix_per_s},
        {"slot_s", p.probe_cookie.slot_s},
        {"key_rotate_s", p.probe_cookie.rotate_s},
        {"verified_s", p.verified_s},
        {"verified_max", p.verified_max},
        {"verified_budget",
         {{"rate_per_s", p.verified_budget.rate_per_s}, {"burst", p.verified_budget.burst}}}}}};
}

PortConfig read_port(const Node& node, const std::filesystem::path& base_dir) {
  node.object(kPortKeys);
  PortConfig port;
  if (auto profile = node.find("profile")) {
    const auto file = find_config_file(base_dir, profile->string(), profile->path());
    const json profile_json = read_json_file(file, profile->path());
    const Node profile_node(profile_json, fmt::format("{} ({})", profile->path(), file.string()));
    profile_node.object(kPortKeys);
    if (profile_node.find("profile") || profile_node.find("device"))
      throw ConfigError(profile_node.path(), "a profile may not name a device or another profile");
    read_port_fields(profile_node, port);
  }
  read_port_fields(node, port);  // the port's own keys win over its profile
  if (port.device.empty())
    throw ConfigError(node.path() + ".device", "required: a PCI address or vdev arguments");
  return port;
}

std::string address_field(const Node& n) {
  const std::string text = n.string();
  if (!IpAddress::parse(text)) n.fail("an IPv4 or IPv6 address");
  return text;
}
uint16_t port_field(const Node& n) {
  return static_cast<uint16_t>(n.integer(1, 65535));
}

void parse_operations(const Node& root, Config& config, const std::filesystem::path& base_dir) {
  if (auto c = root.find("control")) {
    c->object({"socket", "group"});
    optional_field(*c, "socket", config.control.socket, [](const Node& n) {
      auto path = n.string();
      if (!path.empty() && path[0] != '/') n.fail("an absolute path, or \"\" for no socket");
      if (path.size() >= 108) n.fail("a path shorter than 108 bytes (a unix socket's limit)");
      return path;
    });
    optional_field(*c, "group", config.control.group, [](const Node& n) { return n.string(); });
  }
  if (auto m = root.find("metrics")) {
    m->object({"enabled", "address", "port"});
    optional_field(*m, "enabled", config.metrics.enabled,
                   [](const Node& n) { return n.boolean(); });
    optional_field(*m, "address", config.metrics.address, address_field);
    optional_field(*m, "port", config.metrics.port, port_field);
  }
  if (auto s = root.find("snapshot")) {
    s->object({"file", "interval_s", "max_age_s"});
    // A relative path is relative to the config file, as a rules file is.
    optional_field(*s, "file", config.snapshot.file, [&](const Node& n) {
      const std::filesystem::path file = n.string();
      return file.empty() || file.is_absolute() ? file.string() : (base_dir / file).string();
    });
    optional_field(*s, "interval_s", config.snapshot.interval_s,
                   [](const Node& n) { return static_cast<unsigned>(n.integer(0, 86400)); });
    optional_field(*s, "max_age_s", config.snapshot.max_age_s,
                   [](const Node& n) { return static_cast<unsigned>(n.integer(1, 30 * 86400)); });
  }
  if (auto e = root.find("esp")) {
    e->object({"enabled", "replay_window", "max_sas", "idle_s", "keys_file"});
    auto& esp = config.esp;
    optional_field(*e, "enabled", esp.enabled, [](const Node& n) { return n.boolean(); });
    optional_field(*e, "replay_window", esp.replay_window, [](const Node& n) {
      const auto w = static_cast<uint32_t>(n.integer(64, ReplayWindow::kMaxSize));
      if (w % 64) n.fail(fmt::format("64 to {} in steps of 64", ReplayWindow::kMaxSize));
      return w;
    });
    optional_field(*e, "max_sas", esp.max_sas,
                   [](const Node& n) { return static_cast<uint32_t>(n.integer(16, 1u << 22)); });
    optional_field(*e, "idle_s", esp.idle_s,
                   [](const Node& n) { return static_cast<uint32_t>(n.integer(1, 7 * 86400)); });
    // A relative path is relative to the config file, as a rules file is.
    optional_field(*e, "keys_file", esp.keys_file, [&](const Node& n) {
      const std::filesystem::path file = n.string();
      return file.empty() || file.is_absolute() ? file.string() : (base_dir / file).string();
    });
  }
  if (auto a = root.find("alarms")) {
    a->object({"enabled", "warning_pps", "major_pps", "clear_s", "top_talkers_s"});
    const auto rate = [](const Node& n) { return n.integer(1, 1'000'000'000); };
    optional_field(*a, "enabled", config.alarms.enabled, [](const Node& n) { return n.boolean(); });
    optional_field(*a, "warning_pps", config.alarms.warning_pps, rate);
    optional_field(*a, "major_pps", config.alarms.major_pps, rate);
    optional_field(*a, "clear_s", config.alarms.clear_s,
                   [](const Node& n) { return static_cast<uint32_t>(n.integer(1, 3600)); });
    optional_field(*a, "top_talkers_s", config.alarms.top_talkers_s,
                   [](const Node& n) { return static_cast<uint32_t>(n.integer(0, 86400)); });
    if (config.alarms.major_pps < config.alarms.warning_pps)
      throw ConfigError(a->path() + ".major_pps",
                        fmt::format("expected at least warning_pps ({}), got {}",
                                    config.alarms.warning_pps, config.alarms.major_pps));
  }
  if (auto s = root.find("syslog")) {
    s->object({"enabled", "address", "port", "transport", "per_second", "facility", "app_name"});
    optional_field(*s, "enabled", config.syslog.enabled, [](const Node& n) { return n.boolean(); });
    optional_field(*s, "address", config.syslog.address, address_field);
    optional_field(*s, "port", config.syslog.port, port_field);
    optional_field(*s, "transport", config.syslog.transport, [](const Node& n) {
      return n.choice({"udp", "tcp"}) == "tcp" ? SyslogTransport::tcp : SyslogTransport::udp;
    });
    optional_field(*s, "per_second", config.syslog.per_second,
                   [](const Node& n) { return static_cast<unsigned>(n.integer(1, 100000)); });
    optional_field(*s, "facility", config.syslog.facility,
                   [](const Node& n) { return static_cast<unsigned>(n.integer(0, 23)); });
    optional_field(*s, "app_name", config.syslog.app_name, [](const Node& n) {
      auto name = n.string();
      // RFC 5424 APP-NAME: 1 to 48 printable US-ASCII characters, no space.
      bool printable = !name.empty() && name.size() <= 48;
      for (char ch : name) printable = printable && ch > 32 && ch < 127;
      if (!printable) n.fail("1 to 48 printable ASCII characters without spaces (RFC 5424)");
      return name;
    });
  }
}

}  // namespace

Config parse_config(const json& document, const std::filesystem::path& base_dir) {
  const Node root(document, "$");
  root.object(
      {"eal",        "ports",   "workers",    "protected", "allow",  "deny",    "default_action",
       "reassembly", "sip",     "signatures", "policy",    "clock",  "mempool", "stats_interval_s",
       "control",    "metrics", "snapshot",   "syslog",    "alarms", "esp",     "description"});
  Config config;
  if (auto n = root.find("signatures")) {
    n->object({"rules", "sample_trusted"});
    if (auto r = n->find("rules")) {
      config.signatures = r->string();
      if (config.signatures.empty()) r->fail("\"builtin\", \"none\" or a rules file");
    }
    optional_field(*n, "sample_trusted", config.signature_sample_trusted,
                   [](const Node& v) { return static_cast<uint32_t>(v.integer(0, 1u << 20)); });
  }
  if (config.signatures == "builtin") {
    config.signature_rules = parse_rules(builtin_rules_text(), "(built-in signatures)");
  } else if (config.signatures != "none") {
    auto file = base_dir / config.signatures;
    try {
      file = find_config_file(base_dir, config.signatures, "$");
      config.signature_rules = load_rules(file);
    } catch (const ConfigError& e) {
      throw ConfigError("$.signatures.rules", fmt::format("{}: {}", file.string(), e.what()));
    }
  }

  if (auto eal = root.find("eal")) {
    eal->object({"args"});
    if (auto args = eal->find("args"))
      for (const auto& arg : args->array()) config.eal_args.push_back(arg.string());
  }
  if (auto ports = root.find("ports")) {
    ports->object({"outside", "inside"});
    if (auto n = ports->find("outside")) config.outside = read_port(*n, base_dir);
    if (auto n = ports->find("inside")) config.inside = read_port(*n, base_dir);
    if (config.outside.has_value() != config.inside.has_value())
      throw ConfigError(ports->path(), "expected both \"outside\" and \"inside\", or neither");
    if (config.outside && config.outside->device == config.inside->device)
      throw ConfigError(
          ports->path() + ".inside.device",
          "the same device as ports.outside.device: a bump in the wire needs two ports");
  }
  optional_field(root, "workers", config.workers,
                 [](const Node& n) { return static_cast<unsigned>(n.integer(1, 128)); });
  if (auto list = root.find("protected")) {
    std::set<std::string> seen;
    for (const auto& item : list->array()) {
      std::string why;
      auto match = ServiceMatch::parse(item.string(), &why);
      if (!match && !why.empty()) throw ConfigError(item.path(), why);
      if (!match) item.fail(ServiceMatch::kForms);
      if (!seen.insert(match->to_string()).second)
        throw ConfigError(item.path(), fmt::format("{} is listed twice", match->to_string()));
      config.protected_services.push_back(*match);
    }
    if (config.protected_services.size() > kMaxProtectedServices)
      throw ConfigError(list->path(), "expected at most 64 entries (use prefixes)");
  }
  for (auto [key, list] : {std::pair{"allow", &config.allow}, std::pair{"deny", &config.deny}}) {
    if (auto n = root.find(key)) {
      for (const auto& item : n->array()) {
        auto p = IpPrefix::parse(item.string());
        if (!p) item.fail("an address or prefix: 198.18.100.0/24, 2001:db8:100::/48");
        list->push_back(*p);
      }
      if (list->size() > 65536) throw ConfigError(n->path(), "expected at most 65536 prefixes");
    }
  }
  optional_field(root, "default_action", config.default_action, [](const Node& n) {
    return n.choice({"pass", "drop"}) == "pass" ? Action::pass : Action::drop;
  });
  if (auto r = root.find("reassembly")) {
    r->object({"max_datagrams", "max_fragments", "max_per_source", "max_held", "timeout_ms"});
    auto& limits = config.reassembly;
    optional_field(*r, "max_datagrams", limits.max_datagrams,
                   [](const Node& n) { return static_cast<uint32_t>(n.integer(1, 1u << 22)); });
    optional_field(*r, "max_fragments", limits.max_fragments, [](const Node& n) {
      return static_cast<uint16_t>(n.integer(2, kMaxFragmentsPerDatagram));
    });
    optional_field(*r, "max_per_source", limits.max_per_source,
                   [](const Node& n) { return static_cast<uint16_t>(n.integer(1, 65535)); });
    optional_field(*r, "max_held", limits.max_held,
                   [](const Node& n) { return static_cast<uint32_t>(n.integer(2, 1u << 24)); });
    if (limits.max_held < limits.max_fragments)
      throw ConfigError(r->path() + ".max_held",
                        fmt::format("expected at least max_fragments ({})", limits.max_fragments));
    if (auto t = r->find("timeout_ms")) limits.timeout_ns = t->integer(1, 60000) * 1'000'000;
    if (limits.max_per_source > limits.max_datagrams)
      throw ConfigError(r->path() + ".max_per_source",
                        fmt::format("expected at most max_datagrams ({})", limits.max_datagrams));
  }
  if (auto n = root.find("sip")) {
    n->object({"max_message_bytes", "max_header_bytes", "max_headers_bytes", "max_headers"});
    auto& sip = config.sip;
    const auto bytes = [](const Node& v) { return static_cast<uint16_t>(v.integer(64, 65535)); };
    optional_field(*n, "max_message_bytes", sip.max_message_bytes, bytes);
    optional_field(*n, "max_header_bytes", sip.max_header_bytes, bytes);
    optional_field(*n, "max_headers_bytes", sip.max_headers_bytes, bytes);
    optional_field(*n, "max_headers", sip.max_headers,
                   [](const Node& v) { return static_cast<uint16_t>(v.integer(8, 1024)); });
    if (sip.max_header_bytes > sip.max_headers_bytes)
      throw ConfigError(
          n->path() + ".max_header_bytes",
          fmt::format("expected at most max_headers_bytes ({})", sip.max_headers_bytes));
  }
  if (auto n = root.find("policy")) read_policy(*n, config.policy);
  optional_field(root, "clock", config.clock, [](const Node& n) {
    const auto c = n.choice({"auto", "tsc", "packet"});
    return c == "tsc"      ? ClockSource::tsc
           : c == "packet" ? ClockSource::packet
                           : ClockSource::automatic;
  });
  if (auto m = root.find("mempool")) {
    m->object({"mbufs", "cache"});
    optional_field(*m, "mbufs", config.mempool.mbufs, [](const Node& n) {
      const auto v = static_cast<uint32_t>(n.integer(0, 1u << 24));
      if (v != 0 && v < 1023) n.fail("0 (automatic) or an integer from 1023 to 16777216");
      return v;
    });
    optional_field(*m, "cache", config.mempool.cache,
                   [](const Node& n) { return static_cast<uint16_t>(n.integer(0, 512)); });
  }
  optional_field(root, "stats_interval_s", config.stats_interval_s,
                 [](const Node& n) { return static_cast<unsigned>(n.integer(0, 86400)); });
  parse_operations(root, config, base_dir);
  return config;
}

Config parse_config_text(std::string_view text, const std::filesystem::path& base_dir) {
  return parse_config(parse_json_text(text, "$"), base_dir);
}

Config load_config(const std::filesystem::path& file) {
  return parse_config(read_json_file(file, "$"), file.parent_path());
}

namespace {
json port_to_json(const PortConfig& port) {
  return {{"device", port.device},
          {"rx_descriptors", port.rx_descriptors},
          {"tx_descriptors", port.tx_descriptors},
          {"mtu", port.mtu},
          {"promiscuous", port.promiscuous},
          {"rss",
           {{"enabled", port.rss.enabled},
            {"symmetric_key", port.rss.symmetric_key},
            {"by_device", port.rss.by_device},
            {"types", port.rss.types}}},
          {"offloads", {{"rx", port.rx_offloads}, {"tx", port.tx_offloads}}}};
}
}  // namespace

json to_json(const Config& config) {
  json services = json::array();
  for (const auto& s : config.protected_services) services.push_back(s.to_string());
  json out = {
      {"eal", {{"args", config.eal_args}}},
      {"workers", config.workers},
      {"protected", services},
      {"allow", prefixes_json(config.allow)},
      {"deny", prefixes_json(config.deny)},
      {"default_action", std::string(action_name(config.default_action))},
      {"reassembly",
       {{"max_datagrams", config.reassembly.max_datagrams},
        {"max_fragments", config.reassembly.max_fragments},
        {"max_per_source", config.reassembly.max_per_source},
        {"max_held", config.reassembly.max_held},
        {"timeout_ms", config.reassembly.timeout_ns / 1'000'000}}},
      {"sip",
       {{"max_message_bytes", config.sip.max_message_bytes},
        {"max_header_bytes", config.sip.max_header_bytes},
        {"max_headers_bytes", config.sip.max_headers_bytes},
        {"max_headers", config.sip.max_headers}}},
      {"signatures",
       {{"rules", config.signatures}, {"sample_trusted", config.signature_sample_trusted}}},
      {"policy", policy_to_json(config.policy)},
      {"clock", config.clock == ClockSource::tsc      ? "tsc"
                : config.clock == ClockSource::packet ? "packet"
                                                      : "auto"},
      {"mempool", {{"mbufs", config.mempool.mbufs}, {"cache", config.mempool.cache}}},
      {"stats_interval_s", config.stats_interval_s},
      {"control", {{"socket", config.control.socket}, {"group", config.control.group}}},
      {"metrics",
       {{"enabled", config.metrics.enabled},
        {"address", config.metrics.address},
        {"port", config.metrics.port}}},
      {"snapshot",
       {{"file", config.snapshot.file},
        {"interval_s", config.snapshot.interval_s},
        {"max_age_s", config.snapshot.max_age_s}}},
      {"esp",
       {{"enabled", config.esp.enabled},
        {"replay_window", config.esp.replay_window},
        {"max_sas", config.esp.max_sas},
        {"idle_s", config.esp.idle_s},
        {"keys_file", config.esp.keys_file}}},
      {"alarms",
       {{"enabled", config.alarms.enabled},
        {"warning_pps", config.alarms.warning_pps},
        {"major_pps", config.alarms.major_pps},
        {"clear_s", config.alarms.clear_s},
        {"top_talkers_s", config.alarms.top_talkers_s}}},
      {"syslog",
       {{"enabled", config.syslog.enabled},
        {"address", config.syslog.address},
        {"port", config.syslog.port},
        {"transport", config.syslog.transport == SyslogTransport::tcp ? "tcp" : "udp"},
        {"per_second", config.syslog.per_second},
        {"facility", config.syslog.facility},
        {"app_name", config.syslog.app_name}}},
  };
  if (config.outside)
    out["ports"] = {{"outside", port_to_json(*config.outside)},
                    {"inside", port_to_json(*config.inside)}};
  return out;
}

}  // namespace sipshield
