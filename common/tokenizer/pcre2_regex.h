// A tokenizer.json regex compiled with PCRE2 (JIT when available), searched the way Hugging Face
// tokenizers searches it: successive leftmost-first matches, including empty ones, with the
// Oniguruma binding's rule for empty matches (see FindAll).
//
//   ASSIGN_OR_RETURN(auto re, Pcre2Regex::Compile(hf_pattern));
//   std::vector<Pcre2Regex::Match> m;
//   RETURN_IF_ERROR(re->FindAll(text, &m));
//
// Immutable after Compile; FindAll is const and thread-safe (per-call match data; a thread-local
// JIT stack is created only when a match needs more than PCRE2's default).
#ifndef R1_COMMON_TOKENIZER_PCRE2_REGEX_H_
#define R1_COMMON_TOKENIZER_PCRE2_REGEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tokenizer/regex_translate.h"

struct pcre2_real_code_8;

namespace r1::tok {

class Pcre2Regex {
 public:
  struct Match {
    uint32_t begin;
    uint32_t end;
  };

  // Translates `hf_pattern` (regex_translate.h) and compiles it; errors are InvalidArgument.
  static absl::StatusOr<std::unique_ptr<Pcre2Regex>> Compile(absl::string_view hf_pattern);

  ~Pcre2Regex();
  Pcre2Regex(const Pcre2Regex&) = delete;
  Pcre2Regex& operator=(const Pcre2Regex&) = delete;

  // Appends the matches in `subject` (valid UTF-8, under 4 GiB) in order: a search starts where
  // the previous match ended; an empty match at the position where the previous match ended is
  // skipped (the next search starts one character later). Fails only when PCRE2 gives up
  // (ResourceExhausted: its match or JIT stack limit).
  absl::Status FindAll(absl::string_view subject, std::vector<Match>* out) const;

  const std::string& pcre2_pattern() const { return pattern_; }

 private:
  Pcre2Regex(pcre2_real_code_8* code, std::string pattern) : code_(code), pattern_(pattern) {}

  pcre2_real_code_8* code_;
  std::string pattern_;
};

// How this PCRE2 build spells each class of kRegexClasses so that it matches exactly the
// reference's members: PCRE2's own property (\p{L}) plus the code points its older Unicode tables
// lack, or explicit ranges where its property has members the reference lacks (\s: U+180E).
// Computed once per process by scanning every code point (tens of milliseconds).
const ClassSpellings& Pcre2ClassSpellings();

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_PCRE2_REGEX_H_
