// Shared by the libFuzzer targets (never linked into r1serve's binaries): the repository's r1-tiny
// tokenizer, loaded once per process, and R1_FUZZ_CHECK, which reports a broken invariant and
// aborts so that libFuzzer saves the input that broke it.
//
// The tokenizer is models/r1-tiny/tokenizer.json under R1_SOURCE_DIR (defined by CMake's
// r1_fuzz_target), or the file named by $R1_FUZZ_TOKENIZER. Header-only; thread-safe.
#ifndef R1_COMMON_TOKENIZER_FUZZ_FUZZ_SUPPORT_H_
#define R1_COMMON_TOKENIZER_FUZZ_FUZZ_SUPPORT_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/tokenizer/tokenizer.h"

#define R1_FUZZ_CHECK(cond)                                                                  \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace r1::fuzz {

inline const tok::Tokenizer& TinyTokenizer() {
  static const tok::Tokenizer* const tokenizer = [] {
    const char* env = std::getenv("R1_FUZZ_TOKENIZER");
    const std::string path =
        env != nullptr ? env : std::string(R1_SOURCE_DIR) + "/models/r1-tiny/tokenizer.json";
    auto loaded = tok::Tokenizer::LoadFromFile(path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "fuzz: cannot load the tokenizer: %s\n",
                   std::string(loaded.status().message()).c_str());
      std::abort();
    }
    return loaded->release();
  }();
  return *tokenizer;
}

}  // namespace r1::fuzz

#endif  // R1_COMMON_TOKENIZER_FUZZ_FUZZ_SUPPORT_H_
