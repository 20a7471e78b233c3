#include "telemetry/exposition.hpp"

#include <fmt/format.h>

namespace sipshield {

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  name_ = name;
  // HELP text escapes backslash and newline. In format 0.0.4 (unlike OpenMetrics) a counter's
  // HELP and TYPE name it with its _total.
  std::string escaped;
  for (char c : help) escaped += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : std::string(1, c);
  fmt::format_to(std::back_inserter(text_), "# HELP {} {}\n# TYPE {} {}\n", name, escaped, name,
                 type);
}

void Exposition::labels(Labels labels) {
  text_ += name_;
  if (labels.size() == 0) return;
  text_ += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) text_ += ',';
    first = false;
    text_ += key;
    text_ += "=\"";
    for (char c : value) {
      if (c == '\\' || c == '"') text_ += '\\';
      if (c == '\n') {
        text_ += "\\n";
        continue;
      }
      text_ += c;
    }
    text_ += '"';
  }
  text_ += '}';
}

void Exposition::sample(Labels l, double value) {
  labels(l);
  fmt::format_to(std::back_inserter(text_), " {}\n", value);
}

void Exposition::sample(Labels l, uint64_t value) {
  labels(l);
  fmt::format_to(std::back_inserter(text_), " {}\n", value);
}

}  // namespace sipshield
