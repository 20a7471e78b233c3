#include "generator/scenario.hpp"

#include <fmt/format.h>

#include "core/json_reader.hpp"

namespace sipshield {
namespace {

constexpr std::string_view kFloodNames[] = {
#define SIPSHIELD_FLOOD_NAME(name) #name,
    SIPSHIELD_FLOOD_KINDS(SIPSHIELD_FLOOD_NAME)
#undef SIPSHIELD_FLOOD_NAME
};

IpPrefix read_prefix(const Node& n) {
  auto p = IpPrefix::parse(n.string());
  if (!p) n.fail("an address prefix such as 198.18.16.0/20 or 2001:db8:16::/64");
  return *p;
}

FloodSpec read_flood(const Node& n) {
  n.object({"kind", "start_s", "duration_s", "rate_pps", "sources", "spoofed", "rotate_ports",
            "source_prefix", "style", "ipv6", "description"});
  FloodSpec f;
  f.source_prefix = *IpPrefix::parse("198.19.0.0/16");
  const auto kind = n.find("kind");
  if (!kind) throw ConfigError(n.path() + ".kind", "required: the flood kind");
  const std::string name = kind->string();
  bool known = false;
  for (size_t i = 0; i < std::size(kFloodNames); ++i)
    if (kFloodNames[i] == name) {
      f.kind = static_cast<FloodKind>(i);
      known = true;
    }
  if (!known) {
    std::string names;
    for (auto k : kFloodNames) names += fmt::format("{}{}", names.empty() ? "" : ", ", k);
    kind->fail("one of " + names);
  }
  optional_field(n, "start_s", f.start_s, [](const Node& v) { return v.number(0, 86400); });
  optional_field(n, "duration_s", f.duration_s,
                 [](const Node& v) { return v.number(0.001, 86400); });
  optional_field(n, "rate_pps", f.rate_pps, [](const Node& v) { return v.number(0.01, 1e7); });
  optional_field(n, "sources", f.sources,
                 [](const Node& v) { return static_cast<uint32_t>(v.integer(1, 1u << 24)); });
  optional_field(n, "spoofed", f.spoofed, [](const Node& v) { return v.boolean(); });
  optional_field(n, "rotate_ports", f.rotate_ports, [](const Node& v) { return v.boolean(); });
  optional_field(n, "source_prefix", f.source_prefix, read_prefix);
  optional_field(n, "ipv6", f.ipv6, [](const Node& v) { return v.boolean(); });
  optional_field(n, "style", f.style, [](const Node& v) {
    return v.choice({"default", "svmap", "svwar", "svcrack", "compact", "invite"});
  });
  if (f.ipv6 == f.source_prefix.address.is_v4() && n.find("source_prefix"))
    throw ConfigError(
        n.path() + ".source_prefix",
        fmt::format("an {} prefix, to match \"ipv6\": {}", f.ipv6 ? "IPv6" : "IPv4", f.ipv6));
  if (f.ipv6 && !n.find("source_prefix")) f.source_prefix = *IpPrefix::parse("2001:db8:66::/48");
  return f;
}

}  // namespace

std::string_view flood_kind_name(FloodKind kind) {
  return kFloodNames[static_cast<size_t>(kind)];
}

Scenario parse_scenario(std::string_view text, const std::string& origin) {
  const nlohmann::json document = parse_json_text(text, origin);
  const Node root(document, origin);
  root.object({"description", "seed", "duration_s", "epoch_s", "domain", "servers", "mtu", "users",
               "floods"});
  Scenario s;
  optional_field(root, "description", s.description, [](const Node& n) { return n.string(); });
  optional_field(root, "seed", s.seed, [](const Node& n) { return n.integer(0, UINT64_MAX); });
  optional_field(root, "duration_s", s.duration_s,
                 [](const Node& n) { return n.number(1, 86400); });
  optional_field(root, "epoch_s", s.epoch_s,
                 [](const Node& n) { return n.integer(0, 1ull << 34); });
  optional_field(root, "domain", s.domain, [](const Node& n) { return n.string(); });
  optional_field(root, "mtu", s.mtu,
                 [](const Node& n) { return static_cast<uint16_t>(n.integer(576, 9000)); });
  if (auto servers = root.find("servers")) {
    s.servers.clear();
    for (const auto& item : servers->array()) {
      std::string why;
      auto match = ServiceMatch::parse(item.string(), &why);
      if (!match && !why.empty()) throw ConfigError(item.path(), why);
      if (!match || !match->port || match->prefix.length != 128)
        item.fail("an address with a port: 198.18.0.10:5060 or [2001:db8::10]:5060");
      s.servers.push_back({match->prefix.address, *match->port});
    }
    if (s.servers.empty()) servers->fail("at least one server");
  }
  if (auto u = root.find("users")) {
    u->object({"count", "ipv4_prefix", "ipv6_prefix", "ipv6_share", "nat_share",
               "register_expires_s", "keepalive_interval_s", "calls_per_user_per_hour",
               "call_duration_s", "large_sdp_share", "compact_share", "loss",
               "server_ping_interval_s", "warmup_s", "newcomers"});
    auto& users = s.users;
    const auto share = [](const Node& n) { return n.number(0, 1); };
    optional_field(*u, "count", users.count,
                   [](const Node& n) { return static_cast<uint32_t>(n.integer(0, 1'000'000)); });
    optional_field(*u, "ipv4_prefix", users.ipv4_prefix, read_prefix);
    optional_field(*u, "ipv6_prefix", users.ipv6_prefix, read_prefix);
    optional_field(*u, "ipv6_share", users.ipv6_share, share);
    optional_field(*u, "nat_share", users.nat_share, share);
    optional_field(*u, "register_expires_s", users.register_expires_s,
                   [](const Node& n) { return static_cast<uint32_t>(n.integer(10, 86400)); });
    optional_field(*u, "keepalive_interval_s", users.keepalive_interval_s,
                   [](const Node& n) { return n.number(0, 3600); });
    optional_field(*u, "calls_per_user_per_hour", users.calls_per_user_per_hour,
                   [](const Node& n) { return n.number(0, 3600); });
    optional_field(*u, "call_duration_s", users.call_duration_s,
                   [](const Node& n) { return n.number(0.1, 86400); });
    optional_field(*u, "large_sdp_share", users.large_sdp_share, share);
    optional_field(*u, "compact_share", users.compact_share, share);
    optional_field(*u, "loss", users.loss, share);
    optional_field(*u, "server_ping_interval_s", users.server_ping_interval_s,
                   [](const Node& n) { return n.number(0, 3600); });
    optional_field(*u, "warmup_s", users.warmup_s, [](const Node& n) { return n.number(0, 3600); });
    optional_field(*u, "newcomers", users.newcomers,
                   [](const Node& n) { return static_cast<uint32_t>(n.integer(0, 1'000'000)); });
    if (!users.ipv4_prefix.address.is_v4())
      throw ConfigError(u->path() + ".ipv4_prefix", "expected an IPv4 prefix");
    if (users.ipv6_prefix.address.is_v4())
      throw ConfigError(u->path() + ".ipv6_prefix", "expected an IPv6 prefix");
    // Worst case every user has an address of its own (no NAT sharing).
    const uint64_t room = (uint64_t{1} << std::min(32u, 128u - users.ipv4_prefix.length)) - 1;
    if (users.count + users.newcomers > room)
      throw ConfigError(
          u->path() + ".count",
          fmt::format("{} users do not fit in {} ({} addresses)", users.count + users.newcomers,
                      users.ipv4_prefix.to_string(), room));
  }
  if (auto floods = root.find("floods"))
    for (const auto& item : floods->array()) s.floods.push_back(read_flood(item));
  const auto has_server = [&s](bool v4) {
    for (const auto& srv : s.servers)
      if (srv.address.is_v4() == v4) return true;
    return false;
  };
  if (s.users.ipv6_share > 0 && !has_server(false))
    throw ConfigError(origin + ".users.ipv6_share",
                      "expected 0: $.servers has no IPv6 server for IPv6 users");
  if (s.users.ipv6_share < 1 && !has_server(true))
    throw ConfigError(origin + ".users.ipv6_share",
                      "expected 1: $.servers has no IPv4 server for IPv4 users");
  for (size_t i = 0; i < s.floods.size(); ++i)
    if (!has_server(!s.floods[i].ipv6))
      throw ConfigError(fmt::format("{}.floods[{}].ipv6", origin, i),
                        fmt::format("no {} server in $.servers for this flood",
                                    s.floods[i].ipv6 ? "IPv6" : "IPv4"));
  for (size_t i = 0; i < s.floods.size(); ++i)
    if (s.floods[i].start_s >= s.duration_s)
      throw ConfigError(fmt::format("{}.floods[{}].start_s", origin, i),
                        fmt::format("expected a start before the end ({} s)", s.duration_s));
  return s;
}

Scenario load_scenario(const std::filesystem::path& file) {
  const auto document = read_json_file(file, "$");
  return parse_scenario(document.dump(), "$");
}

}  // namespace sipshield
