// r1-dense-greedy: the greedy continuation of a dense (Qwen2 / Llama) checkpoint computed in this
// process by the CPU engine over DenseCpuModel, without a cluster. The dense cluster test
// (test_dense_cluster.py) compares what the served API returns with it.
//
//   r1-dense-greedy --model=DIR --prompt=ID,ID,... --max_new_tokens=N [--stop_ids=ID,...]
//                   [--valid_vocab=N]
//
// Prints one JSON line: {"ids": [...], "finish": "stop" | "length"} (the ids include the token
// that stopped the sequence, as the served usage counts it).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "worker/engine/engine.h"
#include "worker/model/dense_cpu_model.h"
#include "worker/model/dense_weights.h"

ABSL_FLAG(std::string, model, "", "checkpoint directory (config.json + safetensors)");
ABSL_FLAG(std::string, prompt, "", "comma-separated prompt token ids");
ABSL_FLAG(int, max_new_tokens, 16, "tokens to generate at most");
ABSL_FLAG(std::string, stop_ids, "", "comma-separated ids that end the sequence besides EOS");
ABSL_FLAG(int64_t, valid_vocab, 0, "ids at or past this are never chosen; 0: the vocabulary");

namespace {

bool ParseIds(const std::string& text, std::vector<int>* out) {
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int id = 0;
    if (!absl::SimpleAtoi(part, &id)) return false;
    out->push_back(id);
  }
  return true;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "r1-dense-greedy: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  r1::SequenceRequest request;
  request.id = 1;
  request.max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  if (!ParseIds(absl::GetFlag(FLAGS_prompt), &request.prompt) || request.prompt.empty()) {
    return Fail("--prompt must be a comma-separated list of token ids");
  }
  if (!ParseIds(absl::GetFlag(FLAGS_stop_ids), &request.stop_ids)) {
    return Fail("--stop_ids must be a comma-separated list of token ids");
  }
  auto weights = r1::LoadDenseModelDir(absl::GetFlag(FLAGS_model));
  if (!weights.ok()) return Fail(std::string(weights.status().message()));
  r1::EngineOptions options;
  options.valid_vocab = absl::GetFlag(FLAGS_valid_vocab);
  r1::Engine engine(std::make_unique<r1::DenseCpuModel>(
                        std::shared_ptr<const r1::DenseWeights>(std::move(*weights))),
                    options);
  if (absl::Status s = engine.Submit(request); !s.ok()) return Fail(std::string(s.message()));
  std::vector<int> ids;
  r1::FinishReason finish = r1::FinishReason::kNone;
  while (!engine.Idle()) {
    auto step = engine.Step();
    if (!step.ok()) return Fail(std::string(step.status().message()));
    for (const auto& s : *step) {
      ids.insert(ids.end(), s.new_tokens.begin(), s.new_tokens.end());
      if (s.finish != r1::FinishReason::kNone) finish = s.finish;
    }
  }
  std::printf("{\"ids\": [%s], \"finish\": \"%s\"}\n", absl::StrJoin(ids, ", ").c_str(),
              finish == r1::FinishReason::kStop ? "stop" : "length");
  return 0;
}
