#include "common/tokenizer/pcre2_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tokenizer/unicode.h"

namespace r1::tok {
namespace {

constexpr uint32_t kCompileOptions = PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE;

std::string PcreMessage(int code) {
  PCRE2_UCHAR buf[256];
  if (pcre2_get_error_message(code, buf, sizeof(buf)) < 0) return absl::StrCat("error ", code);
  return std::string(reinterpret_cast<const char*>(buf));
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data* md) const { pcre2_match_data_free(md); }
};
using MatchData = std::unique_ptr<pcre2_match_data, MatchDataDeleter>;

// A JIT stack of up to 64 MiB for this thread, for the rare match that outgrows PCRE2's default
// 32 KiB; created on first need and freed when the thread exits.
class BigJitStack {
 public:
  ~BigJitStack() {
    if (ctx_ != nullptr) pcre2_match_context_free(ctx_);
    if (stack_ != nullptr) pcre2_jit_stack_free(stack_);
  }
  pcre2_match_context* context() {
    if (ctx_ == nullptr) {
      stack_ = pcre2_jit_stack_create(64 << 10, 64 << 20, nullptr);
      ctx_ = pcre2_match_context_create(nullptr);
      if (stack_ != nullptr && ctx_ != nullptr) pcre2_jit_stack_assign(ctx_, nullptr, stack_);
    }
    return ctx_;
  }

 private:
  pcre2_match_context* ctx_ = nullptr;
  pcre2_jit_stack* stack_ = nullptr;
};

pcre2_code* CompileRaw(const std::string& pattern, int* error, PCRE2_SIZE* offset) {
  pcre2_compile_context* cc = pcre2_compile_context_create(nullptr);
  if (cc == nullptr) return nullptr;
  pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   kCompileOptions, error, offset, cc);
  pcre2_compile_context_free(cc);
  if (code != nullptr) pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // else: the interpreter
  return code;
}

// Ranges of `a` not in `b` (both sorted and disjoint).
std::vector<CodepointRange> Subtract(const std::vector<CodepointRange>& a,
                                     absl::Span<const CodepointRange> b) {
  std::vector<CodepointRange> out;
  size_t j = 0;
  for (CodepointRange r : a) {
    char32_t lo = r.lo;
    while (j < b.size() && b[j].hi < lo) ++j;
    size_t k = j;
    bool done = false;
    while (k < b.size() && b[k].lo <= r.hi) {
      if (b[k].lo > lo) out.push_back({lo, b[k].lo - 1});
      if (b[k].hi >= r.hi) {
        done = true;
        break;
      }
      lo = b[k].hi + 1;
      ++k;
    }
    if (!done) out.push_back({lo, r.hi});
  }
  return out;
}

// The members of PCRE2's own `klass` (such as "\\p{L}"), read by matching it against every
// scalar value; nullopt when it does not compile.
std::optional<std::vector<CodepointRange>> NativeMembers(const std::string& all,
                                                         const std::string& klass) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = CompileRaw("[" + klass + "]+", &error, &offset);
  if (code == nullptr) return std::nullopt;
  MatchData md(pcre2_match_data_create(1, nullptr));
  std::vector<CodepointRange> out;
  size_t pos = 0;
  while (pos < all.size()) {
    const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(all.data()), all.size(), pos,
                               PCRE2_NO_UTF_CHECK, md.get(), nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    char32_t first = 0, last = 0;
    DecodeUtf8(all.data() + ov[0], all.size() - ov[0], &first);
    size_t back = ov[1] - 1;
    while ((static_cast<unsigned char>(all[back]) & 0xC0) == 0x80) --back;
    DecodeUtf8(all.data() + back, all.size() - back, &last);
    if (first < 0xD800 && last >= 0xE000) {  // the subject skips the surrogates
      out.push_back({first, 0xD7FF});
      out.push_back({0xE000, last});
    } else {
      out.push_back({first, last});
    }
    pos = ov[1];
  }
  pcre2_code_free(code);
  return out;
}

}  // namespace

const ClassSpellings& Pcre2ClassSpellings() {
  static const ClassSpellings* const spellings = [] {
    auto* s = new ClassSpellings(ExplicitClassSpellings());
    std::string all;
    all.reserve(4 << 20);
    for (char32_t c = 0; c <= 0x10FFFF; ++c) {
      if (c < 0xD800 || c >= 0xE000) AppendUtf8(c, &all);
    }
    constexpr const char* kNative[] = {"\\p{L}", "\\p{M}", "\\p{N}", "\\p{P}", "\\p{S}", "\\s"};
    for (size_t i = 0; i < kRegexClasses.size(); ++i) {
      const auto ours = ClassRanges(kRegexClasses[i]);
      std::optional<std::vector<CodepointRange>> native = NativeMembers(all, kNative[i]);
      if (!native.has_value() || !Subtract(*native, ours).empty()) continue;  // keep explicit
      (*s)[i].native = kNative[i];
      (*s)[i].extra = Subtract(std::vector<CodepointRange>(ours.begin(), ours.end()), *native);
    }
    return s;
  }();
  return *spellings;
}

absl::StatusOr<std::unique_ptr<Pcre2Regex>> Pcre2Regex::Compile(absl::string_view hf_pattern) {
  ASSIGN_OR_RETURN(TranslatedRegex t, TranslateHfRegex(hf_pattern, Pcre2ClassSpellings()));
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = CompileRaw(t.pcre2, &error, &offset);
  if (code == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("regex does not compile: ", PcreMessage(error),
                                                   " (PCRE2 offset ", offset, ")"));
  }
  return std::unique_ptr<Pcre2Regex>(new Pcre2Regex(code, std::move(t.pcre2)));
}

Pcre2Regex::~Pcre2Regex() { pcre2_code_free(code_); }

absl::Status Pcre2Regex::FindAll(absl::string_view subject, std::vector<Match>* out) const {
  thread_local BigJitStack big_stack;
  MatchData md(pcre2_match_data_create(1, nullptr));
  if (md == nullptr) return absl::ResourceExhaustedError("pcre2_match_data_create failed");
  pcre2_match_context* ctx = nullptr;
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  const size_t n = subject.size();
  size_t start = 0;
  std::optional<size_t> last_match_end;
  while (start <= n) {
    const int rc = pcre2_match(code_, s, n, start, PCRE2_NO_UTF_CHECK, md.get(), ctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && ctx == nullptr) {
      ctx = big_stack.context();
      if (ctx != nullptr) continue;
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      return absl::ResourceExhaustedError(absl::StrCat("pre-tokenizer regex gave up on a text of ",
                                                       n, " bytes: ", PcreMessage(rc)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    const size_t b = ov[0], e = ov[1];
    if (b == e && last_match_end == e) {
      // An empty match right where the last one ended: skip one character.
      char32_t cp;
      const int len = start < n ? DecodeUtf8(subject.data() + start, n - start, &cp) : 0;
      start += len > 0 ? static_cast<size_t>(len) : 1;
      continue;
    }
    start = e;
    last_match_end = e;
    out->push_back({static_cast<uint32_t>(b), static_cast<uint32_t>(e)});
  }
  return absl::OkStatus();
}

}  // namespace r1::tok
