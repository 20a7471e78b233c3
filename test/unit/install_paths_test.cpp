// Installed layout: a relative `profile` or `signatures.rules` not found beside the config comes
// from the installed data dir (drivers-config/meson.build), so /etc/sipshield needs no paths.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <unistd.h>

#include "config/config.hpp"
#include "support.hpp"

using namespace sipshield;

namespace {

const std::filesystem::path kDriversConfig = SIPSHIELD_SOURCE_DIR "/drivers-config";

// Sets (or, with nullopt, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A fresh directory standing in for /etc/sipshield, removed at the end of the scope.
struct ConfigDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("sipshield-install-paths-" + std::to_string(::getpid()));
  ConfigDir() {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ConfigDir() { std::filesystem::remove_all(path); }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    const auto file = path / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }
};

constexpr const char* kInstalledStyle = R"({
  "ports": {"outside": {"device": "net_null0", "profile": "ports/null.json"},
            "inside": {"device": "net_null1", "profile": "ports/null.json"}},
  "signatures": {"rules": "signatures/default.json"}})";

std::string load_error(const std::filesystem::path& file) {
  return test::config_error([&] { load_config(file); });
}

}  // namespace

TEST_CASE("profiles and rules not beside the config come from the data dir", "[config][install]") {
  const ScopedEnv env("SIPSHIELD_DATADIR", kDriversConfig.string());
  const ConfigDir etc;
  const Config c = load_config(etc.write("sipshield.json", kInstalledStyle));
  REQUIRE(c.outside.has_value());
  CHECK_FALSE(c.outside->rss.enabled);  // from ports/null.json
  CHECK_FALSE(c.inside->rss.enabled);
  CHECK(c.signatures == "signatures/default.json");
  CHECK(c.signature_rules.size() == parse_config_text("{}").signature_rules.size());
}

TEST_CASE("a file beside the config wins over the data dir", "[config][install]") {
  const ScopedEnv env("SIPSHIELD_DATADIR", kDriversConfig.string());
  const ConfigDir etc;
  etc.write("ports/null.json", R"({"mtu": 9000})");
  const Config c = load_config(etc.write("sipshield.json", kInstalledStyle));
  CHECK(c.outside->mtu == 9000);
  CHECK(c.outside->rss.enabled);  // the local profile does not say, so the default
}

TEST_CASE("a file in neither place: the JSON path and both places looked", "[config][install]") {
  const ConfigDir etc;
  SECTION("the data dir from the environment") {
    const ScopedEnv env("SIPSHIELD_DATADIR", kDriversConfig.string());
    const auto file = etc.write("a.json", R"({"ports": {
        "outside": {"device": "net_null0", "profile": "ports/nope.json"},
        "inside": {"device": "net_null1"}}})");
    CHECK(load_error(file) == "$.ports.outside.profile: cannot open " +
                                  (etc.path / "ports/nope.json").string() + " (nor " +
                                  (kDriversConfig / "ports/nope.json").string() + ")");
  }
  SECTION("the built-in data dir: where meson installs the data") {
    const ScopedEnv env("SIPSHIELD_DATADIR", std::nullopt);
    const auto file = etc.write("b.json", R"({"signatures": {"rules": "signatures/nope.json"}})");
    const auto beside = (etc.path / "signatures/nope.json").string();
    CHECK(load_error(file) == "$.signatures.rules: " + beside + ": $: cannot open " + beside +
                                  " (nor " SIPSHIELD_DATADIR "/signatures/nope.json)");
  }
}

TEST_CASE("an absolute path is taken as it is", "[config][install]") {
  const ScopedEnv env("SIPSHIELD_DATADIR", kDriversConfig.string());
  const ConfigDir etc;
  const auto file = etc.write(
      "c.json", R"({"signatures": {"rules": ")" + (etc.path / "none.json").string() + R"("}})");
  CHECK_THAT(load_error(file),
             Catch::StartsWith("$.signatures.rules: " + (etc.path / "none.json").string() + ": "));
}
