#include "coordinator/cluster/cluster_metrics.h"

#include <gtest/gtest.h>

#include "prometheus/text_serializer.h"

namespace r1 {
namespace {

std::string Scrape(prometheus::Registry& r) {
  return prometheus::TextSerializer().Serialize(r.Collect());
}

TEST(ClusterMetricsTest, ReflectsWorkersGroupsAndLoad) {
  prometheus::Registry registry;
  ClusterMetrics m(&registry);
  r1::v1::ClusterStatusResponse st;
  for (int i = 0; i < 2; ++i) {
    auto* w = st.add_workers();
    w->set_worker_id("w" + std::to_string(i));
    w->set_state(r1::v1::WORKER_STATE_READY);
    w->mutable_stats()->set_running_sequences(3);
    w->mutable_stats()->set_waiting_sequences(1);
    w->mutable_stats()->set_kv_blocks_total(100);
    w->mutable_stats()->set_kv_blocks_free(75);
  }
  auto* g = st.add_groups();
  g->set_group_id(7);
  g->set_state(r1::v1::GROUP_STATE_SERVING);
  g->set_requests_served(12);
  m.Update(st);
  std::string text = Scrape(registry);
  EXPECT_NE(text.find("r1_workers{state=\"WORKER_STATE_READY\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("r1_group_up{group=\"7\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("r1_group_requests_routed{group=\"7\"} 12"), std::string::npos) << text;
  EXPECT_NE(text.find("r1_requests_running 6"), std::string::npos) << text;
  EXPECT_NE(text.find("r1_kv_cache_usage_ratio 0.25"), std::string::npos) << text;

  st.mutable_groups(0)->set_state(r1::v1::GROUP_STATE_DOWN);
  st.mutable_workers()->RemoveLast();
  m.Update(st);
  text = Scrape(registry);
  EXPECT_NE(text.find("r1_group_up{group=\"7\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("r1_worker_up{worker=\"w1\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("r1_workers{state=\"WORKER_STATE_READY\"} 1"), std::string::npos) << text;
}

TEST(ClusterMetricsTest, CountsRoutingDecisions) {
  prometheus::Registry registry;
  ClusterMetrics m(&registry);
  std::string text = Scrape(registry);
  // Every reason's series is there from the start (rate() sees the first decision).
  EXPECT_NE(text.find("r1_routing_decisions_total{reason=\"overloaded\"} 0"), std::string::npos)
      << text;
  ClusterState::RoutingCounts c;
  c.by_prefix = 3;
  c.by_load = 5;
  c.prefix_tokens = 640;
  m.UpdateRouting(c);
  c.by_prefix = 4;
  c.overloaded = 1;
  c.prefix_tokens = 704;
  m.UpdateRouting(c);
  m.UpdateRouting(c);
  text = Scrape(registry);
  EXPECT_NE(text.find("r1_routing_decisions_total{reason=\"prefix\"} 4"), std::string::npos)
      << text;
  EXPECT_NE(text.find("r1_routing_decisions_total{reason=\"load\"} 5"), std::string::npos) << text;
  EXPECT_NE(text.find("r1_routing_decisions_total{reason=\"overloaded\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("r1_routing_prefix_matched_tokens_total 704"), std::string::npos) << text;
}

}  // namespace
}  // namespace r1
