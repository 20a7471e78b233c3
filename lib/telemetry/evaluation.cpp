#include "telemetry/evaluation.hpp"

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sipshield {
namespace {

std::string group_of(const std::string& label) {
  if (label.rfind("legit_newcomer", 0) == 0) return "legit newcomers";
  if (label.rfind("legit", 0) == 0) return "legit registered";
  return "attack (all kinds)";
}

double pct(uint64_t part, uint64_t whole) {
  return whole ? 100.0 * double(part) / double(whole) : 0;
}

void add_flows(const std::vector<LabelledOutcome>& outcomes,
               std::map<std::string, LabelScore>& scores, bool by_group) {
  // flow -> (label, all client-to-server frames passed so far)
  std::map<std::pair<std::string, uint64_t>, bool> flows;
  for (const auto& o : outcomes) {
    if (!o.toward_server) continue;
    const auto key = std::make_pair(by_group ? group_of(o.label) : o.label, o.flow);
    auto [it, inserted] = flows.emplace(key, true);
    it->second = it->second && o.passed;
  }
  for (const auto& [key, ok] : flows) {
    ++scores[key.first].flows;
    scores[key.first].flows_passed += ok;
  }
}

}  // namespace

Evaluation evaluate(const std::vector<LabelledOutcome>& outcomes) {
  Evaluation e;
  for (const auto& o : outcomes) {
    for (auto* score : {&e.by_label[o.label], &e.groups[group_of(o.label)]}) {
      if (o.toward_server) {
        ++score->in_frames;
        score->in_passed += o.passed;
      } else {
        ++score->out_frames;
        score->out_passed += o.passed;
      }
    }
  }
  add_flows(outcomes, e.by_label, false);
  add_flows(outcomes, e.groups, true);
  return e;
}

std::string render_evaluation(const Evaluation& e) {
  std::string out = fmt::format("  {:<28} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9}\n", "label", "in",
                                "passed", "out", "passed", "flows", "ok");
  const auto row = [&out](const std::string& name, const LabelScore& s) {
    out += fmt::format("  {:<28} {:>9} {:>8.2f}% {:>9} {:>8.2f}% {:>8} {:>8.2f}%\n", name,
                       s.in_frames, pct(s.in_passed, s.in_frames), s.out_frames,
                       pct(s.out_passed, s.out_frames), s.flows, pct(s.flows_passed, s.flows));
  };
  for (const auto& [label, s] : e.by_label) row(label, s);
  out += "  " + std::string(88, '-') + "\n";
  for (const auto& [group, s] : e.groups) row(group, s);
  return out;
}

nlohmann::json evaluation_json(const Evaluation& e) {
  const auto to_json = [](const LabelScore& s) {
    return nlohmann::json{{"in_frames", s.in_frames},
                          {"in_passed", s.in_passed},
                          {"in_passed_share", pct(s.in_passed, s.in_frames) / 100},
                          {"out_frames", s.out_frames},
                          {"out_passed", s.out_passed},
                          {"out_passed_share", pct(s.out_passed, s.out_frames) / 100},
                          {"flows", s.flows},
                          {"flows_passed", s.flows_passed},
                          {"flows_passed_share", pct(s.flows_passed, s.flows) / 100}};
  };
  nlohmann::json labels = nlohmann::json::object(), groups = nlohmann::json::object();
  for (const auto& [k, v] : e.by_label) labels[k] = to_json(v);
  for (const auto& [k, v] : e.groups) groups[k] = to_json(v);
  return {{"labels", labels}, {"groups", groups}};
}

std::vector<LabelledOutcome> read_labels(const std::filesystem::path& labels) {
  std::ifstream l(labels);
  if (!l) throw std::runtime_error(fmt::format("cannot read {}", labels.string()));
  std::vector<LabelledOutcome> out;
  std::string line;
  std::getline(l, line);  // header
  for (size_t n = 2; std::getline(l, line); ++n) {
    std::istringstream fields(line);
    uint64_t frame = 0;
    LabelledOutcome o;
    std::string direction;
    if (!(fields >> frame >> o.label >> o.flow >> direction) || frame != out.size() + 1 ||
        (direction != "in" && direction != "out"))
      throw std::runtime_error(
          fmt::format("{}:{}: expected frame (in order), label, flow, "
                      "in|out",
                      labels.string(), n));
    o.toward_server = direction == "in";
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<LabelledOutcome> read_labelled_verdicts(const std::filesystem::path& labels,
                                                    const std::filesystem::path& verdicts) {
  std::vector<LabelledOutcome> out = read_labels(labels);
  std::ifstream v(verdicts);
  if (!v) throw std::runtime_error(fmt::format("cannot read {}", verdicts.string()));
  std::string line;
  std::vector<bool> seen(out.size(), false);
  for (size_t n = 1; std::getline(v, line); ++n) {
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error&) {
      throw std::runtime_error(fmt::format("{}:{}: not JSON", verdicts.string(), n));
    }
    const auto frame = j.value("frame", uint64_t{0});
    const auto action = j.value("action", std::string{});
    if (frame == 0 || frame > out.size() || (action != "pass" && action != "drop"))
      throw std::runtime_error(
          fmt::format("{}:{}: expected {{\"frame\": 1..{}, \"action\": "
                      "\"pass\"|\"drop\"}}",
                      verdicts.string(), n, out.size()));
    out[frame - 1].passed = action == "pass";
    seen[frame - 1] = true;
  }
  for (size_t i = 0; i < seen.size(); ++i)
    if (!seen[i])
      throw std::runtime_error(
          fmt::format("{}: no verdict for frame {}", verdicts.string(), i + 1));
  return out;
}

}  // namespace sipshield
