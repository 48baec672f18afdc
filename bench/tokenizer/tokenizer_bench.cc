// Single-threaded encode throughput of r1::tok::Tokenizer on a JSON-lines corpus ({"text": ...}
// per line). Prints one JSON line: documents, bytes, tokens, best time over --reps passes.
// Driven by bench/tokenizer/run.sh, which runs Hugging Face tokenizers on the same corpus.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, tokenizer, "models/r1-tiny/tokenizer.json", "tokenizer.json");
ABSL_FLAG(std::string, corpus, "", "JSON lines with a \"text\" field");
ABSL_FLAG(int, reps, 5, "timed passes over the corpus (the best is reported)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto tok = r1::tok::Tokenizer::LoadFromFile(absl::GetFlag(FLAGS_tokenizer));
  if (!tok.ok()) {
    std::fprintf(stderr, "%s\n", tok.status().ToString().c_str());
    return 1;
  }
  std::ifstream in(absl::GetFlag(FLAGS_corpus));
  std::vector<std::string> docs;
  size_t bytes = 0;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("text") || !j["text"].is_string()) continue;
    docs.push_back(j["text"].get<std::string>());
    bytes += docs.back().size();
  }
  if (docs.empty()) {
    std::fprintf(stderr, "no documents in --corpus\n");
    return 1;
  }
  double best = 1e30;
  size_t tokens = 0;
  std::vector<int32_t> ids;
  for (int rep = 0; rep < absl::GetFlag(FLAGS_reps); ++rep) {
    tokens = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (const std::string& d : docs) {
      ids.clear();
      if (!(*tok)->EncodeAppend(d, {}, &ids).ok()) return 1;
      tokens += ids.size();
    }
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    best = std::min(best, dt.count());
  }
  std::printf(
      "{\"impl\":\"r1serve\",\"docs\":%zu,\"bytes\":%zu,\"tokens\":%zu,\"best_s\":%.6f,"
      "\"mb_per_s\":%.3f}\n",
      docs.size(), bytes, tokens, best, bytes / best / 1e6);
  return 0;
}
