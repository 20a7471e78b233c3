// Scores verdicts against the generator's labels: per label, the share of frames passed in each
// direction, and flow-level success (a flow passes when all its client-to-server frames pass).
// Used by sipshield-eval and by the demo's report.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sipshield {

struct LabelledOutcome {
  std::string label;
  uint64_t flow = 0;
  bool toward_server = true;
  bool passed = false;
};

struct LabelScore {
  uint64_t in_frames = 0, in_passed = 0;    // toward the protected servers
  uint64_t out_frames = 0, out_passed = 0;  // from them
  uint64_t flows = 0, flows_passed = 0;     // flows with at least one frame toward the servers
};

struct Evaluation {
  std::map<std::string, LabelScore> by_label;
  // Aggregates: "legit (registered before the floods)", "legit newcomers", "attack".
  std::map<std::string, LabelScore> groups;
};

Evaluation evaluate(const std::vector<LabelledOutcome>& outcomes);

std::string render_evaluation(const Evaluation& e);
nlohmann::json evaluation_json(const Evaluation& e);

// Reads PREFIX.labels.tsv (frame, label, flow, direction), every outcome not passed; throws
// std::runtime_error naming the file and line.
std::vector<LabelledOutcome> read_labels(const std::filesystem::path& labels);

// Reads PREFIX.labels.tsv (frame, label, flow, direction) and a verdicts JSONL
// ({"frame": N, "action": ...}); throws std::runtime_error naming the file and line.
std::vector<LabelledOutcome> read_labelled_verdicts(const std::filesystem::path& labels,
                                                    const std::filesystem::path& verdicts);

}  // namespace sipshield
