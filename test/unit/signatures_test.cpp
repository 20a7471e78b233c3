// Signature rules: their format and errors, scopes, actions, and the default rule set against
// the tools it names.
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "signatures/engine.hpp"
#include "signatures/rules.hpp"
#include "support.hpp"

using namespace sipshield;

namespace {

std::string request(const std::string& extra_headers, const std::string& body = "",
                    const std::string& from = "<sip:1001@example.test>;tag=a") {
  return "OPTIONS sip:1001@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.1.1;branch=z9hG4bK77\r\n"
         "From: " +
         from +
         "\r\nTo: <sip:1001@example.test>\r\nCall-ID: x@198.18.1.1\r\n"
         "CSeq: 1 OPTIONS\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct Scan {
  SignatureDatabase db;
  SignatureScanner scanner{db};
  explicit Scan(std::vector<Rule> rules) : db(std::move(rules)) {}
  // The id of the rule that decided or was hit, "" for none; "!" prefix when decisive.
  std::string operator()(const std::string& text) {
    SipMessage m;
    REQUIRE(tokenize(text, m).ok);
    const auto hit = scanner.scan(text, m);
    if (hit.rule == kNoRule) return "";
    return (hit.decisive ? "!" : "") + db.rules()[hit.rule].id;
  }
};

std::string error_of(const std::string& text) {
  return test::config_error([&] { parse_rules(text); });
}

}  // namespace

TEST_CASE("rule files are validated with JSON paths", "[signatures]") {
  using Catch::Matchers::StartsWith;
  CHECK_THAT(
      error_of(
          R"({"rules": [{"id": "a", "pattern": "x(", "scope": "message", "action": "drop"}]})"),
      StartsWith("$.rules[0].pattern: Hyperscan refuses it"));
  CHECK_THAT(
      error_of(R"({"rules": [{"id": "a", "pattern": "x", "scope": "head", "action": "drop"}]})"),
      StartsWith("$.rules[0].scope: expected \"start_line\", \"header:NAME\""));
  CHECK_THAT(
      error_of(R"({"rules": [{"id": "a", "pattern": "x", "scope": "body", "action": "kill"}]})"),
      StartsWith("$.rules[0].action: expected \"drop\" or \"count\""));
  CHECK_THAT(
      error_of(
          R"({"rules": [{"id": "a", "pattern": "x", "scope": "body", "action": {"ban_seconds": 0}}]})"),
      StartsWith("$.rules[0].action.ban_seconds: expected an integer from 1"));
  CHECK_THAT(error_of(R"({"rules": [{"pattern": "x", "scope": "body", "action": "drop"}]})"),
             StartsWith("$.rules[0].id: required"));
  CHECK_THAT(error_of(R"({"rules": [{"id": "a", "pattern": "x", "scope": "body", "action": "drop"},
                                    {"id": "a", "pattern": "y", "scope": "body", "action": "drop"}]})"),
             StartsWith("$.rules[1].id: \"a\" is used twice"));
  CHECK_THAT(
      error_of(
          R"({"rules": [{"id": "a", "pattern": "x", "flags": ["fast"], "scope": "body", "action": "drop"}]})"),
      StartsWith("$.rules[0].flags[0]: expected \"caseless\" or"));
}

TEST_CASE("a match counts only inside its rule's scope", "[signatures]") {
  Scan scan(parse_rules(R"({"rules": [
    {"id": "ua", "pattern": "evilbot", "flags": ["caseless"], "scope": "header:User-Agent", "action": "drop"},
    {"id": "body", "pattern": "^s=evil", "flags": ["multiline"], "scope": "body", "action": "drop"},
    {"id": "line", "pattern": "sip:1001@", "scope": "start_line", "action": "count"}]})"));
  CHECK(scan(request("User-Agent: EvilBot/1.0\r\n")) == "!ua");
  CHECK(scan(request("X-Note: evilbot mentioned elsewhere\r\n")) == "line");  // not the UA header
  CHECK(scan(request("", "v=0\r\ns=evil\r\n")) == "!body");
  CHECK(scan(request("Subject: s=evil\r\n")) == "line");  // not in the body
  CHECK(scan(request("User-Agent: ok\r\n  and evilbot on a folded line\r\n")) == "!ua");
}

TEST_CASE("compact header names count as their long form", "[signatures]") {
  Scan scan(parse_rules(R"({"rules": [
    {"id": "from", "pattern": "@1\\.1\\.1\\.1", "scope": "header:From", "action": "drop"}]})"));
  std::string text = request("", "", "<sip:100@1.1.1.1>;tag=1");
  CHECK(scan(text) == "!from");
  text.replace(text.find("From:"), 5, "f:");
  CHECK(scan(text) == "!from");
  CHECK(scan(request("Contact: <sip:100@1.1.1.1>\r\n")) == "");
}

TEST_CASE("a decisive rule wins over a count rule hit earlier", "[signatures]") {
  Scan scan(parse_rules(R"({"rules": [
    {"id": "note", "pattern": "OPTIONS", "scope": "start_line", "action": "count"},
    {"id": "kill", "pattern": "friendly", "scope": "header:User-Agent", "action": {"ban_seconds": 60}}]})"));
  CHECK(scan(request("User-Agent: friendly-scanner\r\n")) == "!kill");
  CHECK(scan(request("User-Agent: friendly\r\n")) == "!kill");
  CHECK(scan(request("")) == "note");
  CHECK(scan.scanner.hits()[0] == 3);
  CHECK(scan.scanner.hits()[1] == 2);
}

