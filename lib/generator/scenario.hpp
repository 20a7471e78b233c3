// Generator scenarios: a population of legitimate users and any number of floods, in JSON
// (docs/generator.md). Validated like the daemon's config: errors name the JSON path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "packet/builder.hpp"

namespace sipshield {

// X(name): every flood kind the generator makes; its frames are labelled atk_<name>.
#define SIPSHIELD_FLOOD_KINDS(X) \
  X(register_flood)              \
  X(invite_flood)                \
  X(options_flood)               \
  X(scanner)                     \
  X(malformed)                   \
  X(orphan)                      \
  X(unsolicited_response)        \
  X(first_fragment)              \
  X(non_sip)                     \
  X(bruteforce)

enum class FloodKind : uint8_t {
#define SIPSHIELD_FLOOD_ENUM(name) name,
  SIPSHIELD_FLOOD_KINDS(SIPSHIELD_FLOOD_ENUM)
#undef SIPSHIELD_FLOOD_ENUM
};

std::string_view flood_kind_name(FloodKind kind);

struct FloodSpec {
  FloodKind kind = FloodKind::register_flood;
  double start_s = 0;
  double duration_s = 10;
  double rate_pps = 100;
  uint32_t sources = 1;           // distinct source addresses (1: single source; more: a botnet)
  bool spoofed = false;           // a fresh random source address and port for every packet
  bool rotate_ports = false;      // real sources, each packet from a new random source port
  IpPrefix source_prefix;         // where attackers' addresses come from
  std::string style = "default";  // scanner: svmap | svwar | svcrack | compact | invite
  bool ipv6 = false;
};

struct UsersSpec {
  uint32_t count = 100;
  IpPrefix ipv4_prefix = *IpPrefix::parse("198.18.16.0/20");
  IpPrefix ipv6_prefix = *IpPrefix::parse("2001:db8:16::/64");
  double ipv6_share = 0.2;
  double nat_share = 0.3;  // users behind a shared address (up to 4 per address)
  uint32_t register_expires_s = 600;
  double keepalive_interval_s = 30;
  double calls_per_user_per_hour = 20;
  double call_duration_s = 20;
  double large_sdp_share = 0.3;  // INVITEs whose SDP makes them fragment
  double compact_share = 0.2;    // users whose stack writes compact header forms
  double loss = 0.01;            // responses lost, so the client retransmits (RFC 3261 timer A)
  double server_ping_interval_s = 60;
  double warmup_s = 5;      // everyone registers within this window at the start
  uint32_t newcomers = 10;  // users whose first registration falls during the floods
};

struct Scenario {
  std::string description;
  uint64_t seed = 1;
  double duration_s = 30;
  uint64_t epoch_s = 1767225600;  // 2026-01-01T00:00:00Z: the capture's first timestamp
  std::string domain = "example.test";
  std::vector<Endpoint> servers{{*IpAddress::parse("198.18.0.10"), 5060},
                                {*IpAddress::parse("2001:db8::10"), 5060}};
  uint16_t mtu = 1500;
  UsersSpec users;
  std::vector<FloodSpec> floods;
};

Scenario parse_scenario(std::string_view json_text, const std::string& origin = "$");
Scenario load_scenario(const std::filesystem::path& file);

// The scenario the demo and `sipshield-gen` without --scenario use: the text of
// drivers-config/scenarios/demo.json, embedded at build time.
std::string_view builtin_scenario_text();

}  // namespace sipshield
