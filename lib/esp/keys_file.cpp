#include "esp/keys_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>

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

// A key taken out of the file's text before the JSON parser sees it (the parser's own buffers
// are freed without being wiped): its bytes, or why they are unusable.
struct KeyBytes {
  std::array<uint8_t, IcvVerifier::kMaxKeyBytes> bytes{};
  size_t size = 0;
  bool valid = false;
  void wipe() {
    explicit_bzero(bytes.data(), bytes.size());
    size = 0;
  }
};

// Every `"auth_key": "..."` string in `text` is decoded into `keys` and replaced in place by a
// reference ("@k<index>" padded with spaces inside the quotes' room, which the JSON walk below
// resolves), so the hex never reaches the parser. Non-string values are left for the walk to
// refuse.
void take_keys(std::string& text, std::vector<KeyBytes>& keys) {
  constexpr std::string_view kName = "\"auth_key\"";
  for (size_t at = text.find(kName); at != std::string::npos; at = text.find(kName, at + 1)) {
    size_t i = at + kName.size();
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size() || text[i] != ':') continue;
    ++i;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size() || text[i] != '"') continue;
    const size_t from = i + 1, to = text.find('"', from);
    if (to == std::string::npos) return;  // the parser reports the broken string
    KeyBytes key;
    const size_t digits = to - from;
    key.valid = digits > 0 && digits % 2 == 0 && digits <= 2 * IcvVerifier::kMaxKeyBytes;
    for (size_t d = 0; key.valid && d < digits; d += 2) {
      const int hi = hex_value(text[from + d]), lo = hex_value(text[from + d + 1]);
      key.valid = hi >= 0 && lo >= 0;
      if (key.valid) key.bytes[key.size++] = static_cast<uint8_t>(hi << 4 | lo);
    }
    if (!key.valid) key.wipe();
    const std::string ref = fmt::format("@k{}", keys.size());
    keys.push_back(key);
    key.wipe();
    // The reference, then spaces over the rest of the old value (a string of at least the
    // reference's length keeps the text's length; a shorter one is replaced outright).
    if (digits >= ref.size()) {
      std::memcpy(&text[from], ref.data(), ref.size());
      std::memset(&text[from + ref.size()], ' ', digits - ref.size());
    } else {
      explicit_bzero(&text[from], digits);
      text.replace(from, digits, ref);
    }
  }
}

// The key a walked "auth_key" value refers to; the error never repeats the value.
const KeyBytes& key_of(const Node& n, const std::vector<KeyBytes>& keys) {
  const auto refuse = [&] {
    throw ConfigError(n.path(), fmt::format("expected the key as 2 to {} hex digits, an even "
                                            "count (the value is not shown)",
                                            2 * IcvVerifier::kMaxKeyBytes));
  };
  const auto& v = n.value();
  if (!v.is_string()) refuse();
  const auto& ref = v.get_ref<const std::string&>();
  size_t index = 0;
  if (ref.size() < 3 || ref.compare(0, 2, "@k") != 0) refuse();
  for (size_t i = 2; i < ref.size() && ref[i] != ' '; ++i) {
    if (ref[i] < '0' || ref[i] > '9') refuse();
    index = index * 10 + static_cast<size_t>(ref[i] - '0');
  }
  if (index >= keys.size() || !keys[index].valid) refuse();
  return keys[index];
}

IpAddress address(const Node& n) {
  const auto a = IpAddress::parse(n.string());
  if (!a) n.fail("an IPv4 or IPv6 address");
  return *a;
}

// The file's bytes, read without stream buffers (they would keep a copy).
std::string read_secret_file(const std::string& path, const std::string& where) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw ConfigError(where, fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size > (1 << 24)) {
    ::close(fd);
    throw ConfigError(where, fmt::format("{}: not a readable file of at most 16 MiB", path));
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  return text;
}

}  // namespace

std::vector<EspKeyedSa> read_esp_keys(const std::string& path, const IcvVerifier& verifier) {
  const std::string where = "$.esp.keys_file";
  std::string text = read_secret_file(path, where);
  std::vector<KeyBytes> keys;
  // Room for every "auth_key" the text can hold: no reallocation leaves a copy behind.
  keys.reserve(text.size() / 10 + 1);
  take_keys(text, keys);
  const auto wipe_keys = [&] {
    for (auto& k : keys) k.wipe();
  };
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    wipe_keys();
    throw ConfigError(where, fmt::format("{}: not valid JSON (the content is not shown)", path));
  }
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
      const KeyBytes& raw = key_of(*n.find("auth_key"), keys);
      auto key = verifier.prepare(*algorithm, std::span(raw.bytes.data(), raw.size));
      if (!key) throw ConfigError(n.path() + ".auth_key", "the key was refused");
      sa.key = *key;
      key->wipe();
      out.push_back(sa);  // into room reserved up front: no copy left behind by a reallocation
      sa.key.wipe();
    }
  } catch (...) {
    wipe(out);
    wipe_keys();
    throw;
  }
  wipe_keys();
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
