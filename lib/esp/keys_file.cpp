#include "esp/keys_file.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/json_reader.hpp"

namespace sipshield {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The key's bytes; the error never repeats the value.
std::vector<uint8_t> key_bytes(const Node& n) {
  const auto& v = n.value();
  const auto refuse = [&] {
    throw ConfigError(n.path(), fmt::format("expected the key as 2 to {} hex digits, an even "
                                            "count (the value is not shown)",
                                            2 * IcvVerifier::kMaxKeyBytes));
  };
  if (!v.is_string()) refuse();
  const auto& hex = v.get_ref<const std::string&>();
  if (hex.empty() || hex.size() % 2 || hex.size() > 2 * IcvVerifier::kMaxKeyBytes) refuse();
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      explicit_bzero(out.data(), out.size());
      refuse();
    }
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

IpAddress address(const Node& n) {
  const auto a = IpAddress::parse(n.string());
  if (!a) n.fail("an IPv4 or IPv6 address");
  return *a;
}

// Every string in the document zeroed before it is freed: the hex keys with the rest.
void wipe_strings(nlohmann::json& j) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    explicit_bzero(s.data(), s.size());
  } else if (j.is_structured()) {
    for (auto& item : j) wipe_strings(item);
  }
}

}  // namespace

std::vector<EspKeyedSa> read_esp_keys(const std::string& path, const IcvVerifier& verifier) {
  const std::string where = "$.esp.keys_file";
  std::ifstream in(path);
  if (!in) throw ConfigError(where, fmt::format("cannot open {}", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  explicit_bzero(text.data(), text.size());
  if (doc.is_discarded())
    throw ConfigError(where, fmt::format("{}: not valid JSON (the content is not shown)", path));
  std::vector<EspKeyedSa> out;
  try {
    const Node root(doc, fmt::format("{}: $", path));
    root.object({"sas", "description"});
    const auto sas = root.find("sas");
    if (!sas) throw ConfigError(root.path(), "expected an object with \"sas\", a list of SAs");
    const auto items = sas->array();
    out.reserve(items.size());
    for (const Node& n : items) {
      n.object({"destination", "spi", "source", "auth", "auth_key", "encryption", "description"});
      EspKeyedSa sa;
      for (const char* required : {"destination", "spi", "source", "auth", "auth_key"})
        if (!n.find(required)) throw ConfigError(n.path() + "." + required, "missing");
      sa.destination = address(*n.find("destination"));
      sa.spi = static_cast<uint32_t>(n.find("spi")->integer(256, UINT32_MAX));  // 1-255: IANA
      sa.source = address(*n.find("source"));
      const Node auth = *n.find("auth");
      const auto algorithm = auth_algorithm_from_name(auth.string());
      if (!algorithm) auth.fail("\"hmac-sha-1-96\", \"hmac-md5-96\" or \"hmac-sha-256-128\"");
      if (const auto e = n.find("encryption")) {
        const std::string name = e->choice({"null", "aes-cbc"});
        sa.encryption = name == "null" ? EspEncryption::null : EspEncryption::aes_cbc;
      }
      std::vector<uint8_t> raw = key_bytes(*n.find("auth_key"));
      auto key = verifier.prepare(*algorithm, raw);
      explicit_bzero(raw.data(), raw.size());
      if (!key) throw ConfigError(n.path() + ".auth_key", "the key was refused");
      sa.key = *key;
      key->wipe();
      out.push_back(sa);  // into room reserved up front: no copy left behind by a reallocation
      sa.key.wipe();
    }
  } catch (...) {
    wipe(out);
    wipe_strings(doc);
    throw;
  }
  wipe_strings(doc);
  return out;
}

void wipe(std::vector<EspKeyedSa>& sas) {
  for (auto& sa : sas) sa.key.wipe();
}

EspKeys::EspKeys(const EspConfig& esp) {
  if (!esp.enabled || esp.keys_file.empty()) return;
  const IcvVerifier verifier;
  sas_ = read_esp_keys(esp.keys_file, verifier);
}

}  // namespace sipshield
