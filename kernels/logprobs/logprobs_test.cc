// CPU reference test (runs everywhere): logprobs by hand — uniform rows, weights with a known
// ratio, invariance to a large common shift, R1's vocabulary — NaN ignored, −inf entries, a
// row with one finite logit, rows whose max is not finite, the top-n order (logit desc, id asc,
// +0 above −0, NaN last), strided rows, and every validation error.
#include "kernels/logprobs/logprobs.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace r1::kernels {
namespace {

struct Result {
  std::vector<float> chosen;
  std::vector<int32_t> ids;
  std::vector<float> top;
};

// Runs the reference over `rows` rows of `vocab` logits at `stride`.
Result RunRows(const std::vector<float>& logits, int64_t rows, int64_t vocab, int64_t stride,
               const std::vector<int32_t>& chosen, int32_t top_n) {
  Result res;
  res.chosen.assign(rows, 123.0f);
  res.ids.assign(rows * top_n, -7);
  res.top.assign(rows * top_n, 123.0f);
  LogprobsParams p{logits.data(),
                   stride,
                   rows,
                   vocab,
                   chosen.data(),
                   top_n,
                   res.chosen.data(),
                   top_n ? res.ids.data() : nullptr,
                   top_n ? res.top.data() : nullptr};
  EXPECT_TRUE(LogprobsReference(p).ok());
  return res;
}

Result RunRow(const std::vector<float>& logits, int32_t chosen, int32_t top_n) {
  const int64_t v = static_cast<int64_t>(logits.size());
  return RunRows(logits, 1, v, v, {chosen}, top_n);
}

TEST(LogprobsReferenceTest, ByHand) {
  // Four equal logits: each −log 4.
  auto r = RunRow({0.5f, 0.5f, 0.5f, 0.5f}, 2, 1);
  EXPECT_NEAR(r.chosen[0], -std::log(4.0), 1e-6);
  EXPECT_EQ(r.ids[0], 0);
  // Weights 1 : 3 (logits 0, ln 3): log(1/4) and log(3/4).
  r = RunRow({0.0f, static_cast<float>(std::log(3.0))}, 0, 2);
  EXPECT_NEAR(r.chosen[0], std::log(0.25), 1e-6);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 0}));
  EXPECT_NEAR(r.top[0], std::log(0.75), 1e-6);
  EXPECT_NEAR(r.top[1], std::log(0.25), 1e-6);
  // A common shift of 1000 changes nothing (the max is subtracted before exp).
  r = RunRow({1000.0f, 1000.0f + static_cast<float>(std::log(3.0))}, 0, 0);
  EXPECT_NEAR(r.chosen[0], std::log(0.25), 1e-4);
  // Three logits 1, 2, 3.
  r = RunRow({1.0f, 2.0f, 3.0f}, 1, 3);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(r.chosen[0], 2.0 - std::log(z), 1e-6);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{2, 1, 0}));
  EXPECT_NEAR(r.top[0], 3.0 - std::log(z), 1e-6);
  EXPECT_NEAR(r.top[2], 1.0 - std::log(z), 1e-6);
}

TEST(LogprobsReferenceTest, R1Vocabulary) {
  // 129279 zeros and one 5: log Z = log(129279 + e^5).
  std::vector<float> logits(129280, 0.0f);
  logits[77777] = 5.0f;
  const auto r = RunRow(logits, 3, 5);
  const double lz = std::log(129279.0 + std::exp(5.0));
  EXPECT_NEAR(r.chosen[0], -lz, 1e-6);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{77777, 0, 1, 2, 3}));
  EXPECT_NEAR(r.top[0], 5.0 - lz, 1e-6);
  EXPECT_NEAR(r.top[4], -lz, 1e-6);
}

TEST(LogprobsReferenceTest, NanAndMinusInf) {
  // NaN ignored: two zeros share the mass; the NaN is −inf and ranks last.
  auto r = RunRow({0.0f, NAN, 0.0f}, 1, 3);
  EXPECT_EQ(r.chosen[0], -INFINITY);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{0, 2, 1}));
  EXPECT_NEAR(r.top[0], -std::log(2.0), 1e-6);
  EXPECT_EQ(r.top[2], -INFINITY);
  // −inf entries carry no mass; they rank below every finite logit, by id.
  r = RunRow({-INFINITY, 1.0f, -INFINITY, 1.0f}, 2, 4);
  EXPECT_EQ(r.chosen[0], -INFINITY);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 3, 0, 2}));
  EXPECT_NEAR(r.top[1], -std::log(2.0), 1e-6);
  EXPECT_EQ(r.top[3], -INFINITY);
  // All but one −inf: that one has logprob exactly 0.
  std::vector<float> one(1001, -INFINITY);
  one[500] = -3.25f;
  r = RunRow(one, 500, 3);
  EXPECT_EQ(r.chosen[0], 0.0f);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{500, 0, 1}));
  EXPECT_EQ(r.top[0], 0.0f);
  EXPECT_EQ(r.top[1], -INFINITY);
}

