// ClusterState's prefix-aware routing: requests sharing a prefix go to the worker that holds it
// unless it is past the load threshold; departed workers' entries are never used.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/kv_block_hash.h"
#include "coordinator/cluster/cluster_state.h"
#include "coordinator/cluster/testing/fake_worker.h"

namespace r1 {
namespace {

using testing::AttachWorker;
using testing::FakeWorker;

class ClusterRoutingTest : public ::testing::Test {
 protected:
  static ClusterOptions Options() { return testing::TestClusterOptions(1); }
  // Attached and ready, its Assign consumed.
  FakeWorker Attach(ClusterState& s, const std::string& id) {
    FakeWorker w = AttachWorker(s, id);
    testing::SendReady(s, w, 100000);
    w.Pop();  // the Assign
    return w;
  }
  // A system prompt of 3 full blocks followed by `tail` tokens of the user's question.
  static GenerationRequest Req(int system, int question) {
    GenerationRequest r;
    r.request_id = "req";
    for (int i = 0; i < 3 * kBlockTokens; ++i) r.prompt_token_ids.push_back(system * 1000 + i % 97);
    for (int i = 0; i < 10; ++i) r.prompt_token_ids.push_back(question * 10 + i);
    r.max_new_tokens = 4;
    return r;
  }
  // Submits `r`, keeping its handle; which of `a`, `b` got it ("a", "b" or "").
  std::string Route(ClusterState& s, FakeWorker& a, FakeWorker& b, GenerationRequest r) {
    auto h = s.Submit(std::move(r));
    EXPECT_TRUE(h.ok()) << h.status();
    if (!h.ok()) return "";
    handles_.push_back(std::move(*h));
    if (a.GotSubmit()) return "a";
    if (b.GotSubmit()) return "b";
    return "";
  }
  ClusterState& Make(ClusterOptions o) {
    state_ = std::make_unique<ClusterState>(std::move(o));
    return *state_;
  }
  std::unique_ptr<ClusterState> state_;
  // Destroyed (cancelled) before the state.
  std::vector<std::unique_ptr<GenerationHandle>> handles_;
};

TEST_F(ClusterRoutingTest, SharedPrefixGoesToItsHolderAndOthersByLoad) {
  ClusterState& s = Make(Options());
  FakeWorker a = Attach(s, "a"), b = Attach(s, "b");
  EXPECT_EQ(Route(s, a, b, Req(1, 1)), "a");  // equal loads: the first
  // `a` is now busier, but holds the system prompt.
  EXPECT_EQ(Route(s, a, b, Req(1, 2)), "a");
  EXPECT_EQ(Route(s, a, b, Req(2, 1)), "b");  // another prompt: the least loaded
  EXPECT_EQ(Route(s, a, b, Req(2, 2)), "b");
  const ClusterState::RoutingCounts c = s.routing_counts();
  EXPECT_EQ(c.by_prefix, 2u);
  EXPECT_EQ(c.by_load, 2u);
  EXPECT_EQ(c.overloaded, 0u);
  EXPECT_EQ(c.prefix_tokens, 2u * 3 * kBlockTokens);
}

TEST_F(ClusterRoutingTest, LoadWinsPastTheThreshold) {
  ClusterOptions o = Options();
  o.prefix_affinity_load_threshold = 100;  // one request in flight weighs more
  ClusterState& s = Make(o);
  FakeWorker a = Attach(s, "a"), b = Attach(s, "b");
  EXPECT_EQ(Route(s, a, b, Req(1, 1)), "a");
  EXPECT_EQ(Route(s, a, b, Req(1, 2)), "b");
  EXPECT_EQ(s.routing_counts().overloaded, 1u);
  // Now both hold it (b most recently): b is within the threshold of a.
  EXPECT_EQ(Route(s, a, b, Req(1, 3)), "b");
  EXPECT_EQ(s.routing_counts().by_prefix, 1u);
}

TEST_F(ClusterRoutingTest, QueuedTokensCountAsLoad) {
  ClusterOptions o = Options();
  o.prefix_affinity_load_threshold = 1000;
  ClusterState& s = Make(o);
  FakeWorker a = Attach(s, "a"), b = Attach(s, "b");
  auto queued = [&](int64_t tokens) {
    handles_.clear();  // cancelled: nothing in flight
    r1::v1::WorkerMessage stats;
    stats.mutable_stats()->set_queued_tokens(static_cast<uint64_t>(tokens));
    s.OnMessage(a.id, stats);
  };
  EXPECT_EQ(Route(s, a, b, Req(1, 1)), "a");
  queued(900);
  EXPECT_EQ(Route(s, a, b, Req(1, 2)), "a");  // 900 more than b: within the threshold
  queued(5000);
  EXPECT_EQ(Route(s, a, b, Req(1, 3)), "b");
  EXPECT_EQ(s.routing_counts().by_prefix, 1u);
  EXPECT_EQ(s.routing_counts().overloaded, 1u);
}

TEST_F(ClusterRoutingTest, DepartedOrReassignedWorkersAreNotRoutedTo) {
  ClusterState& s = Make(Options());
  FakeWorker a = Attach(s, "a"), b = Attach(s, "b");
  EXPECT_EQ(Route(s, a, b, Req(1, 1)), "a");
  handles_.clear();
  s.RemoveWorker("a", "stream ended");
  EXPECT_EQ(Route(s, a, b, Req(1, 2)), "b");
  EXPECT_EQ(s.routing_counts().by_load, 2u);  // a's entries matched nobody
  // b's group fails and re-forms: a new assignment, an empty cache, so no affinity.
  handles_.clear();
  r1::v1::WorkerMessage err;
  err.mutable_error()->set_fatal(true);
  err.mutable_error()->set_message("boom");
  s.OnMessage(b.id, err);
  r1::v1::WorkerMessage ready;
  ready.mutable_ready();
  s.OnMessage(b.id, ready);
  FakeWorker c = Attach(s, "c");
  while (b.outbox->Pop(std::chrono::milliseconds(0))) {
  }
  ASSERT_TRUE(s.Ready());
  const std::string to = Route(s, b, c, Req(1, 3));
  EXPECT_FALSE(to.empty());
  EXPECT_EQ(s.routing_counts().by_load, 3u);
  EXPECT_EQ(s.routing_counts().by_prefix, 0u);
}

TEST_F(ClusterRoutingTest, OffRoutesByLoadOnly) {
  ClusterOptions o = Options();
  o.prefix_affinity_blocks = 0;
  ClusterState& s = Make(o);
  FakeWorker a = Attach(s, "a"), b = Attach(s, "b");
  EXPECT_EQ(Route(s, a, b, Req(1, 1)), "a");
  EXPECT_EQ(Route(s, a, b, Req(1, 2)), "b");
  EXPECT_EQ(s.routing_counts().by_load, 2u);
}

TEST_F(ClusterRoutingTest, OptionsAreValidated) {
  ClusterOptions o = Options();
  o.prefix_affinity_load_threshold = -1;
  EXPECT_FALSE(ValidateClusterOptions(o).ok());
  o = Options();
  o.prefix_affinity_blocks = size_t{1} << 29;
  EXPECT_FALSE(ValidateClusterOptions(o).ok());
  o.prefix_affinity_blocks = 0;
  EXPECT_TRUE(ValidateClusterOptions(o).ok());
}

}  // namespace
}  // namespace r1
