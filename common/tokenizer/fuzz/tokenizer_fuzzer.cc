// libFuzzer target for the tokenizer (r1-tiny's tokenizer.json), two properties per input:
//   1. Encode: the bytes as text, in every added-token mode, with and without the
//      post-processor's BOS. Invalid UTF-8 must be InvalidArgument (and only invalid UTF-8 may
//      fail); valid text must give valid ids that Decode back to exactly the text (BOS text
//      first when it was added): byte-level BPE with no normalizer round-trips every string.
//   2. Decode: the bytes as little-endian 16-bit values, each taken modulo id_limit() + 16 (so a
//      few ids are unknown), decoded with and without skip_special_tokens. A list with an unknown
//      id must be InvalidArgument; any other list decodes to valid UTF-8 (bad byte sequences
//      become U+FFFD) whose Encode → Decode gives the same text again.
// Never a crash, hang or sanitizer report. Run: scripts/fuzz.sh (FUZZ_TARGETS=tokenizer_fuzzer).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/tokenizer/fuzz/fuzz_support.h"
#include "common/tokenizer/unicode.h"

namespace {

using r1::fuzz::TinyTokenizer;
using r1::tok::AddedTokenMatching;
using r1::tok::EncodeOptions;

bool ValidUtf8(absl::string_view s) {
  return r1::tok::FindInvalidUtf8(s) == absl::string_view::npos;
}

void CheckEncode(absl::string_view text) {
  const auto& tok = TinyTokenizer();
  const bool valid = ValidUtf8(text);
  std::string prefix, suffix;
  for (int32_t id : tok.prefix_ids()) prefix += std::string(tok.TokenBytes(id));
  for (int32_t id : tok.suffix_ids()) suffix += std::string(tok.TokenBytes(id));
  for (AddedTokenMatching mode :
       {AddedTokenMatching::kAll, AddedTokenMatching::kNonSpecial, AddedTokenMatching::kNone}) {
    for (bool add_special : {false, true}) {
      EncodeOptions options;
      options.add_special_tokens = add_special;
      options.added_tokens = mode;
      auto ids = tok.Encode(text, options);
      if (!valid) {
        R1_FUZZ_CHECK(!ids.ok());
        R1_FUZZ_CHECK(ids.status().code() == absl::StatusCode::kInvalidArgument);
        continue;
      }
      R1_FUZZ_CHECK(ids.ok());
      for (int32_t id : *ids) R1_FUZZ_CHECK(tok.IsValidId(id));
      auto back = tok.Decode(*ids);
      R1_FUZZ_CHECK(back.ok());
      if (add_special) {
        R1_FUZZ_CHECK(*back == prefix + std::string(text) + suffix);
      } else {
        R1_FUZZ_CHECK(*back == text);
      }
    }
  }
}

void CheckDecode(const uint8_t* data, size_t size) {
  const auto& tok = TinyTokenizer();
  std::vector<int32_t> ids;
  bool all_valid = true;
  const uint32_t range = static_cast<uint32_t>(tok.id_limit()) + 16;
  for (size_t i = 0; i + 1 < size; i += 2) {
    const uint32_t v = static_cast<uint32_t>(data[i]) | (static_cast<uint32_t>(data[i + 1]) << 8);
    ids.push_back(static_cast<int32_t>(v % range));
    all_valid = all_valid && tok.IsValidId(ids.back());
  }
  for (bool skip_special : {false, true}) {
    auto text = tok.Decode(ids, skip_special);
    if (!all_valid) {
      R1_FUZZ_CHECK(!text.ok());
      R1_FUZZ_CHECK(text.status().code() == absl::StatusCode::kInvalidArgument);
      continue;
    }
    R1_FUZZ_CHECK(text.ok());
    R1_FUZZ_CHECK(ValidUtf8(*text));
    auto again = tok.Encode(*text);
    R1_FUZZ_CHECK(again.ok());
    auto back = tok.Decode(*again);
    R1_FUZZ_CHECK(back.ok());
    R1_FUZZ_CHECK(*back == *text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckEncode(absl::string_view(reinterpret_cast<const char*>(data), size));
  CheckDecode(data, size);
  return 0;
}
