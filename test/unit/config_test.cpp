// Config validation: the defaults, the shipped files, and an error naming the JSON path and the
// expected form for each way a config can be wrong.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "dataplane/reload.hpp"
#include "generator/scenario.hpp"
#include "signatures/rules.hpp"
#include "support.hpp"

using namespace sipshield;

namespace {

const std::filesystem::path kDriversConfig = SIPSHIELD_SOURCE_DIR "/drivers-config";

// The error that parsing `text` raises, as "path: message".
std::string error_of(const std::string& text, const std::filesystem::path& base = {}) {
  return test::config_error([&] { parse_config_text(text, base); });
}

}  // namespace

TEST_CASE("an empty config is the documented default config", "[config]") {
  const Config built_in = parse_config_text("{}");
  const Config documented = load_config(kDriversConfig / "default.json");
  CHECK(to_json(documented) == to_json(built_in));
  CHECK(built_in.default_action == Action::pass);
  CHECK(built_in.workers == 1);
  CHECK(built_in.protected_services.empty());
  CHECK_FALSE(built_in.outside.has_value());
}

// The counts are what is shipped today: a folder emptied or moved fails here.
TEST_CASE("every shipped example config and port profile loads", "[config]") {
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kDriversConfig / "examples")) {
    INFO(entry.path());
    const Config c = load_config(entry.path());
    CHECK(c.outside.has_value());
    CHECK_FALSE(c.protected_services.empty());
    ++seen;
  }
  REQUIRE(seen >= 3);
  seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kDriversConfig / "ports")) {
    INFO(entry.path());
    const std::string text = R"({"ports": {"outside": {"device": "net_null0", "profile": ")" +
                             entry.path().string() + R"("}, "inside": {"device": "net_null1"}}})";
    CHECK_NOTHROW(parse_config_text(text));
    ++seen;
  }
  REQUIRE(seen >= 9);
}

TEST_CASE("every shipped scenario and rules file loads", "[config]") {
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kDriversConfig / "scenarios")) {
    INFO(entry.path());
    CHECK_FALSE(load_scenario(entry.path()).floods.empty());
    ++seen;
  }
  REQUIRE(seen >= 8);
  seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kDriversConfig / "signatures")) {
    INFO(entry.path());
    CHECK_FALSE(load_rules(entry.path()).empty());
    ++seen;
  }
  REQUIRE(seen >= 1);
}

TEST_CASE("a port profile fills what the port leaves out; the port's keys win", "[config]") {
  const Config c = parse_config_text(R"({"ports": {
      "outside": {"device": "0000:03:00.0", "profile": "ports/ixgbe.json", "mtu": 9000},
      "inside": {"device": "0000:03:00.1", "profile": "ports/ixgbe.json"}}})",
                                     kDriversConfig);
  CHECK(c.outside->rx_descriptors == 2048);  // from the profile
  CHECK(c.outside->mtu == 9000);             // the port's own
  CHECK(c.inside->mtu == 1500);
}

TEST_CASE("protected services: addresses, prefixes, ports, both families", "[config]") {
  const Config c = parse_config_text(R"({"protected": ["198.18.0.10:5060", "198.18.0.0/24",
      "[2001:db8::10]:5080", "2001:db8:1::/64", "[2001:db8:2::/48]:5060"]})");
  REQUIRE(c.protected_services.size() == 5);
  CHECK(c.protected_services[0].to_string() == "198.18.0.10:5060");
  CHECK(c.protected_services[1].to_string() == "198.18.0.0/24");
  CHECK(c.protected_services[2].to_string() == "[2001:db8::10]:5080");
  CHECK(c.protected_services[3].to_string() == "2001:db8:1::/64");
  CHECK(c.protected_services[4].to_string() == "[2001:db8:2::/48]:5060");
  CHECK(c.protected_services[1].prefix.contains(test::ip("198.18.0.77")));
  CHECK_FALSE(c.protected_services[1].prefix.contains(test::ip("198.18.1.77")));
  CHECK_FALSE(c.protected_services[1].prefix.contains(test::ip("::ffff:c612:100")));
  CHECK(c.protected_services[3].prefix.contains(test::ip("2001:db8:1::99")));
  CHECK_FALSE(c.protected_services[2].port == std::optional<uint16_t>(5060));
}

