// The part of the configuration that the per-burst pipeline reads. Config (lib/config) extends
// it with ports, EAL and file names, so the pipeline depends on the settings it uses and not on
// the JSON layer above it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip_address.hpp"
#include "core/reasons.hpp"
#include "esp/esp_config.hpp"
#include "packet/reassembly.hpp"
#include "policy/mitigation.hpp"
#include "sip/message.hpp"

namespace sipshield {

// A protected UDP SIP service: address or prefix, and a port (nullopt: any port).
struct ServiceMatch {
  IpPrefix prefix;
  std::optional<uint16_t> port;

  // "198.18.0.10", "198.18.0.10:5060", "198.18.0.0/24:5060", "2001:db8::10",
  // "[2001:db8::10]:5060", "[2001:db8::/64]:5060". Fails with `why` set when the form is right
  // but the port is out of range; with `why` empty when the form itself is wrong (kForms).
  static std::optional<ServiceMatch> parse(std::string_view text, std::string* why = nullptr);
  static constexpr const char* kForms =
      "an address or prefix with an optional port: 198.18.0.10:5060, 198.18.0.0/24, "
      "[2001:db8::10]:5060, 2001:db8::/64";
  std::string to_string() const;
};

// The most protected services a config may list (each costs a linear match per frame); the
// daemon's budget shares are sized for this many, so a reload may change how many there are.
inline constexpr size_t kMaxProtectedServices = 64;

struct PipelineSettings {
  std::vector<ServiceMatch> protected_services;
  Action default_action = Action::pass;
  ReassemblyLimits reassembly;
  SipLimits sip;
  PolicyConfig policy;
  // One message in this many from trusted sources is scanned too (0: never): a registered
  // phone taken over by a scanner still meets the rules, at a small share of the scan's cost.
  uint32_t signature_sample_trusted = 64;
  EspConfig esp;
};

}  // namespace sipshield