TEST(LogprobsReferenceTest, NonFiniteMaxGivesNan) {
  for (const std::vector<float>& row :
       {std::vector<float>{-INFINITY, -INFINITY, -INFINITY}, std::vector<float>{NAN, NAN, NAN},
        std::vector<float>{NAN, -INFINITY, NAN}, std::vector<float>{1.0f, INFINITY, 2.0f}}) {
    const auto r = RunRow(row, 0, 3);
    EXPECT_TRUE(std::isnan(r.chosen[0])) << row[0] << " " << row[1];
    for (float t : r.top) EXPECT_TRUE(std::isnan(t));
    EXPECT_EQ(r.ids.size(), 3u);
  }
  // The top ids are still ranked: +inf first, then 2, then 1.
  EXPECT_EQ(RunRow({1.0f, INFINITY, 2.0f}, 0, 3).ids, (std::vector<int32_t>{1, 2, 0}));
}

TEST(LogprobsReferenceTest, TopOrder) {
  // Ties by id ascending.
  auto r = RunRow({1.0f, 3.0f, 3.0f, 2.0f, 3.0f, 2.0f}, 0, 6);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 2, 4, 3, 5, 0}));
  EXPECT_EQ(r.top[0], r.top[1]);
  EXPECT_EQ(r.top[1], r.top[2]);
  // +0 ranks above −0 (SamplingKey order), both above a negative.
  r = RunRow({-1.0f, -0.0f, 0.0f}, 0, 3);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{2, 1, 0}));
  // 25 equal logits: the first 20 ids.
  r = RunRow(std::vector<float>(25, 1.5f), 24, 20);
  for (int32_t j = 0; j < 20; ++j) EXPECT_EQ(r.ids[j], j);
  EXPECT_NEAR(r.chosen[0], -std::log(25.0), 1e-6);
}

TEST(LogprobsReferenceTest, StridedRows) {
  // Two rows of vocab 3 in a stride of 5: the padding (a huge value) is ignored.
  const std::vector<float> logits = {0.0f, 0.0f, 0.0f, 1e30f, 1e30f,  //
                                     2.0f, 0.0f, 2.0f, 1e30f, 1e30f};
  const auto r = RunRows(logits, 2, 3, 5, {1, 0}, 2);
  EXPECT_NEAR(r.chosen[0], -std::log(3.0), 1e-6);
  const double z = 2 * std::exp(2.0) + 1;
  EXPECT_NEAR(r.chosen[1], 2.0 - std::log(z), 1e-6);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{0, 1, 0, 2}));
  EXPECT_NEAR(r.top[2], 2.0 - std::log(z), 1e-6);
}

TEST(LogprobsReferenceTest, Validation) {
  float l[8] = {};
  int32_t chosen = 0, ids[20];
  float out = 0, top[20];
  const LogprobsParams ok{l, 8, 1, 8, &chosen, 2, &out, ids, top};
  EXPECT_TRUE(ValidateLogprobs(ok).ok());
  auto bad = ok;
  bad.rows = -1;
  EXPECT_FALSE(ValidateLogprobs(bad).ok());
  bad = ok, bad.vocab = 0;
  EXPECT_FALSE(ValidateLogprobs(bad).ok());
  bad = ok, bad.vocab = bad.logits_stride = int64_t{1} << 31;
  EXPECT_FALSE(ValidateLogprobs(bad).ok());
  bad = ok, bad.logits_stride = 7;
  EXPECT_FALSE(ValidateLogprobs(bad).ok());
  bad = ok, bad.top_n = -1;
  EXPECT_FALSE(ValidateLogprobs(bad).ok());
  bad = ok, bad.top_n = 9;  // > vocab
  EXPECT_FALSE(ValidateLogprobs(bad).ok());
  bad = ok, bad.vocab = bad.logits_stride = 100, bad.top_n = 21;
  EXPECT_FALSE(ValidateLogprobs(bad).ok());
  bad.top_n = 20;
  EXPECT_TRUE(ValidateLogprobs(bad).ok());
  bad = ok, bad.logits = nullptr;
  EXPECT_FALSE(ValidateLogprobs(bad).ok());
  bad = ok, bad.chosen = nullptr;
  EXPECT_FALSE(ValidateLogprobs(bad).ok());
  bad = ok, bad.out_chosen_logprob = nullptr;
  EXPECT_FALSE(ValidateLogprobs(bad).ok());
  bad = ok, bad.out_top_ids = nullptr;
  EXPECT_FALSE(ValidateLogprobs(bad).ok());
  bad = ok, bad.out_top_logprobs = nullptr;
  EXPECT_FALSE(ValidateLogprobs(bad).ok());
  bad.top_n = 0;  // no alternatives: the top outputs may be null
  bad.out_top_ids = nullptr;
  EXPECT_TRUE(ValidateLogprobs(bad).ok());
  EXPECT_TRUE(ValidateLogprobs({nullptr, 8, 0, 8, nullptr, 5, nullptr, nullptr, nullptr}).ok());
  bad = ok, bad.rows = -1;  // the reference validates too
  EXPECT_FALSE(LogprobsReference(bad).ok());
}

TEST(LogprobsReferenceTest, RejectsChosenOutOfRange) {
  const std::vector<float> l(8, 0.0f);
  for (int32_t c : {-1, 8, 1 << 30}) {
    float out[2] = {123.0f, 123.0f};
    int32_t ids[4] = {-7, -7, -7, -7};
    float top[4] = {};
    const int32_t chosen[2] = {0, c};
    const LogprobsParams p{l.data(), 4, 2, 4, chosen, 2, out, ids, top};
    const absl::Status st = LogprobsReference(p);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c;
    EXPECT_EQ(out[0], 123.0f);  // nothing written, not even the valid row
    EXPECT_EQ(ids[0], -7);
  }
}

}  // namespace
}  // namespace r1::kernels