TEST_CASE("a scan stops at the deciding rule unless asked for every rule", "[signatures]") {
  const auto rules = parse_rules(R"({"rules": [
    {"id": "ban-ua", "pattern": "friendly", "scope": "header:User-Agent", "action": {"ban_seconds": 60}},
    {"id": "drop-ua", "pattern": "scanner", "scope": "header:User-Agent", "action": "drop"},
    {"id": "note-body", "pattern": "probe", "scope": "body", "action": "count"}]})");
  const std::string text = request("User-Agent: friendly-scanner\r\n", "probe");
  SipMessage m;
  REQUIRE(tokenize(text, m).ok);
  const SignatureDatabase db(rules);
  SignatureScanner pipeline(db), inspect(db);
  const auto first = pipeline.scan(text, m);
  const auto every = inspect.scan(text, m, /*every_rule=*/true);
  // The same decision; the pipeline stopped there, the full scan went on through the body.
  CHECK(db.rules()[first.rule].id == "ban-ua");
  CHECK((first.rule == every.rule && first.decisive && every.decisive));
  CHECK(pipeline.hits() == std::vector<uint64_t>{1, 0, 0});
  CHECK(inspect.hits() == std::vector<uint64_t>{1, 1, 1});
}

TEST_CASE("a rule that matches twice in one message counts one hit", "[signatures]") {
  Scan scan(parse_rules(R"({"rules": [
    {"id": "opt", "pattern": "OPTIONS", "scope": "message", "action": "count"}]})"));
  CHECK(scan(request("")) == "opt");  // the start line and the CSeq both say OPTIONS
  CHECK(scan.scanner.hits()[0] == 1);
  CHECK(scan(request("")) == "opt");
  CHECK(scan.scanner.hits()[0] == 2);
}

TEST_CASE("the default rule set catches the tools it names, and no ordinary phone",
          "[signatures]") {
  Scan scan(parse_rules(builtin_rules_text()));
  const auto sv = [](const std::string& ua, const std::string& from) {
    return "OPTIONS sip:100@198.18.0.10 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 198.18.66.6:5060;branch=z9hG4bK-2394032934;rport\r\n"
           "Max-Forwards: 70\r\nFrom: \"100\"<" +
           from +
           ">;tag=6434396633623535\r\n"
           "To: \"100\"<sip:100@1.1.1.1>\r\n" +
           ua +
           "Call-ID: 679431883\r\nContact: sip:123@1.1.1.1\r\n"
           "CSeq: 1 OPTIONS\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n";
  };
  CHECK(scan(sv("User-Agent: friendly-scanner\r\n", "sip:100@1.1.1.1"))[0] == '!');
  CHECK(scan(sv("", "sip:100@1.1.1.1"))[0] == '!');  // compact mode: no User-Agent
  for (const char* ua :
       {"sipcli/v1.8", "sipsak 0.9.6", "VaxSIPUserAgent/3.1", "pplsip", "sundayddr", "iWar",
        "SIPScan", "smap", "friendly-request", "Mr.SIP", "SIPp-DD"}) {
    INFO(ua);
    CHECK(scan(request("User-Agent: " + std::string(ua) + "\r\n"))[0] == '!');
  }
  CHECK(scan(request("", "", "<sip:nm@nm>;tag=1"))[0] == '!');
  CHECK(
      scan("INVITE sip:1001'%20or%201=1--@example.test SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 198.18.1.1;branch=z9hG4bK1\r\nFrom: <sip:a@example.test>;tag=1\r\n"
           "To: <sip:b@example.test>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
          [0] == '!');
  CHECK(scan(request("", "", "<sip:$(reboot)@example.test>;tag=1"))[0] == '!');
  CHECK(scan(request("", "v=0\r\no=- 1 1 IN IP4 198.18.1.1\r\ns=friendly-scanner\r\n"))[0] == '!');
  for (const char* ua : {"Linphone/5.2.5 (belle-sip/5.2.0)", "Zoiper rv2.10.19.5",
                         "Yealink SIP-T46S 66.86.0.15", "PolycomVVX-VVX_411-UA/6.4.3.5018",
                         "Cisco-CP8845/12.8.1", "MicroSIP/3.21.3", "Asterisk PBX 18.10.0"}) {
    INFO(ua);
    CHECK(scan(request("User-Agent: " + std::string(ua) + "\r\n")) == "");
  }
}

TEST_CASE("the config loads built-in, none, or a file of rules", "[signatures][config]") {
  CHECK(parse_config_text("{}").signature_rules.size() >= 20);
  CHECK(parse_config_text(R"({"signatures": {"rules": "none"}})").signature_rules.empty());
  CHECK_THROWS_WITH(parse_config_text(R"({"signatures": {"rules": "nope.json"}})", "/nonexistent"),
                    Catch::Matchers::StartsWith("$.signatures.rules: /nonexistent/nope.json"));
}
