// Scoring verdicts against labels: frame shares per direction, and flows that pass only when
// every client-to-server frame passed.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "telemetry/evaluation.hpp"

using namespace sipshield;

TEST_CASE("flows pass only when all their frames toward the servers pass", "[evaluation]") {
  const std::vector<LabelledOutcome> outcomes = {
      {"legit_call", 1, true, true},  {"legit_call", 1, false, false},  // out drop: flow still ok
      {"legit_call", 1, true, true},  {"legit_call", 2, true, true},
      {"legit_call", 2, true, false}, {"atk_orphan", 3, true, false},
      {"atk_orphan", 4, true, true},  {"legit_newcomer_register", 5, true, true},
  };
  const Evaluation e = evaluate(outcomes);
  const auto& call = e.by_label.at("legit_call");
  CHECK(call.in_frames == 4);
  CHECK(call.in_passed == 3);
  CHECK(call.out_frames == 1);
  CHECK(call.out_passed == 0);
  CHECK(call.flows == 2);
  CHECK(call.flows_passed == 1);
  CHECK(e.by_label.at("atk_orphan").in_passed == 1);
  CHECK(e.groups.at("legit registered").flows == 2);
  CHECK(e.groups.at("legit newcomers").flows_passed == 1);
  CHECK(e.groups.at("attack (all kinds)").in_frames == 2);
}

TEST_CASE("labels and verdicts files are read strictly", "[evaluation]") {
  const auto dir = std::filesystem::temp_directory_path() / "sipshield-eval-test";
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "l.tsv")
        << "frame\tlabel\tflow\tdirection\n1\tlegit_ping\t1\tout\n2\tlegit_ping\t1\tin\n";
    std::ofstream(dir / "v.jsonl") << "{\"frame\": 2, \"action\": \"drop\", \"reason\": \"x\"}\n"
                                   << "{\"frame\": 1, \"action\": \"pass\", \"reason\": \"y\"}\n";
    std::ofstream(dir / "short.jsonl") << "{\"frame\": 1, \"action\": \"pass\"}\n";
  }
  const auto outcomes = read_labelled_verdicts(dir / "l.tsv", dir / "v.jsonl");
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[0].passed);
  CHECK_FALSE(outcomes[0].toward_server);
  CHECK_FALSE(outcomes[1].passed);
  CHECK_THROWS_WITH(read_labelled_verdicts(dir / "l.tsv", dir / "short.jsonl"),
                    Catch::Matchers::Contains("no verdict for frame 2"));
  std::filesystem::remove_all(dir);
}
