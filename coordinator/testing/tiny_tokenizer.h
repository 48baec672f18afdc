// The repository's tiny tokenizer (models/r1-tiny) for coordinator tests: loaded once per process,
// its EOS, and text as ids. Header-only; for tests only (target r1_coordinator_test_util). The
// functions are thread-safe (the tokenizer is immutable once loaded).
#ifndef R1_COORDINATOR_TESTING_TINY_TOKENIZER_H_
#define R1_COORDINATOR_TESTING_TINY_TOKENIZER_H_

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "gtest/gtest.h"

namespace r1::testing {

inline constexpr char kTinyTokenizer[] = "models/r1-tiny/tokenizer.json";
inline constexpr char kModelId[] = "r1-tiny";
inline constexpr char kEos[] = "<｜end▁of▁sentence｜>";

// The repository's tiny tokenizer, loaded once per process.
inline const tok::Tokenizer& TinyTokenizer() {
  static const tok::Tokenizer* t = [] {
    auto loaded = tok::Tokenizer::LoadFromFile(kTinyTokenizer);
    if (!loaded.ok()) {
      ADD_FAILURE() << loaded.status();
      std::abort();
    }
    return loaded->release();
  }();
  return *t;
}

inline int32_t EosId() { return *TinyTokenizer().AddedTokenId(kEos); }

// Ids of `text` (added tokens matched), with EOS appended when `eos`.
inline std::vector<int32_t> Ids(const std::string& text, bool eos = true) {
  auto ids = TinyTokenizer().Encode(text);
  EXPECT_TRUE(ids.ok()) << ids.status();
  std::vector<int32_t> out = ids.ok() ? *ids : std::vector<int32_t>{};
  if (eos) out.push_back(EosId());
  return out;
}

}  // namespace r1::testing

#endif  // R1_COORDINATOR_TESTING_TINY_TOKENIZER_H_
