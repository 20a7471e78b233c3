#include "control/snapshot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"

namespace sipshield {

void write_snapshot(const std::string& path, const Snapshot& snapshot) {
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& s : snapshot.sources)
    sources.push_back({{"ip", s.ip.to_string()},
                       {"port", s.port},
                       {"trusted_until_ms", s.trusted_until_ms},
                       {"banned_until_ms", s.banned_until_ms}});
  nlohmann::json bans = nlohmann::json::array();
  for (const auto& b : snapshot.operator_bans) bans.push_back(OperatorBans::ban_to_json(b));
  nlohmann::json allows = nlohmann::json::array();
  for (const auto& p : snapshot.operator_allows) allows.push_back(p.to_string());
  const std::string text = nlohmann::json{{"format", "sipshield-state"},
                                          {"version", Snapshot::kVersion},
                                          {"written_ms", snapshot.written_ms},
                                          {"protected", snapshot.protected_services},
                                          {"sources", sources},
                                          {"operator_bans", bans},
                                          {"operator_allows", allows}}
                               .dump() +
                           "\n";
  const std::string temporary = path + ".tmp";
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    throw DataplaneError(
        fmt::format("snapshot.file: cannot write {}: {}", temporary, std::strerror(errno)));
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  const bool ok = written == text.size() && fsync(fd) == 0;
  const std::string why = std::strerror(errno);
  close(fd);
  if (!ok || rename(temporary.c_str(), path.c_str()) != 0) {
    unlink(temporary.c_str());
    throw DataplaneError(fmt::format("snapshot.file: cannot write {}: {}", path,
                                     ok ? std::strerror(errno) : why.c_str()));
  }
}

std::optional<Snapshot> read_snapshot(const std::string& path, uint64_t now_ms, uint64_t max_age_ms,
                                      const std::vector<std::string>& protected_services,
                                      std::string& why_not) {
  std::ifstream in(path);
  if (!in) {
    why_not = fmt::format("no snapshot at {} ({})", path, std::strerror(errno));
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    const auto j = nlohmann::json::parse(text.str());
    if (j.value("format", "") != "sipshield-state" ||
        j.value("version", 0u) != Snapshot::kVersion) {
      why_not =
          fmt::format("{} is not a version {} sipshield state snapshot", path, Snapshot::kVersion);
      return std::nullopt;
    }
    Snapshot s;
    s.written_ms = j.at("written_ms").get<uint64_t>();
    s.protected_services = j.at("protected").get<std::vector<std::string>>();
    if (s.written_ms > now_ms + 60'000 || now_ms - s.written_ms > max_age_ms) {
      why_not =
          fmt::format("{} was written {} s ago; snapshot.max_age_s is {}", path,
                      (static_cast<int64_t>(now_ms) - static_cast<int64_t>(s.written_ms)) / 1000,
                      max_age_ms / 1000);
      return std::nullopt;
    }
    if (s.protected_services != protected_services) {
      why_not = fmt::format("{} was written for other protected services ({})", path,
                            nlohmann::json(s.protected_services).dump());
      return std::nullopt;
    }
    for (const auto& e : j.at("sources")) {
      SnapshotSource source;
      const auto ip = IpAddress::parse(e.at("ip").get<std::string>());
      if (!ip) throw std::runtime_error("a source's ip is not an address: " + e.at("ip").dump());
      source.ip = *ip;
      source.port = e.at("port").get<uint16_t>();
      source.trusted_until_ms = e.at("trusted_until_ms").get<uint64_t>();
      source.banned_until_ms = e.at("banned_until_ms").get<uint64_t>();
      s.sources.push_back(source);
    }
    for (const auto& b : j.at("operator_bans"))
      s.operator_bans.push_back(OperatorBans::ban_from_json(b));
    for (const auto& a : j.value("operator_allows", nlohmann::json::array())) {
      const auto prefix = IpPrefix::parse(a.get<std::string>());
      if (!prefix) throw std::runtime_error("an operator allow is not a prefix: " + a.dump());
      s.operator_allows.push_back(*prefix);
    }
    return s;
  } catch (const std::exception& e) {
    why_not = fmt::format("{} is damaged: {}", path, e.what());
    return std::nullopt;
  }
}

}  // namespace sipshield
