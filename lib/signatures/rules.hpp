// Signature rules: a documented JSON format (docs/signatures.md) of Hyperscan patterns, each
// scoped to a part of the SIP message and tied to an action. Validated like the config: errors
// name the JSON path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace sipshield {

enum class RuleScope : uint8_t { start_line, header, headers, body, message };
enum class RuleAction : uint8_t { drop, ban, demerit, count };

struct Rule {
  std::string id;
  std::string pattern;  // Hyperscan (PCRE subset) syntax
  unsigned hs_flags = 0;
  std::vector<std::string> flag_names;
  RuleScope scope = RuleScope::message;
  std::string header;  // scope header: the long name, lower case ("user-agent")
  RuleAction action = RuleAction::drop;
  uint32_t ban_seconds = 0;
  uint32_t demerits = 0;
  std::string description;
};

std::vector<Rule> parse_rules(std::string_view json_text, const std::string& origin = "$");
std::vector<Rule> load_rules(const std::filesystem::path& file);

// drivers-config/signatures/default.json, embedded at build time.
std::string_view builtin_rules_text();

std::string_view rule_action_name(RuleAction a);
std::string rule_scope_text(const Rule& r);

}  // namespace sipshield
