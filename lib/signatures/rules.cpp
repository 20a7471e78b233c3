#include "signatures/rules.hpp"

#include <hs/hs.h>

#include <set>

#include <fmt/format.h>

#include "core/json_reader.hpp"

namespace sipshield {
namespace {

constexpr std::pair<std::string_view, unsigned> kFlags[] = {
    {"caseless", HS_FLAG_CASELESS},
    {"dotall", HS_FLAG_DOTALL},
    {"multiline", HS_FLAG_MULTILINE},
    {"utf8", HS_FLAG_UTF8},
};

// Compact forms (RFC 3261 7.3.3) name the same header as their long form.
std::string canonical_header(std::string name) {
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::pair<std::string_view, std::string_view> kCompact[] = {
      {"v", "via"},
      {"f", "from"},
      {"t", "to"},
      {"i", "call-id"},
      {"m", "contact"},
      {"l", "content-length"},
      {"c", "content-type"},
      {"k", "supported"},
      {"s", "subject"},
      {"o", "event"},
      {"u", "allow-events"},
      {"r", "refer-to"},
      {"e", "content-encoding"}};
  for (const auto& [small, full] : kCompact)
    if (name == small) return std::string(full);
  return name;
}

Rule read_rule(const Node& n) {
  n.object({"id", "pattern", "flags", "scope", "action", "description"});
  Rule r;
  const auto required = [&n](const char* key) {
    auto v = n.find(key);
    if (!v) throw ConfigError(n.path() + "." + key, "required");
    return *v;
  };
  r.id = required("id").string();
  if (r.id.empty()) required("id").fail("a non-empty rule id");
  r.pattern = required("pattern").string();
  if (r.pattern.empty()) required("pattern").fail("a non-empty Hyperscan pattern");
  if (auto flags = n.find("flags")) {
    for (const auto& f : flags->array()) {
      const auto name = f.choice({"caseless", "dotall", "multiline", "utf8"});
      for (const auto& [known, bit] : kFlags)
        if (known == name) r.hs_flags |= bit;
      r.flag_names.push_back(name);
    }
  }
  const auto scope = required("scope");
  const std::string s = scope.string();
  if (s == "start_line")
    r.scope = RuleScope::start_line;
  else if (s == "headers")
    r.scope = RuleScope::headers;
  else if (s == "body")
    r.scope = RuleScope::body;
  else if (s == "message")
    r.scope = RuleScope::message;
  else if (s.rfind("header:", 0) == 0 && s.size() > 7 &&
           s.find_first_not_of(
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~", 7) ==
               std::string::npos) {
    r.scope = RuleScope::header;
    r.header = canonical_header(s.substr(7));
  } else {
    scope.fail("\"start_line\", \"header:NAME\", \"headers\", \"body\" or \"message\"");
  }
  const auto action = required("action");
  if (action.value().is_string()) {
    const auto a = action.choice({"drop", "count"});
    r.action = a == "drop" ? RuleAction::drop : RuleAction::count;
  } else {
    action.object({"ban_seconds", "demerits"});
    if (action.find("ban_seconds") && action.find("demerits"))
      action.fail("one of {\"ban_seconds\": N} or {\"demerits\": N}, not both");
    if (auto b = action.find("ban_seconds")) {
      r.action = RuleAction::ban;
      // At most 20 days: bans end on a wrapping 32-bit millisecond clock (2^31 ms ahead at most).
      r.ban_seconds = static_cast<uint32_t>(b->integer(1, 86400 * 20));
    } else if (auto d = action.find("demerits")) {
      r.action = RuleAction::demerit;
      r.demerits = static_cast<uint32_t>(d->integer(1, 1000));
    } else {
      action.fail("\"drop\", \"count\", {\"ban_seconds\": N} or {\"demerits\": N}");
    }
  }
  if (auto d = n.find("description")) r.description = d->string();
  // Compile alone once, so that a bad pattern is reported with its path.
  hs_database_t* db = nullptr;
  hs_compile_error_t* error = nullptr;
  if (hs_compile(r.pattern.c_str(), r.hs_flags, HS_MODE_BLOCK, nullptr, &db, &error) !=
      HS_SUCCESS) {
    const std::string message = error && error->message ? error->message : "unknown error";
    hs_free_compile_error(error);
    throw ConfigError(n.path() + ".pattern", fmt::format("Hyperscan refuses it: {}", message));
  }
  hs_free_database(db);
  return r;
}

}  // namespace

std::vector<Rule> parse_rules(std::string_view text, const std::string& origin) {
  const nlohmann::json document = parse_json_text(text, origin);
  const Node root(document, origin);
  root.object({"description", "rules"});
  std::vector<Rule> rules;
  std::set<std::string> ids;
  if (auto list = root.find("rules")) {
    for (const auto& item : list->array()) {
      rules.push_back(read_rule(item));
      if (!ids.insert(rules.back().id).second)
        throw ConfigError(item.path() + ".id",
                          fmt::format("\"{}\" is used twice", rules.back().id));
    }
    if (rules.size() > 4096) throw ConfigError(list->path(), "expected at most 4096 rules");
  }
  return rules;
}

std::vector<Rule> load_rules(const std::filesystem::path& file) {
  return parse_rules(read_json_file(file, "$").dump(), "$");
}

std::string_view rule_action_name(RuleAction a) {
  switch (a) {
    case RuleAction::drop:
      return "drop";
    case RuleAction::ban:
      return "ban";
    case RuleAction::demerit:
      return "demerit";
    case RuleAction::count:
      return "count";
  }
  return "";
}

std::string rule_scope_text(const Rule& r) {
  switch (r.scope) {
    case RuleScope::start_line:
      return "start_line";
    case RuleScope::header:
      return "header:" + r.header;
    case RuleScope::headers:
      return "headers";
    case RuleScope::body:
      return "body";
    case RuleScope::message:
      return "message";
  }
  return "";
}

}  // namespace sipshield
