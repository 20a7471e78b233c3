#include "core/json_reader.hpp"

#include <fstream>
#include <set>
#include <sstream>

namespace sipshield {

using nlohmann::json;

std::string describe_json(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return fmt::format("{} {}", value.type_name(), text);
}

namespace {

// nlohmann keeps the last of two equal keys; a config that says `workers` twice is more likely
// a mistake than an override, so the parser callback refuses it. Paths are built only on error.
class DuplicateKeyCheck {
 public:
  explicit DuplicateKeyCheck(std::string root) : root_(std::move(root)) {}

  bool operator()(int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        stack_.push_back({event == json::parse_event_t::object_start, 0, {}, {}});
        break;
      case json::parse_event_t::key: {
        Level& top = stack_.back();
        top.key = parsed.get<std::string>();
        if (!top.keys.insert(top.key).second)
          throw ConfigError(path(), fmt::format("the key \"{}\" appears twice", top.key));
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        stack_.pop_back();
        next_item();
        break;
      case json::parse_event_t::value:
        next_item();
        break;
    }
    return true;
  }

 private:
  struct Level {
    bool object;
    size_t index;     // arrays: the item being read
    std::string key;  // objects: the key being read
    std::set<std::string> keys;
  };

  void next_item() {
    if (!stack_.empty() && !stack_.back().object) ++stack_.back().index;
  }

  std::string path() const {
    std::string p = root_;
    for (const auto& level : stack_)
      p += level.object ? "." + level.key : fmt::format("[{}]", level.index);
    return p;
  }

  std::string root_;
  std::vector<Level> stack_;
};

// "[json.exception.parse_error.101] parse error at line 3, column 5: ..." without the tag:
// "not valid JSON at line 3, column 5: ...".
std::string describe_parse_error(const json::parse_error& e) {
  std::string_view text = e.what();
  if (const auto tag_end = text.find("] "); text.starts_with("[json.") && tag_end != text.npos)
    text.remove_prefix(tag_end + 2);
  if (text.starts_with("parse error")) text.remove_prefix(std::string_view("parse error").size());
  return fmt::format("not valid JSON{}", text);
}

json parse_checked(std::string_view text, const std::string& root) {
  return json::parse(text, DuplicateKeyCheck(root));
}

}  // namespace

json parse_json_text(std::string_view text, const std::string& origin) {
  try {
    return parse_checked(text, origin);
  } catch (const json::parse_error& e) {
    throw ConfigError(origin, describe_parse_error(e));
  }
}

json read_json_file(const std::filesystem::path& file, const std::string& path_for_errors) {
  std::ifstream in(file);
  if (!in) throw ConfigError(path_for_errors, fmt::format("cannot open {}", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  // A file named by another file (a port profile) is a document of its own: paths inside it
  // read "$.ports.outside.profile (FILE).rss", as the config parser names them.
  const std::string root =
      path_for_errors == "$" ? "$" : fmt::format("{} ({})", path_for_errors, file.string());
  try {
    return parse_checked(text.str(), root);
  } catch (const json::parse_error& e) {
    throw ConfigError(path_for_errors,
                      fmt::format("{} is {}", file.string(), describe_parse_error(e)));
  }
}

}  // namespace sipshield
