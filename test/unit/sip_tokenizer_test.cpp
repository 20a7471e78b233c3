// The SIP tokenizer against messages written after RFC 4475 and RFC 5118 (test/data/sip), with
// verdicts and fields given by hand in expected.tsv, plus the RFC 3261 rules one by one.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sip/message.hpp"
#include "sip/message_json.hpp"

using namespace sipshield;

namespace {

const std::string kData = SIPSHIELD_SOURCE_DIR "/test/data/sip/";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// test/data/sip/README.md: LF becomes CRLF; {NUL} {BEL} {DEL} become bytes; {CL} the body length.
std::string load(const std::string& file) {
  std::ifstream in(kData + file, std::ios::binary);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = replace_all(ss.str(), "\n", "\r\n");
  s = replace_all(s, "{NUL}", std::string(1, '\0'));
  s = replace_all(s, "{BEL}", "\x07");
  s = replace_all(s, "{DEL}", "\x7f");
  const auto body = s.find("\r\n\r\n");
  if (body != std::string::npos) {
    const size_t body_length = s.size() - body - 4;
    s = replace_all(s, "{CL}", std::to_string(body_length));
  }
  return s;
}

// expected.tsv keys -> JSON pointers into sip_message_json's output.
const std::map<std::string, std::string> kPointers = {
    {"kind", "/kind"},
    {"method", "/method"},
    {"status", "/status"},
    {"ruri_user", "/request_uri/user"},
    {"ruri_host", "/request_uri/host"},
    {"ruri_port", "/request_uri/port"},
    {"call_id", "/call_id"},
    {"cseq", "/cseq/number"},
    {"cseq_method", "/cseq/method"},
    {"via_count", "/via/count"},
    {"via_transport", "/via/transport"},
    {"via_host", "/via/host"},
    {"via_port", "/via/port"},
    {"via_branch", "/via/branch"},
    {"via_rport", "/via/rport"},
    {"via_received", "/via/received"},
    {"via_oc", "/via/oc"},
    {"via_oc_algo", "/via/oc_algo"},
    {"via_oc_validity", "/via/oc_validity"},
    {"via_oc_seq", "/via/oc_seq"},
    {"from_user", "/from/user"},
    {"from_tag", "/from/tag"},
    {"to_user", "/to/user"},
    {"to_host", "/to/host"},
    {"to_port", "/to/port"},
    {"to_tag", "/to/tag"},
    {"contact_user", "/contact/user"},
    {"contact_host", "/contact/host"},
    {"contact_port", "/contact/port"},
    {"contact_expires", "/contact/expires"},
    {"max_forwards", "/max_forwards"},
    {"content_length", "/content_length"},
    {"content_type", "/content_type"},
    {"body_length", "/body_length"},
    {"has_route", "/route"},
    {"expires", "/expires"},
    {"user_agent", "/user_agent"},
    {"retry_after", "/retry_after"},
    {"auth_username", "/authorization/username"},
    {"auth_realm", "/authorization/realm"},
    {"www_realm", "/www_authenticate/realm"},
    {"www_nonce", "/www_authenticate/nonce"},
    {"sec_client_mechanism", "/security_client/mechanism"},
    {"sec_client_alg", "/security_client/alg"},
    {"sec_client_ealg", "/security_client/ealg"},
    {"sec_client_spi_c", "/security_client/spi_c"},
    {"sec_client_spi_s", "/security_client/spi_s"},
    {"sec_client_port_c", "/security_client/port_c"},
    {"sec_client_port_s", "/security_client/port_s"},
};

std::string as_text(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>() ? "1" : "0";
  return j.dump();
}

struct Expectation {
  std::string file, verdict;
  std::vector<std::pair<std::string, std::string>> fields;
};

std::vector<Expectation> expectations() {
  std::ifstream in(kData + "expected.tsv");
  std::vector<Expectation> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream cols(line);
    Expectation e;
    std::string fields;
    std::getline(cols, e.file, '\t');
    std::getline(cols, e.verdict, '\t');
    std::getline(cols, fields);
    std::istringstream kv(fields);
    for (std::string item; kv >> item;) {
      const auto eq = item.find('=');
      e.fields.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    }
    out.push_back(e);
  }
  return out;
}

SipVerdict run(const std::string& text, SipMessage& m) {
  return tokenize(text, m);
}

// One OPTIONS with a body, in long and in compact header forms.
const std::string kLongForm =
    "OPTIONS sip:a@example.test SIP/2.0\r\nVia: SIP/2.0/UDP h.example.test;branch=z9hG4bK1\r\n"
    "From: <sip:b@example.test>;tag=9\r\nTo: <sip:a@example.test>\r\nCall-ID: c1\r\n"
    "CSeq: 5 OPTIONS\r\nContact: <sip:b@198.18.1.1>\r\nContent-Type: text/plain\r\n"
    "Content-Length: 2\r\n\r\nhi";
