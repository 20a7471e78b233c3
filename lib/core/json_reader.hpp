// Reading JSON with the path of every value ($.a.b[2]), so that each error in a config or
// scenario file says where it is and what form was expected (ConfigError).
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"

namespace sipshield {

std::string describe_json(const nlohmann::json& value);

// A JSON value with its path ($.a.b[2]) so every error can say where it is.
class Node {
 public:
  Node(const nlohmann::json& value, std::string path) : value_(value), path_(std::move(path)) {}

  const nlohmann::json& value() const { return value_; }
  const std::string& path() const { return path_; }

  [[noreturn]] void fail(const std::string& expected) const {
    throw ConfigError(path_, fmt::format("expected {}, got {}", expected, describe_json(value_)));
  }

  // An object whose keys must all be among `allowed`.
  const Node& object(std::initializer_list<std::string_view> allowed) const {
    return object(std::span<const std::string_view>(allowed.begin(), allowed.size()));
  }
  const Node& object(std::span<const std::string_view> allowed) const {
    if (!value_.is_object()) fail("an object");
    for (const auto& [key, unused] : value_.items()) {
      bool known = false;
      for (auto name : allowed) known = known || name == key;
      if (!known) {
        std::string names;
        for (auto name : allowed) names += fmt::format("{}{}", names.empty() ? "" : ", ", name);
        throw ConfigError(path_ + "." + key, fmt::format("unknown key (known here: {})", names));
      }
    }
    return *this;
  }

  std::optional<Node> find(std::string_view key) const {
    auto it = value_.find(key);
    if (it == value_.end()) return std::nullopt;
    return Node(*it, fmt::format("{}.{}", path_, key));
  }

  std::vector<Node> array() const {
    if (!value_.is_array()) fail("an array");
    std::vector<Node> items;
    for (size_t i = 0; i < value_.size(); ++i)
      items.emplace_back(value_[i], fmt::format("{}[{}]", path_, i));
    return items;
  }

  uint64_t integer(uint64_t min, uint64_t max) const {
    if (!value_.is_number_unsigned() && !(value_.is_number_integer() && value_.get<int64_t>() >= 0))
      fail(fmt::format("an integer from {} to {}", min, max));
    const auto v = value_.get<uint64_t>();
    if (v < min || v > max) fail(fmt::format("an integer from {} to {}", min, max));
    return v;
  }

  bool boolean() const {
    if (!value_.is_boolean()) fail("true or false");
    return value_.get<bool>();
  }

  std::string string() const {
    if (!value_.is_string()) fail("a string");
    return value_.get<std::string>();
  }

  double number(double min, double max) const {
    if (!value_.is_number()) fail(fmt::format("a number from {} to {}", min, max));
    const auto v = value_.get<double>();
    if (!(v >= min && v <= max)) fail(fmt::format("a number from {} to {}", min, max));
    return v;
  }

  std::string choice(std::initializer_list<std::string_view> choices) const {
    std::string names;
    for (auto c : choices) names += fmt::format("{}\"{}\"", names.empty() ? "" : " or ", c);
    if (!value_.is_string()) fail(names);
    const auto s = value_.get<std::string>();
    for (auto c : choices)
      if (c == s) return s;
    fail(names);
  }

 private:
  const nlohmann::json& value_;
  std::string path_;
};

template <class T, class F>
void optional_field(const Node& parent, std::string_view key, T& target, F&& read) {
  if (auto node = parent.find(key)) target = read(*node);
}

// Parses JSON text; an error is a ConfigError at `origin`, a key given twice in one object is
// one at its own path ($.policy.sources.max).
nlohmann::json parse_json_text(std::string_view text, const std::string& origin);

// Parses a JSON file; errors (unreadable, not JSON) are ConfigErrors at `path_for_errors`, a key
// given twice one at its own path.
nlohmann::json read_json_file(const std::filesystem::path& file,
                              const std::string& path_for_errors);

}  // namespace sipshield
