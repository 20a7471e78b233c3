// sipshield-bench-sip: cycles per message of the SIP tokenizer and of the signature scan with
// the default rule set, for the kinds of message the filter sees, beside two reference passes over
// the same bytes. Prints a table (cycles per message); asserts nothing.
#include <array>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "bench_clock.hpp"
#include "generator/generator.hpp"
#include "generator/scenario.hpp"
#include "packet/parse.hpp"
#include "signatures/engine.hpp"
#include "sip/message.hpp"

using namespace sipshield;

namespace {

// Reference points over the same bytes, to read the tokenizer's figure against: the least a
// parser can do that looks at each byte (one table lookup per byte), and the least that finds
// each line (memchr per line). The compiler cannot vectorise the first (a lookup per byte).
constexpr auto kSeparators = [] {
  std::array<uint8_t, 256> t{};
  for (unsigned char c : std::string_view(":;,=<>\"@ \r\n")) t[c] = 1;
  return t;
}();
size_t table_pass(std::string_view text) {
  size_t n = 0;
  for (char c : text) n += kSeparators[static_cast<unsigned char>(c)];
  return n;
}
size_t line_split(std::string_view text) {
  size_t lines = 0;
  for (const char* p = text.data(); const void* lf = memchr(p, '\n', size_t(text.end() - p));
       ++lines)
    p = static_cast<const char*>(lf) + 1;
  return lines;
}

// The UDP payloads of the built-in scenario's unfragmented datagrams, in capture order: every
// user's own values, responses and floods. Repeating one message lets the branch predictor
// learn it; a stream of different messages, as a filter sees, does not.
std::vector<std::string> scenario_messages(bool legitimate_only) {
  FrameList frames;
  generate(parse_scenario(builtin_scenario_text(), "(built-in scenario)"), frames);
  std::vector<std::string> out;
  for (const auto& f : frames.frames) {
    PacketMeta meta;
    if (legitimate_only && f.label.rfind("legit", 0) != 0) continue;
    if (!parse_frame(f.bytes.data(), static_cast<uint32_t>(f.bytes.size()), meta).ok ||
        !meta.has_udp || meta.is_fragment || meta.payload_length == 0)
      continue;
    out.emplace_back(reinterpret_cast<const char*>(f.bytes.data()) + meta.payload_offset,
                     meta.payload_length);
  }
  return out;
}

// One row: cycles per message, the mean over `stream` passed `rounds` times (one message
// repeated, or a stream of different ones). Scanned as the pipeline scans: valid messages that
// are not keepalives ("-" when there are none).
void print_row(std::string_view name, const std::vector<std::string>& stream, unsigned rounds,
               SignatureScanner& scanner) {
  size_t total = 0;
  for (const auto& text : stream) total += text.size();
  std::vector<SipMessage> parsed(stream.size());
  std::vector<size_t> scanned;
  for (size_t i = 0; i < stream.size(); ++i)
    if (tokenize(stream[i], parsed[i]).ok && parsed[i].kind != SipKind::keepalive)
      scanned.push_back(i);
  SipMessage m;
  volatile size_t sink = 0;
  const auto per_message = [&](auto&& each, size_t n) {
    return bench::cycles_per_call([&] { each(); }, rounds) /
           static_cast<double>(std::max<size_t>(n, 1));
  };
  const auto over_stream = [&](auto&& f) {
    return per_message(
        [&] {
          for (const auto& text : stream) sink = f(text);
        },
        stream.size());
  };
  const double tok = over_stream([&](const std::string& t) { return tokenize(t, m).ok; });
  const std::string scan =
      scanned.empty()
          ? "-"
          : fmt::format("{:.0f}", per_message(
                                      [&] {
                                        for (size_t i : scanned)
                                          sink = scanner.scan(stream[i], parsed[i]).rule;
                                      },
                                      scanned.size()));
  const double bytes = over_stream(table_pass);
  const double lines = over_stream(line_split);
  fmt::print("  {:<40} {:>6} {:>9.0f} {:>6} {:>14.0f} {:>11.0f}\n", name,
             total / std::max<size_t>(stream.size(), 1), tok, scan, bytes, lines);
}

const std::string kRegister =
    "REGISTER sip:example.test SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 198.18.16.5:5060;branch=z9hG4bK4f2d8a1c9e7b3;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Alice\" <sip:1005@example.test>;tag=8wj3kd77a\r\n"
    "To: \"Alice\" <sip:1005@example.test>\r\n"
    "Call-ID: a84b4c76e66710a84b4c76e66710@198.18.16.5\r\n"
    "CSeq: 1826 REGISTER\r\n"
    "Contact: "
    "<sip:1005@198.18.16.5:5060;transport=udp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-"
    "000a95a0e128>\"\r\n"
    "Expires: 600\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER, MESSAGE\r\n"
    "Supported: path, gruu, outbound\r\n"
    "User-Agent: Linphone/5.2.5 (belle-sip/5.2.0)\r\n"
    "Authorization: Digest username=\"1005\", realm=\"example.test\", "
    "nonce=\"4f2d8a1c9e7b34f2d8a1c9e7b3\", uri=\"sip:example.test\", "
    "response=\"a1b2c3d4e5f60718293a4b5c6d7e8f90\", algorithm=MD5\r\n"
    "Content-Length: 0\r\n\r\n";

const std::string kInvite =
    "INVITE sip:1009@example.test SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 198.18.16.5:5060;branch=z9hG4bK776asdhds;rport\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:1005@example.test>;tag=1928301774\r\n"
    "To: <sip:1009@example.test>\r\nCall-ID: a84b4c76e66710@198.18.16.5\r\nCSeq: 314159 INVITE\r\n"
    "Contact: <sip:1005@198.18.16.5:5060>\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
    "Supported: replaces, timer\r\nUser-Agent: Zoiper rv2.10.19.5\r\nContent-Type: "
    "application/sdp\r\n"
    "Content-Length: 289\r\n\r\n"
    "v=0\r\no=- 3724394400 3724394400 IN IP4 198.18.16.5\r\ns=-\r\nc=IN IP4 198.18.16.5\r\nt=0 "
    "0\r\n"
    "m=audio 10000 RTP/AVP 0 8 9 18 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:9 G722/8000\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n";

const std::string kResponse =
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.18.16.5:5060;branch=z9hG4bK776asdhds;rport=5060\r\n"
    "From: <sip:1005@example.test>;tag=1928301774\r\nTo: <sip:1009@example.test>;tag=a6c85cf\r\n"
    "Call-ID: a84b4c76e66710@198.18.16.5\r\nCSeq: 314159 INVITE\r\n"
    "Contact: <sip:1009@198.18.16.9:5060>\r\nContent-Length: 0\r\n\r\n";

}  // namespace

