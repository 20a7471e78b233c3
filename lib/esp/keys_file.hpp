// The operator's ESP keys (esp.keys_file): the SAs the P-CSCF holds, with their authentication
// keys, exported from it (for example from its xfrm states). Read at start; each key is turned
// into HMAC states at once and its bytes wiped; no error message shows a key's value.
//
//   {"sas": [{"destination": "198.18.0.10", "spi": 3001, "source": "198.18.5.1",
//             "auth": "hmac-sha-1-96", "auth_key": "<hex>", "encryption": "null"}]}
#pragma once

#include <string>
#include <vector>

#include "core/ip_address.hpp"
#include "esp/esp_config.hpp"
#include "esp/icv.hpp"
#include "esp/sa_table.hpp"

namespace sipshield {

struct EspKeyedSa {
  IpAddress destination;  // the P-CSCF
  uint32_t spi = 0;
  IpAddress source;  // the UE
  EspEncryption encryption = EspEncryption::null;
  AuthKey key;
};

// Throws ConfigError naming the file and the JSON path of what is wrong.
std::vector<EspKeyedSa> read_esp_keys(const std::string& path, const IcvVerifier& verifier);

// Wipes every key of `sas` (when the list is dropped).
void wipe(std::vector<EspKeyedSa>& sas);

// The keyed SAs of esp.keys_file, wiped when dropped. Empty when ESP is off or has no keys file.
class EspKeys {
 public:
  explicit EspKeys(const EspConfig& esp);
  ~EspKeys() { wipe(sas_); }
  EspKeys(const EspKeys&) = delete;
  EspKeys& operator=(const EspKeys&) = delete;
  const std::vector<EspKeyedSa>* sas() const { return &sas_; }

 private:
  std::vector<EspKeyedSa> sas_;
};

}  // namespace sipshield
