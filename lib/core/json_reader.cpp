#include "core/json_reader.hpp"

#include <fstream>
#include <sstream>

namespace sipshield {

using nlohmann::json;

std::string describe_json(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return fmt::format("{} {}", value.type_name(), text);
}

json parse_json_text(std::string_view text, const std::string& origin) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw ConfigError(origin, fmt::format("not valid JSON: {}", e.what()));
  }
}

json read_json_file(const std::filesystem::path& file, const std::string& path_for_errors) {
  std::ifstream in(file);
  if (!in) throw ConfigError(path_for_errors, fmt::format("cannot open {}", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::parse_error& e) {
    throw ConfigError(path_for_errors,
                      fmt::format("{} is not valid JSON: {}", file.string(), e.what()));
  }
}

}  // namespace sipshield
