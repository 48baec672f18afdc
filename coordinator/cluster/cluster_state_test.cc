#include "coordinator/cluster/cluster_state.h"

#include <gtest/gtest.h>

#include "r1/v1/inference.pb.h"

namespace r1 {
namespace {

struct FakeWorker {
  std::string id;
  std::shared_ptr<WorkerOutbox> outbox = std::make_shared<WorkerOutbox>(1000);
  std::optional<r1::v1::CoordinatorMessage> Pop() {
    return outbox->Pop(std::chrono::milliseconds(0));
  }
};

class ClusterStateTest : public ::testing::Test {
 protected:
  ClusterOptions Options(int group_size) {
    ClusterOptions o;
    o.group_size = group_size;
    o.num_experts = 8;
    o.model_source = "checkpoint:/m";
    o.model.id = "r1";
    return o;
  }
  FakeWorker Attach(ClusterState& s, const std::string& id) {
    FakeWorker w;
    r1::v1::Hello h;
    h.set_worker_id(id);
    auto got = s.AddWorker(h, w.outbox);
    EXPECT_TRUE(got.ok()) << got.status();
    w.id = *got;
    return w;
  }
  void SendReady(ClusterState& s, const FakeWorker& w) {
    r1::v1::WorkerMessage m;
    m.mutable_ready()->set_kv_capacity_tokens(1000);
    s.OnMessage(w.id, m);
  }
  void SendTokens(ClusterState& s, const FakeWorker& w, uint64_t seq, std::vector<int> ids,
                  bool finished, int reason = r1::v1::FINISH_REASON_STOP) {
    r1::v1::WorkerMessage m;
    auto* st = m.mutable_token_events()->add_sequences();
    st->set_sequence_id(seq);
    for (int t : ids) st->add_token_ids(t);
    st->set_finished(finished);
    st->set_finish_reason(reason);
    s.OnMessage(w.id, m);
  }
  GenerationRequest Req(int n = 5) {
    GenerationRequest r;
    r.request_id = "req";
    r.prompt_token_ids.assign(n, 7);
    r.max_new_tokens = 4;
    return r;
  }
};

TEST_F(ClusterStateTest, FormsGroupsWithRanksAndPlacement) {
  ClusterState s(Options(2));
  FakeWorker a = Attach(s, "a");
  EXPECT_FALSE(a.Pop().has_value());  // alone: no group yet
  FakeWorker b = Attach(s, "b");
  auto ma = a.Pop(), mb = b.Pop();
  ASSERT_TRUE(ma && ma->has_assign() && mb && mb->has_assign());
  EXPECT_EQ(ma->assign().rank(), 0u);
  EXPECT_EQ(mb->assign().rank(), 1u);
  EXPECT_EQ(ma->assign().group_id(), mb->assign().group_id());
  EXPECT_EQ(ma->assign().placement().ranks(1).experts_size(), 4);
  EXPECT_EQ(ma->assign().placement().ranks(1).experts(0), 4);  // contiguous: 4..7
  EXPECT_EQ(ma->assign().rendezvous_prefix(), mb->assign().rendezvous_prefix());
  EXPECT_FALSE(s.Ready());
  SendReady(s, a);
  EXPECT_FALSE(s.Ready());
  SendReady(s, b);
  EXPECT_TRUE(s.Ready());
}

TEST_F(ClusterStateTest, RoutesAndStreamsTokens) {
  ClusterState s(Options(1));
  FakeWorker a = Attach(s, "a");
  ASSERT_TRUE(a.Pop()->has_assign());
  EXPECT_EQ(s.Submit(Req()).status().code(), absl::StatusCode::kUnavailable);
  SendReady(s, a);
  auto h = s.Submit(Req());
  ASSERT_TRUE(h.ok()) << h.status();
  auto sub = a.Pop();
  ASSERT_TRUE(sub && sub->has_submit());
  const uint64_t seq = sub->submit().sequence_id();
  EXPECT_EQ(sub->submit().prompt_token_ids_size(), 5);
  SendTokens(s, a, seq, {1, 2}, false);
  TokenBatch b = (*h)->Next(absl::Seconds(1));
  EXPECT_EQ(b.token_ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(b.end, GenerationEnd::kNone);
  SendTokens(s, a, seq, {3}, true, r1::v1::FINISH_REASON_LENGTH);
  b = (*h)->Next(absl::Seconds(1));
  EXPECT_EQ(b.token_ids, (std::vector<int32_t>{3}));
  EXPECT_EQ(b.end, GenerationEnd::kLength);
  EXPECT_EQ(s.Status().groups(0).requests_in_flight(), 0u);
}

TEST_F(ClusterStateTest, CancelReachesTheWorker) {
  ClusterState s(Options(1));
  FakeWorker a = Attach(s, "a");
  a.Pop();
  SendReady(s, a);
  auto h = s.Submit(Req());
  const uint64_t seq = a.Pop()->submit().sequence_id();
  (*h)->Cancel();
  auto c = a.Pop();
  ASSERT_TRUE(c && c->has_cancel());
  EXPECT_EQ(c->cancel().sequence_id(), seq);
  EXPECT_EQ((*h)->Next(absl::Seconds(1)).end, GenerationEnd::kCancelled);
}

TEST_F(ClusterStateTest, ScaleOutFormsASecondGroupAndBothServe) {
  ClusterState s(Options(2));
  std::vector<FakeWorker> w;
  for (const char* id : {"a", "b"}) w.push_back(Attach(s, id));
  for (auto& x : w) {
    x.Pop();
    SendReady(s, x);
  }
  for (const char* id : {"c", "d"}) w.push_back(Attach(s, id));
  for (size_t i = 2; i < 4; ++i) {
    ASSERT_TRUE(w[i].Pop()->has_assign());
    SendReady(s, w[i]);
  }
  EXPECT_EQ(s.Status().groups_size(), 2);
  std::vector<std::unique_ptr<GenerationHandle>> hs;
  for (int i = 0; i < 8; ++i) hs.push_back(std::move(*s.Submit(Req())));
  int per_worker[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4; ++i) {
    while (auto m = w[i].Pop()) per_worker[i] += m->has_submit();
  }
  for (int i = 0; i < 4; ++i) EXPECT_EQ(per_worker[i], 2) << "worker " << i;
  auto st = s.Status();
  EXPECT_EQ(st.groups(0).requests_served() + st.groups(1).requests_served(), 8u);
  EXPECT_GT(st.groups(0).requests_served(), 0u);
  EXPECT_GT(st.groups(1).requests_served(), 0u);
}

TEST_F(ClusterStateTest, DeadWorkerEndsItsGroupsStreamsAndOthersKeepServing) {
  ClusterState s(Options(1));
  FakeWorker a = Attach(s, "a"), b = Attach(s, "b");
  for (auto* x : {&a, &b}) {
    x->Pop();
    SendReady(s, *x);
  }
  auto h1 = s.Submit(Req());
  auto h2 = s.Submit(Req());
  ASSERT_TRUE(h1.ok() && h2.ok());
  const bool first_on_a = a.Pop().has_value();
  s.RemoveWorker("a", "killed");
  auto& on_a = first_on_a ? *h1 : *h2;
  TokenBatch end = on_a->Next(absl::Seconds(1));
  EXPECT_EQ(end.end, GenerationEnd::kError);
  EXPECT_NE(end.error.find("killed"), std::string::npos);
  EXPECT_TRUE(s.Ready());
  auto h3 = s.Submit(Req());
  ASSERT_TRUE(h3.ok());
  b.Pop();
  EXPECT_TRUE(b.Pop()->has_submit());
}

TEST_F(ClusterStateTest, SilentWorkerIsDeclaredDead) {
  ClusterOptions o = Options(1);
  o.heartbeat_timeout = absl::Seconds(5);
  ClusterState s(o);
  FakeWorker a = Attach(s, "a");
  a.Pop();
  SendReady(s, a);
  s.CheckHeartbeats(absl::Now());
  EXPECT_TRUE(s.Ready());
  s.CheckHeartbeats(absl::Now() + absl::Seconds(6));
  EXPECT_FALSE(s.Ready());
  EXPECT_EQ(s.Status().workers_size(), 0);
  EXPECT_TRUE(a.outbox->closed());
}

TEST_F(ClusterStateTest, SurvivorsOfADeadGroupRegroup) {
  ClusterState s(Options(2));
  FakeWorker a = Attach(s, "a"), b = Attach(s, "b");
  a.Pop();
  b.Pop();
  s.RemoveWorker("a", "killed");
  EXPECT_FALSE(b.Pop().has_value());
  FakeWorker c = Attach(s, "c");
  auto mb = b.Pop();
  ASSERT_TRUE(mb && mb->has_assign());
  EXPECT_TRUE(c.Pop()->has_assign());
  EXPECT_EQ(s.Status().groups_size(), 1);
}

}  // namespace
}  // namespace r1
