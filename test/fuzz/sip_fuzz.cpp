// Fuzz target: the SIP tokenizer and the signature scan on arbitrary datagrams. Built with
// libFuzzer (meson -Dfuzz=true, clang) for campaigns (scripts/fuzz.sh), and with a plain main
// that replays the committed corpus in every test run (test/fuzz/replay_main.cpp).
#include <cstdint>
#include <cstring>
#include <memory>

#include "signatures/engine.hpp"
#include "sip/message.hpp"

using namespace sipshield;

namespace {

// Every span the tokenizer returns must lie inside the datagram.
void check(const Span& s, size_t size) {
  if (size_t(s.offset) + s.length > size) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const SignatureDatabase database(parse_rules(builtin_rules_text()));
  static SignatureScanner scanner(database);
  // An exact-size copy: AddressSanitizer then reports any read past the datagram.
  std::unique_ptr<char[]> copy(new char[size ? size : 1]);
  if (size) std::memcpy(copy.get(), data, size);
  const std::string_view text(copy.get(), size);
  SipMessage m;
  const SipVerdict v = tokenize(text, m);
  if (!v.ok || m.kind == SipKind::keepalive) return 0;
  for (const Span* s :
       {&m.method_text, &m.request_uri.whole, &m.request_uri.user, &m.request_uri.host,
        &m.reason_phrase, &m.top_via.branch, &m.top_via.host, &m.from.tag, &m.to.tag,
        &m.from.uri.user, &m.call_id, &m.cseq_method_text, &m.contact.uri.whole, &m.user_agent,
        &m.headers, &m.body, &m.authorization.nonce, &m.www_authenticate.nonce})
    check(*s, size);
  scanner.scan(text, m);
  return 0;
}
