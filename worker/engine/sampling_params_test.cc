#include "worker/engine/sampling_params.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(SamplingParamsTest, AcceptsTheDefaultsAndR1sRecommendation) {
  EXPECT_TRUE(ValidateSamplingParams({}, 10).ok());
  SamplingParams p;
  p.temperature = 0.6f;
  p.top_p = 0.95f;
  p.top_k = 40;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.repetition_penalty = 2.0f;
  p.logit_bias = {{0, -100.0f}, {9, 100.0f}};
  p.logprobs = true;
  p.top_logprobs = 20;
  EXPECT_TRUE(ValidateSamplingParams(p, 10).ok());
}

TEST(SamplingParamsTest, RefusesEachOutOfRangeFieldByName) {
  auto refused = [](SamplingParams p, const char* field) {
    const absl::Status st = ValidateSamplingParams(p, 10);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_NE(st.message().find(field), absl::string_view::npos) << st;
  };
  SamplingParams p;
  p.temperature = -1.0f;
  refused(p, "temperature");
  p = {};
  p.top_p = 0.0f;
  refused(p, "top_p");
  p = {};
  p.top_p = 1.5f;
  refused(p, "top_p");
  p = {};
  p.top_k = -2;
  refused(p, "top_k");
  p = {};
  p.presence_penalty = 2.5f;
  refused(p, "presence_penalty");
  p = {};
  p.frequency_penalty = -2.5f;
  refused(p, "frequency_penalty");
  p = {};
  p.repetition_penalty = 0.0f;
  refused(p, "repetition_penalty");
  p = {};
  p.logit_bias = {{10, 1.0f}};
  refused(p, "logit_bias");
  p = {};
  p.logit_bias = {{1, 101.0f}};
  refused(p, "logit_bias");
  p = {};
  p.top_logprobs = 21;
  refused(p, "top_logprobs");
}

}  // namespace
}  // namespace r1
