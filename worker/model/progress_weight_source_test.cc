#include "worker/model/progress_weight_source.h"

#include <gtest/gtest.h>

#include <vector>

#include "common/expert_placement.h"
#include "worker/model/model_weights.h"
#include "worker/model/testing/test_util.h"
#include "worker/model/weight_plan.h"

namespace r1 {
namespace {

// A clock the test advances by hand.
struct ManualClock {
  absl::Time now = absl::UnixEpoch();
  ProgressWeightSource::Clock fn() {
    return [this] { return now; };
  }
};

// Loading a whole model through the progress source reports the bytes the plan predicts, ends
// with exactly one `done` report, and loads the same weights.
TEST(ProgressWeightSourceTest, FullLoadMatchesThePlan) {
  const ModelConfig c = testing::SmallConfig();
  SyntheticWeightSource inner(7);
  const WeightPlan plan = PlanWeights(c);
  const uint64_t total = FetchedBytes(plan, nullptr);
  std::vector<LoadProgressReport> reports;
  ProgressWeightSource src(&inner, total, plan.mtp_first_layer, absl::ZeroDuration(),
                           [&](const LoadProgressReport& r) { reports.push_back(r); });
  auto w = LoadModelWeights(c, src);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_FALSE(reports.empty());
  EXPECT_TRUE(reports.back().done);
  EXPECT_EQ(reports.back().bytes_loaded, total);
  EXPECT_EQ(reports.back().eta_seconds, 0);
  int done = 0;
  for (size_t i = 0; i < reports.size(); ++i) {
    done += reports[i].done ? 1 : 0;
    if (i > 0) {
      EXPECT_GE(reports[i].bytes_loaded, reports[i - 1].bytes_loaded);
    }
  }
  EXPECT_EQ(done, 1);
  EXPECT_EQ(src.Current().bytes_loaded, total);
}

// A rank's share: only the experts its placement gives it are fetched and counted.
TEST(ProgressWeightSourceTest, ShareCountsOnlyTheRanksExperts) {
  const ModelConfig c = testing::SmallConfig();
  SyntheticWeightSource inner(7);
  const WeightPlan plan = PlanWeights(c);
  const EpPlacement placement = EpPlacement::Contiguous(c.n_routed_experts, 2);
  LoadOptions lo;
  lo.want_expert = placement.WantExpert(1);
  const uint64_t share = FetchedBytes(plan, lo.want_expert);
  const uint64_t all = FetchedBytes(plan, nullptr);
  const uint64_t routed = plan.ComputeTotals(ExpertFormat::kCheckpoint).routed_experts;
  EXPECT_EQ(all - share, routed / 2);
  LoadProgressReport last;
  ProgressWeightSource src(&inner, share, plan.mtp_first_layer, absl::ZeroDuration(),
                           [&](const LoadProgressReport& r) { last = r; });
  ASSERT_TRUE(LoadModelWeights(c, src, lo).ok());
  EXPECT_TRUE(last.done);
  EXPECT_EQ(last.bytes_loaded, share);
}

// Reports come at most once per interval, with the rate since the first fetch and the time left
// at that rate; the last byte is always reported.
TEST(ProgressWeightSourceTest, RateLimitedReportsWithRateAndEta) {
  const ModelConfig c = testing::SmallConfig();
  SyntheticWeightSource inner(3);
  const WeightPlan plan = PlanWeights(c);
  std::vector<const PlannedTensor*> main;
  uint64_t total = 0;
  for (const PlannedTensor& t : plan.tensors) {
    if (t.layer < plan.mtp_first_layer && t.role != TensorRole::kMtp) {
      main.push_back(&t);
      total += t.bytes();
    }
  }
  ASSERT_GE(main.size(), 4u);
  ManualClock clock;
  std::vector<LoadProgressReport> reports;
  ProgressWeightSource src(
      &inner, total, plan.mtp_first_layer, absl::Seconds(1),
      [&](const LoadProgressReport& r) { reports.push_back(r); }, clock.fn());
  uint64_t loaded = 0;
  for (size_t i = 0; i < main.size(); ++i) {
    ASSERT_TRUE(src.Fetch(*main[i]).ok());
    loaded += main[i]->bytes();
    if (i == 0) {
      ASSERT_EQ(reports.size(), 1u);              // the first fetch reports (no report yet)
      EXPECT_EQ(reports[0].bytes_per_second, 0);  // no time has passed
    }
    if (i == 1) {
      EXPECT_EQ(reports.size(), 1u);  // within the interval: quiet
      clock.now += absl::Seconds(2);
    }
    if (i == 2) {
      ASSERT_EQ(reports.size(), 2u);
      EXPECT_EQ(reports[1].bytes_loaded, loaded);
      EXPECT_DOUBLE_EQ(reports[1].bytes_per_second, static_cast<double>(loaded) / 2.0);
      EXPECT_DOUBLE_EQ(reports[1].eta_seconds,
                       static_cast<double>(total - loaded) / (static_cast<double>(loaded) / 2.0));
      EXPECT_FALSE(reports[1].done);
    }
  }
  EXPECT_TRUE(reports.back().done);
  EXPECT_EQ(reports.back().bytes_loaded, total);
  // MTP tensors pass through uncounted.
  for (const PlannedTensor& t : plan.tensors) {
    if (t.layer >= plan.mtp_first_layer) {
      ASSERT_TRUE(src.Fetch(t).ok());
      break;
    }
  }
  EXPECT_EQ(src.Current().bytes_loaded, total);
}

// A failed fetch counts nothing and is returned as is.
// The line the worker logs and the load bench prints.
TEST(ProgressWeightSourceTest, DescribesProgress) {
  LoadProgressReport r;
  r.bytes_loaded = uint64_t{3} << 29;  // 1.5 GiB
  r.bytes_total = uint64_t{6} << 30;
  r.bytes_per_second = 2.5e9;
  r.eta_seconds = 7.9;
  EXPECT_EQ(DescribeLoadProgress(r), "loaded 1.50 of 6.00 GiB (2.50 GB/s, 7 s left)");
  r.done = true;
  EXPECT_EQ(DescribeLoadProgress(r), "loaded 1.50 of 6.00 GiB (2.50 GB/s)");
}

TEST(ProgressWeightSourceTest, FailedFetchIsNotCounted) {
  class Failing : public WeightSource {
   public:
    absl::StatusOr<TensorBytes> Fetch(const PlannedTensor& t) const override {
      return absl::NotFoundError("no " + t.name);
    }
    std::string Describe() const override { return "failing"; }
  } inner;
  int reports = 0;
  ProgressWeightSource src(&inner, 100, 1 << 20, absl::ZeroDuration(),
                           [&](const LoadProgressReport&) { ++reports; });
  const WeightPlan plan = PlanWeights(testing::SmallConfig());
  absl::StatusOr<TensorBytes> got = src.Fetch(plan.tensors.front());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(src.Current().bytes_loaded, 0u);
  EXPECT_EQ(reports, 0);
}

}  // namespace
}  // namespace r1
