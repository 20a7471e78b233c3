// sipshield-eval: how well did the filter do on a labelled capture?
//   sipshield-eval --labels PREFIX.labels.tsv --verdicts V.jsonl [--json OUT.json]
#include <getopt.h>

#include <fstream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "telemetry/evaluation.hpp"

namespace {

constexpr const char* kUsage =
    R"(usage: sipshield-eval --labels PREFIX.labels.tsv --verdicts V.jsonl [--json OUT.json]

Scores a filter's verdicts (sipshield-inspect --verdicts) against the labels sipshield-gen wrote
for the same capture: per label and per group, the share of frames and flows that passed.

  --labels FILE     PREFIX.labels.tsv from sipshield-gen --out PREFIX
  --verdicts FILE   one JSON line per frame, in capture order, from sipshield-inspect --verdicts
  --json FILE       write the scores as JSON to FILE as well
  --help            this text
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace sipshield;
  std::optional<std::string> labels, verdicts, json_out;
  static const option kOptions[] = {{"labels", required_argument, nullptr, 'l'},
                                    {"verdicts", required_argument, nullptr, 'v'},
                                    {"json", required_argument, nullptr, 'j'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  for (int c; (c = getopt_long(argc, argv, "", kOptions, nullptr)) != -1;) {
    switch (c) {
      case 'l':
        labels = optarg;
        break;
      case 'v':
        verdicts = optarg;
        break;
      case 'j':
        json_out = optarg;
        break;
      case 'h':
        fmt::print("{}", kUsage);
        return 0;
      default:
        fmt::print(stderr, "{}", kUsage);
        return 2;
    }
  }
  if (!labels || !verdicts || optind != argc) {
    fmt::print(stderr, "sipshield-eval: --labels and --verdicts are required\n{}", kUsage);
    return 2;
  }
  try {
    const Evaluation e = evaluate(read_labelled_verdicts(*labels, *verdicts));
    fmt::print("{}", render_evaluation(e));
    if (json_out) {
      std::ofstream out(*json_out);
      if (!out) throw std::runtime_error(fmt::format("cannot write {}", *json_out));
      out << evaluation_json(e).dump(2) << "\n";
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "sipshield-eval: {}\n", e.what());
    return 1;
  }
  return 0;
}