int main() {
  const double hz = bench::tsc_hz();
  const SignatureDatabase db(parse_rules(builtin_rules_text()));
  SignatureScanner scanner(db);
  std::string malformed = kRegister;
  malformed.replace(malformed.find("CSeq: 1826 REGISTER"), 19, "CSeq: 1826 INVITE  ");
  // The first REGISTER of a registration, before the challenge: about 600 bytes.
  std::string first_register = kRegister;
  const size_t auth = first_register.find("Authorization:");
  first_register.erase(auth, first_register.find("\r\n", auth) + 2 - auth);
  std::string scanner_probe = kRegister;
  scanner_probe.replace(scanner_probe.find("Linphone/5.2.5 (belle-sip/5.2.0)"), 32,
                        "friendly-scanner                ");
  const std::pair<const char*, std::string> messages[] = {
      {"REGISTER with digest credentials", kRegister},
      {"REGISTER without credentials", first_register},
      {"INVITE with SDP", kInvite},
      {"200 OK response", kResponse},
      {"keepalive (CRLFCRLF)", "\r\n\r\n"},
      {"malformed (CSeq method mismatch)", malformed},
      {"scanner (User-Agent friendly-scanner)", scanner_probe},
  };
  fmt::print("sipshield SIP stages, one core, TSC {:.2f} GHz, {} default rules in {} database(s)\n",
             hz / 1e9, db.rules().size(), db.databases().size());
  fmt::print("  {:<40} {:>6} {:>9} {:>6} {:>14} {:>11}\n", "message", "bytes", "tokenize", "scan",
             "byte-by-byte", "line split");
  for (const auto& [name, text] : messages) print_row(name, {text}, 200000, scanner);
  // Means per message over a stream of different messages (bytes: the mean size).
  for (const bool legitimate : {true, false}) {
    const auto stream = scenario_messages(legitimate);
    print_row(
        fmt::format("built-in scenario, {} {} msgs", legitimate ? "legit" : "all", stream.size()),
        stream, 20, scanner);
  }
  return 0;
}
