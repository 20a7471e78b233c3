// The two kinds of start-up failure every program reports in one line: a configuration that
// says something wrong (with the JSON path of the value), and an environment that refused
// (EAL, ports, memory, files).
#pragma once

#include <stdexcept>
#include <string>

namespace sipshield {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& path, const std::string& message)
      : std::runtime_error(path + ": " + message), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class DataplaneError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace sipshield
