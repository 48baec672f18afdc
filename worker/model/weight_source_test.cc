// SyntheticWeightSource: every tensor is a pure function of (seed, name) whatever the order and
// concurrency of the fetches — an FP8 weight and its scales come from one generated matrix that
// is kept until both are served (or dropped after 16 pending pairs and generated again).
#include "worker/model/weight_source.h"

#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "worker/model/testing/test_util.h"
#include "worker/model/weight_plan.h"

namespace r1 {
namespace {

std::string Bytes(const WeightSource& src, const PlannedTensor& t) {
  auto b = src.Fetch(t);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? std::string(reinterpret_cast<const char*>(b->data), b->size) : std::string();
}

// Every tensor of the small model fetched in plan order from a fresh source.
std::map<std::string, std::string> InOrder(const WeightPlan& plan) {
  SyntheticWeightSource src(7);
  std::map<std::string, std::string> out;
  for (const PlannedTensor& t : plan.tensors) out[t.name] = Bytes(src, t);
  return out;
}

TEST(SyntheticWeightSourceTest, FetchOrderDoesNotChangeTheBytes) {
  const WeightPlan plan = PlanWeights(testing::SmallConfig());
  const std::map<std::string, std::string> want = InOrder(plan);
  ASSERT_GT(want.size(), 20u);

  // Reversed: every scale before its weight.
  SyntheticWeightSource reversed(7);
  for (auto it = plan.tensors.rbegin(); it != plan.tensors.rend(); ++it) {
    EXPECT_EQ(Bytes(reversed, *it), want.at(it->name)) << it->name;
  }
  // Every weight first, then every scale: far more pending pairs than are kept, so most are
  // generated again.
  SyntheticWeightSource split(7);
  for (int pass = 0; pass < 2; ++pass) {
    for (const PlannedTensor& t : plan.tensors) {
      if (t.is_scale == (pass == 1)) {
        EXPECT_EQ(Bytes(split, t), want.at(t.name)) << t.name;
      }
    }
  }
  // The same tensor twice in a row.
  SyntheticWeightSource twice(7);
  for (const PlannedTensor& t : plan.tensors) {
    EXPECT_EQ(Bytes(twice, t), want.at(t.name)) << t.name;
    EXPECT_EQ(Bytes(twice, t), want.at(t.name)) << t.name;
  }
}

TEST(SyntheticWeightSourceTest, ConcurrentFetchesGiveTheSameBytes) {
  const WeightPlan plan = PlanWeights(testing::SmallConfig());
  const std::map<std::string, std::string> want = InOrder(plan);
  SyntheticWeightSource shared(7);
  std::vector<std::map<std::string, std::string>> got(4);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      // Each thread walks the plan from a different offset, so pairs are split across threads.
      const size_t n = plan.tensors.size();
      for (size_t i = 0; i < n; ++i) {
        const PlannedTensor& t = plan.tensors[(i + w * n / 4) % n];
        got[w][t.name] = Bytes(shared, t);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, want);
}

}  // namespace
}  // namespace r1