TEST_CASE("config errors name the JSON path and the expected form", "[config]") {
  using Catch::Matchers::Contains;
  using Catch::Matchers::StartsWith;
  CHECK_THAT(error_of("{"), StartsWith("$: not valid JSON"));
  CHECK_THAT(error_of("[]"), StartsWith("$: expected an object, got array"));
  CHECK_THAT(error_of(R"({"wokers": 2})"), StartsWith("$.wokers: unknown key (known here: eal,"));
  CHECK_THAT(error_of(R"({"workers": "2"})"),
             StartsWith("$.workers: expected an integer from 1 to 128, got string \"2\""));
  CHECK_THAT(error_of(R"({"workers": 0})"), StartsWith("$.workers: expected an integer from 1"));
  CHECK_THAT(error_of(R"({"workers": -3})"), StartsWith("$.workers: expected an integer"));
  CHECK_THAT(error_of(R"({"reassembly": {"timeout_ms": 0}})"),
             StartsWith("$.reassembly.timeout_ms: expected an integer from 1 to 60000"));
  CHECK_THAT(error_of(R"({"reassembly": {"max_fragments": 33}})"),
             StartsWith("$.reassembly.max_fragments: expected an integer from 2 to 32"));
  CHECK_THAT(error_of(R"({"reassembly": {"max_datagrams": 4, "max_per_source": 8}})"),
             StartsWith("$.reassembly.max_per_source: expected at most max_datagrams (4)"));
  CHECK_THAT(error_of(R"({"reassembly": {"max_held": 4, "max_fragments": 8}})"),
             StartsWith("$.reassembly.max_held: expected at least max_fragments (8)"));
  CHECK_THAT(error_of(R"({"protected": ["198.18.0.10:5060", "bogus"]})"),
             StartsWith("$.protected[1]: expected an address or prefix"));
  CHECK_THAT(error_of(R"({"protected": ["198.18.0.10:70000"]})"), StartsWith("$.protected[0]:"));
  CHECK_THAT(error_of(R"({"protected": ["198.18.0.0/33"]})"), StartsWith("$.protected[0]:"));
  CHECK_THAT(error_of(R"({"protected": ["198.18.0.10:5060", "198.18.0.10:5060"]})"),
             StartsWith("$.protected[1]: 198.18.0.10:5060 is listed twice"));
  CHECK_THAT(error_of(R"({"protected": "198.18.0.10"})"),
             StartsWith("$.protected: expected an array, got string"));
  CHECK_THAT(error_of(R"({"allow": ["198.18.100.0/24", "trunk-1"]})"),
             StartsWith("$.allow[1]: expected an address or prefix"));
  CHECK_THAT(error_of(R"({"policy": {"untrusted": {"publish": {"rate_per_s": 1}}}})"),
             StartsWith("$.policy.untrusted.publish: unknown key (known here: register,"));
  // Deadlines live on a wrapping 32-bit millisecond clock: no ban or memory beyond 20 days.
  CHECK_THAT(error_of(R"({"policy": {"demerits": {"ban_s": 2000000}}})"),
             StartsWith("$.policy.demerits.ban_s: expected an integer from 1 to 1728000"));
  CHECK_THAT(error_of(R"({"policy": {"demerits": {"threshold": 8, "demote": 9}}})"),
             StartsWith("$.policy.demerits.demote: expected 0 (never) or at most threshold (8)"));
  CHECK_THAT(error_of(R"({"policy": {"familiar": {"ipv4_length": 33}}})"),
             StartsWith("$.policy.familiar.ipv4_length: expected an integer from 8 to 32"));
  CHECK_THAT(error_of(R"({"policy": {"bots": {"fresh_ports": 256}}})"),
             StartsWith("$.policy.bots.fresh_ports: expected an integer from 0 to 255"));
  CHECK_THAT(error_of(R"({"policy": {"bots": {"budget": {"burst": 0}}}})"),
             StartsWith("$.policy.bots.budget.burst: expected an integer from 1 to 1000"));
  CHECK_THAT(error_of(R"({"policy": {"sources": {"probation": -1}}})"),
             StartsWith("$.policy.sources.probation: expected an integer from 0 to 67108864"));
  CHECK_THAT(error_of(R"({"policy": {"dialogs": {"grace_s": -1}}})"),
             StartsWith("$.policy.dialogs.grace_s: expected an integer from 0 to 86400"));
  CHECK_THAT(error_of(R"({"default_action": "reject"})"),
             StartsWith("$.default_action: expected \"pass\" or \"drop\""));
  CHECK_THAT(error_of(R"({"clock": 1})"), StartsWith("$.clock: expected \"auto\" or \"tsc\""));
  CHECK_THAT(error_of(R"({"mempool": {"mbufs": 100}})"),
             StartsWith("$.mempool.mbufs: expected 0 (automatic) or an integer"));
  CHECK_THAT(error_of(R"({"eal": {"args": ["-l", 1]}})"),
             StartsWith("$.eal.args[1]: expected a string, got number 1"));
}

