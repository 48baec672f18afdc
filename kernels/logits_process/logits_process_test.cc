// CPU reference test (runs everywhere): each rule by hand — biases in CSR order (repeated ids,
// −inf bans), the repetition penalty on both signs and on prompt-only ids, frequency and
// presence penalties on generated ids only (f·c + p rounded once), the order of the four steps,
// the padding mask, null arrays as their defaults, rows with offsets not starting at 0 — and
// every validation error, with the logits untouched when the contents are rejected.
#include "kernels/logits_process/logits_process.h"

#include <cmath>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

namespace r1::kernels {
namespace {

constexpr int64_t kVocab = 8, kStride = 10;

// One row of kStride values: logits[i] = base[i] for i < kVocab, 77 in the stride padding.
std::vector<float> Row(std::vector<float> base) {
  base.resize(kStride, 77.0f);
  return base;
}

LogitsProcessParams OneRow(float* logits) {
  LogitsProcessParams p;
  p.logits = logits;
  p.logits_stride = kStride;
  p.rows = 1;
  p.vocab = kVocab;
  p.valid_vocab = kVocab;
  return p;
}

bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(LogitsProcessReferenceTest, BiasesAddInCsrOrder) {
  auto l = Row({1, 1, 2, 3, 4, 5, 6, 7});
  // id 0: 1 + 1e8 → 1e8 (ulp 8), − 1e8 → 0, + 1 → 1 (any other order gives 0 or 2);
  // id 3 banned; id 5 twice (+0.5 then +0.25).
  const std::vector<int32_t> off = {0, 6}, ids = {0, 5, 0, 3, 0, 5};
  const std::vector<float> val = {1e8f, 0.5f, -1e8f, -INFINITY, 1.0f, 0.25f};
  auto p = OneRow(l.data());
  p.bias_offsets = off.data();
  p.bias_ids = ids.data();
  p.bias_values = val.data();
  ASSERT_TRUE(LogitsProcessReference(p).ok());
  EXPECT_EQ(l[0], 1.0f);
  EXPECT_EQ(l[1], 1.0f);
  EXPECT_EQ(l[2], 2.0f);
  EXPECT_EQ(l[3], -INFINITY);
  EXPECT_EQ(l[5], 5.75f);
  EXPECT_EQ(l[7], 7.0f);
  EXPECT_EQ(l[8], 77.0f);  // past vocab: untouched
  EXPECT_EQ(l[9], 77.0f);
}

TEST(LogitsProcessReferenceTest, RepetitionPenaltyBothSignsAndPromptIds) {
  auto l = Row({2, -3, 0, 5, 1.5f, -0.5f, 6, 7});
  const std::vector<int32_t> off = {0, 5}, ids = {0, 1, 2, 4, 5}, counts = {0, 2, 0, 1, 0};
  const float rep = 2.0f;
  auto p = OneRow(l.data());
  p.repetition_penalty = &rep;
  p.history_offsets = off.data();
  p.history_ids = ids.data();
  p.history_output_counts = counts.data();
  ASSERT_TRUE(LogitsProcessReference(p).ok());
  EXPECT_EQ(l[0], 1.0f);   // 2 > 0: divided (prompt-only id)
  EXPECT_EQ(l[1], -6.0f);  // −3: multiplied
  EXPECT_EQ(l[2], 0.0f);   // 0 is not > 0: multiplied, stays 0
  EXPECT_EQ(l[3], 5.0f);   // not in the history
  EXPECT_EQ(l[4], 0.75f);  // generated id: divided
  EXPECT_EQ(l[5], -1.0f);  // prompt-only negative: multiplied
  // No frequency or presence step: counts alone change nothing.
}

TEST(LogitsProcessReferenceTest, FrequencyAndPresenceOnGeneratedIdsOnly) {
  auto l = Row({5, 5, 5, 5, 5, 5, 5, 5});
  const std::vector<int32_t> off = {0, 3}, ids = {1, 2, 6}, counts = {3, 0, 1};
  const float f = 0.5f, pres = 1.0f;
  auto p = OneRow(l.data());
  p.frequency_penalty = &f;
  p.presence_penalty = &pres;
  p.history_offsets = off.data();
  p.history_ids = ids.data();
  p.history_output_counts = counts.data();
  ASSERT_TRUE(LogitsProcessReference(p).ok());
  EXPECT_EQ(l[1], 2.5f);  // 5 − (0.5·3 + 1)
  EXPECT_EQ(l[2], 5.0f);  // prompt only: no frequency/presence penalty
  EXPECT_EQ(l[6], 3.5f);  // 5 − (0.5·1 + 1)
  EXPECT_EQ(l[0], 5.0f);
}

TEST(LogitsProcessReferenceTest, FrequencyTermRoundedOnce) {
  // f·c + p in exact arithmetic (exact in double here) rounded once to float: 0.9000000358,
  // where rounding f·c first would give 0.8999999762.
  const float f = 0.1f, pres = 0.2f, logit = 1.0f;
  const int32_t c = 7;
  const float term = static_cast<float>(static_cast<double>(f) * c + static_cast<double>(pres));
  auto l = Row({logit, 0, 0, 0, 0, 0, 0, 0});
  const std::vector<int32_t> off = {0, 1}, ids = {0}, counts = {c};
  auto p = OneRow(l.data());
  p.frequency_penalty = &f;
  p.presence_penalty = &pres;
  p.history_offsets = off.data();
  p.history_ids = ids.data();
  p.history_output_counts = counts.data();
  ASSERT_TRUE(LogitsProcessReference(p).ok());
  EXPECT_TRUE(SameBits(l[0], logit - term)) << l[0] << " vs " << logit - term;
}

TEST(LogitsProcessReferenceTest, NullPenaltiesAreDefaults) {
  // Presence only (frequency null = 0) and frequency only (presence null = 0).
  const std::vector<int32_t> off = {0, 2}, ids = {0, 1}, counts = {2, 0};
  {
    auto l = Row({4, 4, 4, 4, 4, 4, 4, 4});
    const float pres = 1.5f;
    auto p = OneRow(l.data());
    p.presence_penalty = &pres;
    p.history_offsets = off.data();
    p.history_ids = ids.data();
    p.history_output_counts = counts.data();
    ASSERT_TRUE(LogitsProcessReference(p).ok());
    EXPECT_EQ(l[0], 2.5f);
    EXPECT_EQ(l[1], 4.0f);
  }
  {
    auto l = Row({4, 4, 4, 4, 4, 4, 4, 4});
    const float f = 1.5f;
    auto p = OneRow(l.data());
    p.frequency_penalty = &f;
    p.history_offsets = off.data();
    p.history_ids = ids.data();
    p.history_output_counts = counts.data();
    ASSERT_TRUE(LogitsProcessReference(p).ok());
    EXPECT_EQ(l[0], 1.0f);  // 4 − 1.5·2
    EXPECT_EQ(l[1], 4.0f);
  }
  {
    // History given but no penalty array: nothing changes.
    auto l = Row({4, -4, 4, 4, 4, 4, 4, 4});
    auto p = OneRow(l.data());
    p.history_offsets = off.data();
    p.history_ids = ids.data();
    p.history_output_counts = counts.data();
    ASSERT_TRUE(LogitsProcessReference(p).ok());
    EXPECT_EQ(l, Row({4, -4, 4, 4, 4, 4, 4, 4}));
  }
}

TEST(LogitsProcessReferenceTest, StepOrder) {
  // id 0: bias before repetition: (1 + 3) / 2 = 2, then − (1·1 + 0.5) = 0.5
  //   (repetition first would give 1/2 + 3 − 1.5 = 2).
  // id 1: repetition before frequency: 4 / 2 − (1·1 + 0.5) = 0.5
  //   (frequency first would give (4 − 1.5) / 2 = 1.25).
  // id 3: 0.5 / 2 − 1.5 = −1.25 (frequency first: (0.5 − 1.5)·2 = −2).
  // id 7: past valid_vocab: −inf even with a bias and a penalty.
  auto l = Row({1, 4, 1, 0.5f, 0, 0, 0, 7});
  const std::vector<int32_t> boff = {0, 2}, bids = {0, 7};
  const std::vector<float> bval = {3.0f, 100.0f};
  const std::vector<int32_t> hoff = {0, 4}, hids = {0, 1, 3, 7}, counts = {1, 1, 1, 1};
  const float rep = 2.0f, f = 1.0f, pres = 0.5f;
  auto p = OneRow(l.data());
  p.valid_vocab = 7;
  p.bias_offsets = boff.data();
  p.bias_ids = bids.data();
  p.bias_values = bval.data();
  p.repetition_penalty = &rep;
  p.frequency_penalty = &f;
  p.presence_penalty = &pres;
  p.history_offsets = hoff.data();
  p.history_ids = hids.data();
  p.history_output_counts = counts.data();
  ASSERT_TRUE(LogitsProcessReference(p).ok());
  EXPECT_EQ(l[0], 0.5f);
  EXPECT_EQ(l[1], 0.5f);
  EXPECT_EQ(l[2], 1.0f);  // not in the history
  EXPECT_EQ(l[3], -1.25f);
  EXPECT_EQ(l[7], -INFINITY);
  EXPECT_EQ(l[8], 77.0f);
}

TEST(LogitsProcessReferenceTest, PaddingMaskOnly) {
  auto l = Row({1, 2, 3, 4, 5, 6, 7, 8});
  auto p = OneRow(l.data());
  p.valid_vocab = 5;
  ASSERT_TRUE(LogitsProcessReference(p).ok());
  EXPECT_EQ(l, Row({1, 2, 3, 4, 5, -INFINITY, -INFINITY, -INFINITY}));
  p.valid_vocab = kVocab;  // nothing masked
  auto m = Row({1, 2, 3, 4, 5, 6, 7, 8});
  p.logits = m.data();
  ASSERT_TRUE(LogitsProcessReference(p).ok());
  EXPECT_EQ(m, Row({1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(LogitsProcessReferenceTest, SeveralRowsWithOwnParameters) {
  // Two rows; CSR offsets start at 2 (the arrays' first entries belong to no row here).
  std::vector<float> l = Row({1, 1, 1, 1, 1, 1, 1, 1});
  const auto r1 = Row({-2, 2, -2, 2, -2, 2, -2, 2});
  l.insert(l.end(), r1.begin(), r1.end());
  const std::vector<int32_t> hoff = {2, 3, 5}, hids = {6, 6, 0, 1, 2}, counts = {9, 9, 1, 0, 2};
  const std::vector<int32_t> boff = {2, 2, 3}, bids = {5, 5, 3};
  const std::vector<float> bval = {9.0f, 9.0f, 0.5f};
  const float rep[2] = {1.0f, 4.0f}, f[2] = {0.25f, 0.0f}, pres[2] = {0.0f, 1.0f};
  LogitsProcessParams p;
  p.logits = l.data();
  p.logits_stride = kStride;
  p.rows = 2;
  p.vocab = kVocab;
  p.valid_vocab = 7;
  p.repetition_penalty = rep;
  p.frequency_penalty = f;
  p.presence_penalty = pres;
  p.history_offsets = hoff.data();
  p.history_ids = hids.data();
  p.history_output_counts = counts.data();
  p.bias_offsets = boff.data();
  p.bias_ids = bids.data();
  p.bias_values = bval.data();
  ASSERT_TRUE(LogitsProcessReference(p).ok());
  // Row 0: history {id 0, count 1}: 1 / 1 − 0.25 = 0.75; no biases; id 7 masked.
  EXPECT_EQ(std::vector<float>(l.begin(), l.begin() + kStride),
            Row({0.75f, 1, 1, 1, 1, 1, 1, -INFINITY}));
  // Row 1: bias id 3 +0.5 → 2.5; history id 1 (prompt) 2/4 = 0.5, id 2 (count 2) −2·4 − 1 = −9.
  EXPECT_EQ(std::vector<float>(l.begin() + kStride, l.end()),
            Row({-2, 0.5f, -9, 2.5f, -2, 2, -2, -INFINITY}));
}

TEST(LogitsProcessReferenceTest, Validation) {
  float l[kStride] = {};
  const int32_t off[2] = {0, 0}, ids[1] = {0};
  const float one = 1.0f;
  auto ok = OneRow(l);
  EXPECT_TRUE(ValidateLogitsProcess(ok).ok());
  auto bad = ok;
  bad.rows = -1;
  EXPECT_FALSE(ValidateLogitsProcess(bad).ok());
  bad = ok, bad.vocab = 0, bad.valid_vocab = 0;
  EXPECT_FALSE(ValidateLogitsProcess(bad).ok());
  bad = ok, bad.vocab = bad.logits_stride = int64_t{1} << 31;
  EXPECT_FALSE(ValidateLogitsProcess(bad).ok());
  bad = ok, bad.logits_stride = kVocab - 1;
  EXPECT_FALSE(ValidateLogitsProcess(bad).ok());
  bad = ok, bad.valid_vocab = 0;
  EXPECT_FALSE(ValidateLogitsProcess(bad).ok());
  bad = ok, bad.valid_vocab = kVocab + 1;
  EXPECT_FALSE(ValidateLogitsProcess(bad).ok());
  bad = ok, bad.logits = nullptr;
  EXPECT_FALSE(ValidateLogitsProcess(bad).ok());
  bad.rows = 0;  // no rows: pointers unused
  EXPECT_TRUE(ValidateLogitsProcess(bad).ok());
  for (int which = 0; which < 3; ++which) {  // any penalty needs the history
    bad = ok;
    (which == 0   ? bad.presence_penalty
     : which == 1 ? bad.frequency_penalty
                  : bad.repetition_penalty) = &one;
    EXPECT_FALSE(ValidateLogitsProcess(bad).ok()) << which;
    bad.history_offsets = off;
    bad.history_ids = ids;
    bad.history_output_counts = ids;
    EXPECT_TRUE(ValidateLogitsProcess(bad).ok()) << which;
    bad.history_output_counts = nullptr;
    EXPECT_FALSE(ValidateLogitsProcess(bad).ok()) << which;
    bad.history_output_counts = ids;
    bad.history_ids = nullptr;
    EXPECT_FALSE(ValidateLogitsProcess(bad).ok()) << which;
  }
  bad = ok, bad.bias_offsets = off;
  EXPECT_FALSE(ValidateLogitsProcess(bad).ok());
  bad.bias_ids = ids;
  EXPECT_FALSE(ValidateLogitsProcess(bad).ok());
  bad.bias_values = &one;
  EXPECT_TRUE(ValidateLogitsProcess(bad).ok());
  bad.rows = -1;  // the reference validates too
  EXPECT_FALSE(LogitsProcessReference(bad).ok());
}

// Runs the reference on one row with the given lists and expects InvalidArgument with the
// logits unchanged.
void ExpectRejected(std::vector<int32_t> hoff, std::vector<int32_t> hids,
                    std::vector<int32_t> counts, std::vector<int32_t> boff,
                    std::vector<int32_t> bids, float rep, const char* what) {
  auto l = Row({1, 2, 3, 4, 5, 6, 7, 8});
  const auto before = l;
  const std::vector<float> bval(bids.size(), 1.0f);
  auto p = OneRow(l.data());
  p.valid_vocab = 6;
  p.repetition_penalty = &rep;
  p.history_offsets = hoff.data();
  p.history_ids = hids.data();
  p.history_output_counts = counts.data();
  p.bias_offsets = boff.data();
  p.bias_ids = bids.data();
  p.bias_values = bval.data();
  const absl::Status st = LogitsProcessReference(p);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << what << ": " << st;
  EXPECT_EQ(l, before) << what;
}

TEST(LogitsProcessReferenceTest, RejectsBadContents) {
  // The well-formed case passes (so each failure below is due to its one change).
  {
    auto l = Row({1, 2, 3, 4, 5, 6, 7, 8});
    const std::vector<int32_t> hoff = {0, 2}, hids = {1, 7}, counts = {0, 1}, boff = {0, 2},
                               bids = {0, 0};
    const std::vector<float> bval = {1, 1};
    const float rep = 2.0f;
    auto p = OneRow(l.data());
    p.valid_vocab = 6;
    p.repetition_penalty = &rep;
    p.history_offsets = hoff.data();
    p.history_ids = hids.data();
    p.history_output_counts = counts.data();
    p.bias_offsets = boff.data();
    p.bias_ids = bids.data();
    p.bias_values = bval.data();
    EXPECT_TRUE(LogitsProcessReference(p).ok());
  }
  ExpectRejected({0, 2}, {1, 8}, {0, 1}, {0, 2}, {0, 0}, 2.0f, "history id = vocab");
  ExpectRejected({0, 2}, {-1, 7}, {0, 1}, {0, 2}, {0, 0}, 2.0f, "negative history id");
  ExpectRejected({0, 2}, {1, 7}, {0, 1}, {0, 2}, {0, 8}, 2.0f, "bias id = vocab");
  ExpectRejected({0, 2}, {1, 7}, {0, 1}, {0, 2}, {-3, 0}, 2.0f, "negative bias id");
  ExpectRejected({0, 2}, {7, 7}, {0, 1}, {0, 2}, {0, 0}, 2.0f, "repeated history id");
  ExpectRejected({0, 2}, {1, 7}, {0, -1}, {0, 2}, {0, 0}, 2.0f, "negative count");
  ExpectRejected({2, 0}, {1, 7}, {0, 1}, {0, 2}, {0, 0}, 2.0f, "history offsets decrease");
  ExpectRejected({-1, 1}, {1, 7}, {0, 1}, {0, 2}, {0, 0}, 2.0f, "negative history offset");
  ExpectRejected({0, 2}, {1, 7}, {0, 1}, {2, 1}, {0, 0}, 2.0f, "bias offsets decrease");
  ExpectRejected({0, 2}, {1, 7}, {0, 1}, {0, 2}, {0, 0}, 0.0f, "repetition penalty 0");
  ExpectRejected({0, 2}, {1, 7}, {0, 1}, {0, 2}, {0, 0}, -1.0f, "negative repetition penalty");
  ExpectRejected({0, 2}, {1, 7}, {0, 1}, {0, 2}, {0, 0}, NAN, "NaN repetition penalty");
}

}  // namespace
}  // namespace r1::kernels
