#include "signatures/engine.hpp"

#include <hs/hs.h>

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "core/counter.hpp"
#include "core/errors.hpp"

namespace sipshield {
namespace {

struct ScanContext {
  std::string_view message;
  const SipMessage& parsed;
  const std::vector<Rule>& rules;
  std::vector<uint64_t>& hits;
  std::vector<uint32_t>& counted_in;  // per rule: the scan that last counted it
  uint32_t scan;
  SignatureScanner::Hit result;
  bool every_rule;  // scan on past a decisive match
};

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
}

// The header whose (possibly folded) line holds byte `at`, compared to `name` (lower case,
// long form); compact names count as their long form.
bool in_header(std::string_view msg, size_t at, std::string_view name) {
  size_t line = at;
  for (;;) {
    while (line > 0 && msg[line - 1] != '\n') --line;
    if (line == 0) return false;
    if (msg[line] != ' ' && msg[line] != '\t') break;  // a folded line: its header began above
    --line;
  }
  size_t end = line;
  while (end < msg.size() && msg[end] != ':' && msg[end] != ' ' && msg[end] != '\t') ++end;
  const std::string_view found = msg.substr(line, end - line);
  if (found.size() == 1) {
    static constexpr std::pair<char, std::string_view> kCompact[] = {{'v', "via"},
                                                                     {'f', "from"},
                                                                     {'t', "to"},
                                                                     {'i', "call-id"},
                                                                     {'m', "contact"},
                                                                     {'l', "content-length"},
                                                                     {'c', "content-type"},
                                                                     {'k', "supported"},
                                                                     {'s', "subject"},
                                                                     {'o', "event"},
                                                                     {'u', "allow-events"},
                                                                     {'r', "refer-to"},
                                                                     {'e', "content-encoding"}};
    for (const auto& [c, full] : kCompact)
      if (lower(found[0]) == c) return full == name;
    return false;
  }
  if (found.size() != name.size()) return false;
  for (size_t i = 0; i < found.size(); ++i)
    if (lower(found[i]) != name[i]) return false;
  return true;
}

int on_match(unsigned id, unsigned long long, unsigned long long to, unsigned, void* context) {
  auto& c = *static_cast<ScanContext*>(context);
  const Rule& rule = c.rules[id];
  const size_t last = to == 0 ? 0 : to - 1;  // the match's last byte
  const Span headers = c.parsed.headers, body = c.parsed.body;
  bool in_scope = false;
  switch (rule.scope) {
    case RuleScope::start_line:
      in_scope = last < headers.offset;
      break;
    case RuleScope::headers:
      in_scope = last >= headers.offset && last < size_t(headers.offset) + headers.length;
      break;
    case RuleScope::body:
      in_scope = last >= body.offset && last < size_t(body.offset) + body.length;
      break;
    case RuleScope::message:
      in_scope = true;
      break;
    case RuleScope::header:
      in_scope = last >= headers.offset && last < size_t(headers.offset) + headers.length &&
                 in_header(c.message, last, rule.header);
      break;
  }
  if (!in_scope) return 0;
  if (c.counted_in[id] != c.scan) {  // hits count messages, not matches
    c.counted_in[id] = c.scan;
    bump(c.hits[id]);
  }
  const bool decisive = rule.action == RuleAction::drop || rule.action == RuleAction::ban;
  if (c.result.rule == kNoRule || (decisive && !c.result.decisive)) {
    c.result.rule = static_cast<uint16_t>(id);
    c.result.decisive = decisive;
  }
  return decisive && !c.every_rule ? 1 : 0;  // a drop is final: stop scanning
}

}  // namespace

SignatureDatabase::SignatureDatabase(std::vector<Rule> rules) : rules_(std::move(rules)) {
  std::map<unsigned, std::vector<unsigned>> by_flags;
  for (unsigned i = 0; i < rules_.size(); ++i) by_flags[rules_[i].hs_flags].push_back(i);
  for (const auto& [flags, members] : by_flags) {
    std::vector<const char*> patterns;
    std::vector<unsigned> flag_list, ids;
    for (unsigned i : members) {
      patterns.push_back(rules_[i].pattern.c_str());
      flag_list.push_back(flags);
      ids.push_back(i);
    }
    hs_database_t* db = nullptr;
    hs_compile_error_t* error = nullptr;
    if (hs_compile_multi(patterns.data(), flag_list.data(), ids.data(),
                         static_cast<unsigned>(patterns.size()), HS_MODE_BLOCK, nullptr, &db,
                         &error) != HS_SUCCESS) {
      const int bad = error ? error->expression : -1;
      const std::string message = error && error->message ? error->message : "unknown error";
      hs_free_compile_error(error);
      for (auto* d : databases_) hs_free_database(d);
      throw ConfigError(bad >= 0 ? fmt::format("rule \"{}\"", rules_[ids[bad]].id) : "signatures",
                        fmt::format("Hyperscan refuses the rule set: {}", message));
    }
    databases_.push_back(db);
  }
}

SignatureDatabase::~SignatureDatabase() {
  for (auto* d : databases_) hs_free_database(d);
}

SignatureScanner::SignatureScanner(const SignatureDatabase& database)
    : database_(database),
      hits_(database.rules().size(), 0),
      counted_in_(database.rules().size(), 0) {
  for (auto* db : database.databases())
    if (hs_alloc_scratch(db, &scratch_) != HS_SUCCESS)
      throw std::runtime_error("hs_alloc_scratch failed: out of memory");
}

SignatureScanner::~SignatureScanner() {
  hs_free_scratch(scratch_);
}

SignatureScanner::Hit SignatureScanner::scan(std::string_view message, const SipMessage& parsed,
                                             bool every_rule) {
  if (++scans_ == 0) {  // wrapped: no stamp may look current
    std::fill(counted_in_.begin(), counted_in_.end(), 0);
    scans_ = 1;
  }
  ScanContext context{message, parsed, database_.rules(), hits_, counted_in_,
                      scans_,  {},     every_rule};
  for (auto* db : database_.databases()) {
    // HS_SCAN_TERMINATED: a decisive rule stopped the scan; nothing else can fail here.
    hs_scan(db, message.data(), static_cast<unsigned>(message.size()), 0, scratch_, on_match,
            &context);
    if (context.result.decisive && !every_rule) break;
  }
  return context.result;
}

nlohmann::json signature_hits(const std::vector<const SignatureScanner*>& scanners) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto* scanner : scanners) {
    if (!scanner) continue;
    const auto& rules = scanner->database().rules();
    for (size_t i = 0; i < rules.size(); ++i) {
      const uint64_t n = read(scanner->hits()[i]);
      if (n) out[rules[i].id] = out.value(rules[i].id, uint64_t{0}) + n;
    }
  }
  return out;
}

}  // namespace sipshield