const std::string kCompact =
    "OPTIONS sip:a@example.test SIP/2.0\r\nv: SIP/2.0/UDP h.example.test;branch=z9hG4bK1\r\n"
    "f: <sip:b@example.test>;tag=9\r\nt: <sip:a@example.test>\r\ni: c1\r\n"
    "CSeq: 5 OPTIONS\r\nm: <sip:b@198.18.1.1>\r\nc: text/plain\r\nl: 2\r\n\r\nhi";

}  // namespace

TEST_CASE("RFC 4475 / RFC 5118 cases: verdicts and fields", "[sip][torture]") {
  const auto cases = expectations();
  REQUIRE(cases.size() >= 45);
  size_t valid = 0, invalid = 0;
  for (const auto& e : cases) {
    INFO(e.file);
    const std::string text = load(e.file);
    SipMessage m;
    const SipVerdict v = run(text, m);
    const nlohmann::json j = sip_message_json(text, m, v);
    if (e.verdict == "valid" || e.verdict == "keepalive") {
      INFO((v.ok ? std::string("ok") : std::string(reason_name(v.reason))));
      REQUIRE(v.ok);
      CHECK(j["verdict"] == e.verdict);
      ++valid;
    } else {
      REQUIRE_FALSE(v.ok);
      CHECK(reason_name(v.reason) == e.verdict);
      ++invalid;
    }
    for (const auto& [key, want] : e.fields) {
      INFO(key);
      if (key == "body") {  // body=content_length: the body is exactly Content-Length long
        CHECK(j["body_length"] == j["content_length"]);
        CHECK(j["body_length"].get<int>() > 0);
        continue;
      }
      if (key == "reason_length") {
        CHECK(std::to_string(j["reason_phrase"].get<std::string>().size()) == want);
        continue;
      }
      REQUIRE(kPointers.count(key) == 1);
      const nlohmann::json::json_pointer ptr(kPointers.at(key));
      if (want == "-1") {
        CHECK_FALSE(j.contains(ptr));
        continue;
      }
      REQUIRE(j.contains(ptr));
      CHECK(as_text(j[ptr]) == want);
    }
  }
  CHECK(valid >= 20);
  CHECK(invalid >= 25);
}

TEST_CASE("compact and long header forms read the same", "[sip]") {
  SipMessage a, b;
  REQUIRE(run(kLongForm, a).ok);
  REQUIRE(run(kCompact, b).ok);
  auto ja = sip_message_json(kLongForm, a, {true, Reason::admitted});
  auto jb = sip_message_json(kCompact, b, {true, Reason::admitted});
  CHECK(ja == jb);
  CHECK(ja["body_length"] == 2);
}

TEST_CASE("a quoted header parameter may hold an escaped quote", "[sip]") {
  // RFC 3261 25.1: quoted-pair in a quoted-string gen-value. One escaped quote leaves the count
  // of '"' odd: only an escape-aware search finds where the value ends.
  const auto contact = [](const std::string& params) {
    return "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.1.1;branch=z9hG4bK7\r\n"
           "From: <sip:1001@example.test>;tag=a1\r\nTo: <sip:1001@example.test>\r\n"
           "Call-ID: x1\r\nCSeq: 3 REGISTER\r\nContact: <sip:1001@198.18.1.1>" +
           params + "\r\nContent-Length: 0\r\n\r\n";
  };
  SipMessage m;
  const std::string escaped = contact(";note=\"a\\\"b\";expires=60");
  REQUIRE(run(escaped, m).ok);
  CHECK(m.contact_expires == 60);
  CHECK(run(contact(";note=\"a\\\"b;expires=60"), m).reason == Reason::sip_bad_name_addr);
}

TEST_CASE("UDP bodies end at Content-Length (RFC 3261 18.3)", "[sip]") {
  const std::string head =
      "MESSAGE sip:a@example.test SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
      "From: <sip:b@example.test>;tag=9\r\nTo: <sip:a@example.test>\r\nCall-ID: c1\r\n"
      "CSeq: 5 MESSAGE\r\n";
  SipMessage m;
  REQUIRE(run(head + "Content-Length: 5\r\n\r\nhello, and more", m).ok);
  CHECK(m.body.length == 5);
  CHECK_FALSE(run(head + "Content-Length: 50\r\n\r\nhello", m).ok);
  REQUIRE(run(head + "\r\nbody without length", m).ok);
  CHECK(m.body.length == 19);
}