TEST_CASE("a key given twice is refused at its path, in every kind of JSON file", "[config]") {
  using Catch::Matchers::Equals;
  using Catch::Matchers::StartsWith;
  CHECK_THAT(error_of(R"({"workers": 1, "workers": 4})"),
             Equals("$.workers: the key \"workers\" appears twice"));
  CHECK_THAT(error_of(R"({"policy": {"sources": {"max": 1, "max": 2}}})"),
             Equals("$.policy.sources.max: the key \"max\" appears twice"));
  CHECK_THAT(error_of(R"({"eal": {"args": []}, "protected": [[], {"a": 1, "b": {}, "a": 2}]})"),
             Equals("$.protected[1].a: the key \"a\" appears twice"));
  // Equal keys in different objects, and an object after an array, are fine.
  CHECK_NOTHROW(parse_config_text(R"({"reassembly": {"timeout_ms": 5}, "sip": {"max_headers": 64},
                                      "eal": {"args": ["-l", "0"]}, "workers": 1})"));

  const auto dir = std::filesystem::temp_directory_path() /
                   ("sipshield-config-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "twice.json") << "{\"mtu\": 1500,\n \"rss\": {}, \"mtu\": 9000}\n";
  const std::string profile_error = error_of(
      R"({"ports": {"outside": {"device": "a", "profile": "twice.json"}, "inside": {"device": "b"}}})",
      dir);
  std::filesystem::remove_all(dir);
  CHECK_THAT(profile_error, Equals("$.ports.outside.profile (" + (dir / "twice.json").string() +
                                   ").mtu: the key \"mtu\" appears twice"));

  const auto scenario_error = [](const std::string& text) {
    try {
      parse_scenario(text);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  CHECK_THAT(scenario_error(R"({"floods": [{"kind": "scanner", "rate_pps": 1, "rate_pps": 2}]})"),
             Equals("$.floods[0].rate_pps: the key \"rate_pps\" appears twice"));
  CHECK_THROWS_WITH(parse_rules(R"({"rules": [{"id": "a", "id": "b"}]})"),
                    StartsWith("$.rules[0].id: the key \"id\" appears twice"));
}

TEST_CASE("JSON syntax errors give line and column in words", "[config]") {
  using Catch::Matchers::Contains;
  using Catch::Matchers::StartsWith;
  const std::string error = error_of("{\n  \"workers\": 1,\n    oops\n}");
  CHECK_THAT(error, StartsWith("$: not valid JSON at line 3, column 5: syntax error"));
  CHECK_THAT(error, !Contains("json.exception"));
  CHECK_THAT(error_of("{"), !Contains("[json."));
}

TEST_CASE("a port out of range says so", "[config]") {
  using Catch::Matchers::Equals;
  using Catch::Matchers::StartsWith;
  CHECK_THAT(error_of(R"({"protected": ["198.18.0.10:70000"]})"),
             Equals("$.protected[0]: port 70000 is out of range (1-65535) in "
                    "\"198.18.0.10:70000\""));
  CHECK_THAT(error_of(R"({"protected": ["198.18.0.10:5060", "[2001:db8::10]:0"]})"),
             StartsWith("$.protected[1]: port 0 is out of range (1-65535)"));
  CHECK_THAT(error_of(R"({"protected": ["198.18.0.0/24:65536"]})"),
             StartsWith("$.protected[0]: port 65536 is out of range"));
  // Not a port: IPv6 digits after the last colon, or a bad address with a good port.
  CHECK_THAT(error_of(R"({"protected": ["2001:db8::1:70000"]})"),
             StartsWith("$.protected[0]: expected an address or prefix"));
  CHECK_THAT(error_of(R"({"protected": ["198.18.0.300:5060"]})"),
             StartsWith("$.protected[0]: expected an address or prefix"));
}

TEST_CASE("port errors name the port", "[config]") {
  using Catch::Matchers::StartsWith;
  CHECK_THAT(error_of(R"({"ports": {"outside": {"device": "net_null0"}}})"),
             StartsWith("$.ports: expected both \"outside\" and \"inside\""));
  CHECK_THAT(error_of(R"({"ports": {"outside": {"device": "x"}, "inside": {"device": "x"}}})"),
             StartsWith("$.ports.inside.device: the same device"));
  CHECK_THAT(error_of(R"({"ports": {"outside": {}, "inside": {"device": "x"}}})"),
             StartsWith("$.ports.outside.device: required"));
  CHECK_THAT(
      error_of(R"({"ports": {"outside": {"device": "a", "mtu": 100}, "inside": {"device": "b"}}})"),
      StartsWith("$.ports.outside.mtu: expected an integer from 576 to 9600"));
  CHECK_THAT(error_of(R"({"ports": {"outside": {"device": "a", "rss": {"types": ["ipv5"]}},
                                    "inside": {"device": "b"}}})"),
             StartsWith("$.ports.outside.rss.types[0]: expected one of ipv4,"));
  CHECK_THAT(
      error_of(R"({"ports": {"outside": {"device": "a", "rss": {"types": ["nonfrag_ipv4_udp"]}},
                                    "inside": {"device": "b"}}})"),
      StartsWith("$.ports.outside.rss.types: \"nonfrag_ipv4_udp\" hashes UDP ports"));
  CHECK_THAT(error_of(R"({"ports": {"outside": {"device": "a", "offloads": {"rx": ["lro"]}},
                                    "inside": {"device": "b"}}})"),
             StartsWith("$.ports.outside.offloads.rx[0]: expected one of ipv4_cksum"));
  CHECK_THAT(error_of(R"({"ports": {"outside": {"device": "a", "profile": "nope.json"},
                                    "inside": {"device": "b"}}})",
                      "/nonexistent"),
             StartsWith("$.ports.outside.profile: cannot open /nonexistent/nope.json"));
}

