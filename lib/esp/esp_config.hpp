// The esp section of the config (docs/configuration.md): ESP to the protected addresses, checked
// against the SAs the sec-agree exchange announces, with keys from a file when the operator
// gives them. Off by default: with it on, every ESP packet to a protected address needs an SA.
#pragma once

#include <cstdint>
#include <string>

namespace sipshield {

struct EspConfig {
  bool enabled = false;
  uint32_t replay_window = 64;  // RFC 4303 anti-replay window, 64 to 256, a multiple of 64
  uint32_t max_sas = 65536;     // per worker
  uint32_t idle_s = 3600;       // an SA learned from sec-agree and unused this long is deleted
  std::string keys_file;        // "": no keys, no ICV checks
};

}  // namespace sipshield
