#include "dataplane/telemetry_commands.hpp"

#include <rte_telemetry.h>

#include <map>
#include <mutex>
#include <vector>

#include <fmt/format.h>

namespace sipshield {
namespace {

constexpr const char* kCommands[][2] = {
    {"stats", "frames in, forwarded and dropped per port, uptime, workers"},
    {"workers", "each worker's frames in, forwarded and dropped"},
    {"reasons", "frames passed and dropped per verdict reason (those seen)"},
    {"sources", "table occupancy: sources, probation, verified, dialogs, familiar prefixes"},
    {"bans", "bans in force: by the policy (counted from events) and by operators"},
    {"config", "the config in force"},
};

std::mutex g_mutex;
std::map<std::string, std::vector<std::pair<std::string, nlohmann::json>>> g_answers;

// {"a": {"b": 1}, "c": [2]} as [("a/b", 1), ("c/0", 2)], at most `limit` leaves.
void flatten(const nlohmann::json& j, const std::string& prefix,
             std::vector<std::pair<std::string, nlohmann::json>>& out, size_t limit) {
  if (out.size() >= limit) return;
  if (j.is_object() || j.is_array()) {
    size_t i = 0;
    for (auto it = j.begin(); it != j.end(); ++it, ++i) {
      const std::string key = j.is_object() ? it.key() : std::to_string(i);
      flatten(*it, prefix.empty() ? key : prefix + "/" + key, out, limit);
    }
    return;
  }
  out.emplace_back(prefix, j);
}

int answer(const char* command, const char*, rte_tel_data* d) {
  const std::string name = std::string(command).substr(std::string("/sipshield/").size());
  rte_tel_data_start_dict(d);
  std::lock_guard lock(g_mutex);
  const auto it = g_answers.find(name);
  if (it == g_answers.end()) {
    rte_tel_data_add_dict_string(d, "status", "not published yet");
    return 0;
  }
  for (const auto& [key, value] : it->second) {
    const std::string k = key.substr(0, RTE_TEL_MAX_STRING_LEN - 1);
    if (value.is_number_unsigned()) {
      rte_tel_data_add_dict_u64(d, k.c_str(), value.get<uint64_t>());
    } else if (value.is_number_integer()) {
      rte_tel_data_add_dict_int(d, k.c_str(), static_cast<int>(value.get<int64_t>()));
    } else {
      const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      rte_tel_data_add_dict_string(d, k.c_str(),
                                   text.substr(0, RTE_TEL_MAX_STRING_LEN - 1).c_str());
    }
  }
  return 0;
}

}  // namespace

void register_telemetry_commands() {
  for (const auto& [name, help] : kCommands)
    rte_telemetry_register_cmd(fmt::format("/sipshield/{}", name).c_str(), answer, help);
}

void publish_telemetry(const std::string& name, const nlohmann::json& value) {
  std::vector<std::pair<std::string, nlohmann::json>> flat;
  flatten(value, "", flat, RTE_TEL_MAX_DICT_ENTRIES);
  if (flat.size() == RTE_TEL_MAX_DICT_ENTRIES)
    flat.back() = {"truncated", "true (see sipshield-ctl)"};
  std::lock_guard lock(g_mutex);
  g_answers[name] = std::move(flat);
}

}  // namespace sipshield