TEST_CASE("a reload names the settings that wait for a restart", "[config][reload]") {
  const Config running = parse_config_text(R"({"workers": 1, "deny": ["198.18.9.0/24"]})");
  // A reload applies rules, prefixes, SIP limits, policy, protected services, operations...
  CHECK(settings_needing_restart(running,
                                 parse_config_text(R"({"workers": 1, "signatures": {"rules": "none",
                                           "sample_trusted": 8}, "sip": {"max_headers": 64},
                                           "protected": ["198.18.0.10:5060"],
                                           "policy": {"untrusted": {"options": {"rate_per_s": 9}}},
                                           "syslog": {"enabled": true}, "stats_interval_s": 2,
                                           "allow": ["198.18.7.0/24"]})"))
            .empty());
  // ...but not what the ports, the lcores and the pool were set up with.
  CHECK(settings_needing_restart(running, parse_config_text(R"({"workers": 2, "clock": "tsc",
                                           "control": {"socket": "/run/other.sock"},
                                           "mempool": {"cache": 128}})")) ==
        std::vector<std::string>{"workers", "mempool", "clock", "control"});
}

TEST_CASE("what a reload puts in force keeps the restart-only settings", "[config][reload]") {
  const Config running = parse_config_text(R"({"workers": 1, "clock": "tsc"})");
  Config next = parse_config_text(R"({"workers": 2, "clock": "packet", "mempool": {"cache": 64},
                                      "control": {"socket": ""}, "stats_interval_s": 3})");
  keep_restart_settings(next, running);
  CHECK(settings_needing_restart(running, next).empty());
  CHECK(next.workers == 1);
  CHECK(next.clock == ClockSource::tsc);
  CHECK(next.stats_interval_s == 3);  // the rest is the new config's
}

TEST_CASE("a reload that would resize a table is refused, naming the path", "[config][reload]") {
  const Config running = parse_config_text(R"({"policy": {"probe": {"mode": "never"}}})");
  CHECK(reload_refusals(running, parse_config_text(R"({"policy": {"probe": {"mode": "never"},
                                   "sources": {"idle_s": 60}, "dialogs": {"dialog_s": 600}}})"))
            .empty());
  CHECK(reload_refusals(running, parse_config_text(R"({"policy": {"probe": {"mode": "pressure"},
                                  "sources": {"max": 1024}}, "reassembly": {"max_held": 4096}})")) ==
        std::vector<std::string>{
            "$.policy.sources.max: 65536 to 1024 resizes a table allocated at start (restart to "
            "resize)",
            "$.reassembly.max_held: 16384 to 4096 resizes a table allocated at start (restart to "
            "resize)",
            "$.policy.probe.mode: from \"never\" needs a restart (the table of verified sources "
            "is allocated at start only when probes are on)"});
}