TEST_CASE("size limits are enforced and configurable", "[sip]") {
  const std::string head =
      "OPTIONS sip:a@example.test SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
      "From: <sip:b@example.test>;tag=9\r\nTo: <sip:a@example.test>\r\nCall-ID: c1\r\n"
      "CSeq: 5 OPTIONS\r\n";
  SipMessage m;
  SipLimits limits;
  const std::string long_header = head + "X-Long: " + std::string(2100, 'a') + "\r\n\r\n";
  CHECK(tokenize(long_header, m, limits).reason == Reason::sip_header_too_long);
  limits.max_header_bytes = 4096;
  CHECK(tokenize(long_header, m, limits).ok);
  std::string many = head;
  for (int i = 0; i < 130; ++i) many += "X-H: 1\r\n";
  CHECK(tokenize(many + "\r\n", m).reason == Reason::sip_too_many_headers);
  std::string big = head;
  for (int i = 0; i < 6; ++i) big += "X-Fill: " + std::string(1500, 'b') + "\r\n";
  CHECK(tokenize(big + "\r\n", m).reason == Reason::sip_headers_too_long);
  limits = SipLimits{};
  limits.max_message_bytes = 100;
  CHECK(tokenize(head + "\r\n", m, limits).reason == Reason::sip_message_too_long);
}

TEST_CASE("keepalives: CRLF, double CRLF and STUN binding requests (RFC 5626)", "[sip]") {
  SipMessage m;
  CHECK(run("\r\n", m).ok);
  CHECK(m.kind == SipKind::keepalive);
  CHECK(run("\r\n\r\n", m).ok);
  std::string stun = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, static_cast<char>(0xa4), 0x42};
  stun += std::string(12, 'x');  // transaction id
  CHECK(run(stun, m).ok);
  CHECK(m.kind == SipKind::keepalive);
  stun[3] = 4;  // a length that does not match
  CHECK_FALSE(run(stun, m).ok);
  CHECK_FALSE(run("\r\n\r\n\r\n", m).ok);
  CHECK_FALSE(run("", m).ok);
}

TEST_CASE("no strict prefix of a valid message is accepted as one", "[sip]") {
  // A datagram cut short (a lost last fragment, a truncating middlebox) must not pass as the
  // message it began. Each prefix sits in an exact-size heap buffer: ASan catches a read past it.
  std::vector<std::pair<std::string, std::string>> messages = {{"long form", kLongForm},
                                                               {"compact", kCompact}};
  for (const auto& e : expectations())
    if (e.verdict == "valid") messages.emplace_back(e.file, load(e.file));
  REQUIRE(messages.size() >= 20);
  for (const auto& [name, text] : messages) {
    INFO(name);
    SipMessage m;
    REQUIRE(run(text, m).ok);
    REQUIRE(m.kind != SipKind::keepalive);
    REQUIRE(m.content_length >= 0);  // without it a cut body is just a shorter body (18.3)
    const size_t headers_end = m.headers.offset + m.headers.length;
    // Bytes after Content-Length are not the message's (dblreq.sip): cutting them changes nothing.
    const size_t end = headers_end + static_cast<size_t>(m.content_length);
    REQUIRE(end <= text.size());
    for (size_t n = 0; n < text.size(); ++n) {
      const auto exact = std::make_unique<char[]>(n);
      std::memcpy(exact.get(), text.data(), n);
      const SipVerdict v = tokenize(std::string_view(exact.get(), n), m);
      INFO("prefix of " << n << " of " << text.size() << " bytes, the message ends at " << end);
      if (n >= end) {
        REQUIRE(v.ok);
        CHECK(m.body.length == m.content_length);
        continue;
      }
      REQUIRE_FALSE(v.ok);
      CHECK(reason_name(v.reason).starts_with("sip_"));
      // Headers whole, body cut: exactly the RFC 3261 18.3 case.
      if (n >= headers_end) CHECK(v.reason == Reason::sip_content_length_overflow);
    }
  }
}

TEST_CASE("each missing or broken mandatory header has its own reason", "[sip]") {
  const std::string via = "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n";
  const std::string from = "From: <sip:b@example.test>;tag=9\r\n";
  const std::string to = "To: <sip:a@example.test>\r\n";
  const std::string call_id = "Call-ID: c1\r\n";
  const std::string cseq = "CSeq: 5 OPTIONS\r\n";
  const auto judge = [](const std::string& headers) {
    SipMessage m;
    return tokenize("OPTIONS sip:a@example.test SIP/2.0\r\n" + headers + "\r\n", m);
  };
  CHECK(judge(via + from + to + call_id + cseq).ok);
  CHECK(judge(via + to + call_id + cseq).reason == Reason::sip_missing_from);
  CHECK(judge(via + from + call_id + cseq).reason == Reason::sip_missing_to);
  CHECK(judge(via + from + to + call_id).reason == Reason::sip_missing_cseq);
  CHECK(judge(via + from + to + call_id + cseq + "Max-Forwards: 256\r\n").reason ==
        Reason::sip_bad_max_forwards);
  CHECK(judge(via + from + to + call_id + cseq + "no colon here\r\n").reason ==
        Reason::sip_bad_header_line);
  CHECK(judge(" folded first\r\n" + via + from + to + call_id + cseq).reason ==
        Reason::sip_bad_header_line);
  CHECK(judge(via + from + from + to + call_id + cseq).reason == Reason::sip_duplicate_header);
  CHECK(judge(via + from + to + call_id + "CSeq: x OPTIONS\r\n").reason == Reason::sip_bad_cseq);
}
