#include "coordinator/cluster/cluster_state.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "coordinator/cluster/testing/fake_worker.h"
#include "r1/v1/inference.pb.h"

namespace r1 {
namespace {

using testing::FakeWorker;

class ClusterStateTest : public ::testing::Test {
 protected:
  ClusterOptions Options(int group_size) { return testing::TestClusterOptions(group_size); }
  FakeWorker Attach(ClusterState& s, const std::string& id) { return testing::AttachWorker(s, id); }
  void SendReady(ClusterState& s, const FakeWorker& w) { testing::SendReady(s, w, 1000); }
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

// A handle read without a thread: the callback fires when tokens or the end arrive (at once when
// some already wait), Next(zero) takes them, and nothing fires after the callback is cleared or
// the handle is gone.
TEST_F(ClusterStateTest, NotifySaysWhenTokensArrive) {
  ClusterState s(Options(1));
  FakeWorker a = Attach(s, "a");
  a.Pop();
  SendReady(s, a);
  auto h = s.Submit(Req());
  ASSERT_TRUE(h.ok());
  const uint64_t seq = a.Pop()->submit().sequence_id();
  SendTokens(s, a, seq, {1}, false);
  int calls = 0;
  (*h)->SetNotify([&] { ++calls; });
  EXPECT_EQ(calls, 1);  // a token was already waiting
  EXPECT_EQ((*h)->Next(absl::ZeroDuration()).token_ids, (std::vector<int32_t>{1}));
  TokenBatch empty = (*h)->Next(absl::ZeroDuration());
  EXPECT_TRUE(empty.token_ids.empty());
  EXPECT_EQ(empty.end, GenerationEnd::kNone);
  EXPECT_EQ(calls, 1);
  SendTokens(s, a, seq, {2, 3}, false);
  EXPECT_EQ(calls, 2);
  SendTokens(s, a, seq, {}, true, r1::v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(calls, 3);
  TokenBatch b = (*h)->Next(absl::ZeroDuration());
  EXPECT_EQ(b.token_ids, (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(b.end, GenerationEnd::kLength);

  // Cleared, or the handle destroyed: no more calls.
  auto h2 = s.Submit(Req());
  const uint64_t seq2 = a.Pop()->submit().sequence_id();
  int calls2 = 0;
  (*h2)->SetNotify([&] { ++calls2; });
  (*h2)->SetNotify(nullptr);
  SendTokens(s, a, seq2, {4}, false);
  EXPECT_EQ(calls2, 0);
  (*h2)->SetNotify([&] { ++calls2; });
  EXPECT_EQ(calls2, 1);
  h2->reset();
  SendTokens(s, a, seq2, {5}, true);
  EXPECT_EQ(calls2, 1);
}

// Penalties, logit_bias and logprobs go out in Submit; SequenceTokens.logprobs come back in the
// TokenBatch, one per token, across messages.
TEST_F(ClusterStateTest, SamplingControlsGoOutAndLogprobsComeBack) {
  ClusterState s(Options(1));
  FakeWorker a = Attach(s, "a");
  a.Pop();
  SendReady(s, a);
  GenerationRequest req = Req();
  req.presence_penalty = 0.5f;
  req.frequency_penalty = -1.0f;
  req.repetition_penalty = 1.25f;
  req.logit_bias = {{3, -100.0f}, {9, 2.5f}};
  req.logprobs = true;
  req.top_logprobs = 2;
  auto h = s.Submit(req);
  ASSERT_TRUE(h.ok()) << h.status();
  auto sub = a.Pop();
  ASSERT_TRUE(sub && sub->has_submit());
  const r1::v1::Submit& m = sub->submit();
  EXPECT_FLOAT_EQ(m.presence_penalty(), 0.5f);
  EXPECT_FLOAT_EQ(m.frequency_penalty(), -1.0f);
  EXPECT_FLOAT_EQ(m.repetition_penalty(), 1.25f);
  ASSERT_EQ(m.logit_bias_size(), 2);
  EXPECT_FLOAT_EQ(m.logit_bias().at(3), -100.0f);
  EXPECT_FLOAT_EQ(m.logit_bias().at(9), 2.5f);
  EXPECT_TRUE(m.logprobs());
  EXPECT_EQ(m.top_logprobs(), 2);

  auto send = [&](std::vector<int> ids, bool finished) {
    r1::v1::WorkerMessage w;
    auto* st = w.mutable_token_events()->add_sequences();
    st->set_sequence_id(m.sequence_id());
    for (int t : ids) {
      st->add_token_ids(t);
      auto* lp = st->add_logprobs();
      lp->set_logprob(-0.25f * static_cast<float>(t));
      lp->add_top_ids(t);
      lp->add_top_logprobs(-0.25f * static_cast<float>(t));
      lp->add_top_ids(t + 1);
      lp->add_top_logprobs(-2.0f);
    }
    st->set_finished(finished);
    st->set_finish_reason(r1::v1::FINISH_REASON_STOP);
    s.OnMessage(a.id, w);
  };
  send({1, 2}, false);
  send({3}, true);
  TokenBatch b = (*h)->Next(absl::Seconds(1));
  EXPECT_EQ(b.token_ids, (std::vector<int32_t>{1, 2, 3}));
  ASSERT_EQ(b.logprobs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FLOAT_EQ(b.logprobs[i].logprob, -0.25f * static_cast<float>(i + 1));
    EXPECT_EQ(b.logprobs[i].top, (std::vector<std::pair<int32_t, float>>{
                                     {i + 1, -0.25f * static_cast<float>(i + 1)}, {i + 2, -2.0f}}));
  }
  EXPECT_EQ(b.end, GenerationEnd::kStop);

  // Without logprobs none are asked for; repetition_penalty 1 (off) is sent as 1.
  auto plain = s.Submit(Req());
  ASSERT_TRUE(plain.ok());
  auto sub2 = a.Pop();
  ASSERT_TRUE(sub2 && sub2->has_submit());
  EXPECT_FALSE(sub2->submit().logprobs());
  EXPECT_EQ(sub2->submit().top_logprobs(), 0);
  EXPECT_EQ(sub2->submit().repetition_penalty(), 1.0f);
  EXPECT_EQ(sub2->submit().logit_bias_size(), 0);
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
  const uint64_t group = a.Pop()->assign().group_id();
  b.Pop();
  s.RemoveWorker("a", "killed");
  // The survivor is told to abort the group at once (it may be blocked in a collective), and
  // nothing else until a group can form again.
  auto abort = b.Pop();
  ASSERT_TRUE(abort && abort->has_abort_group());
  EXPECT_EQ(abort->abort_group().group_id(), group);
  EXPECT_NE(abort->abort_group().reason().find("worker a killed"), std::string::npos)
      << abort->abort_group().reason();
  EXPECT_FALSE(abort->abort_group().drained());
  EXPECT_FALSE(b.Pop().has_value());
  FakeWorker c = Attach(s, "c");
  auto mb = b.Pop();
  ASSERT_TRUE(mb && mb->has_assign());
  EXPECT_TRUE(c.Pop()->has_assign());
  EXPECT_EQ(s.Status().groups_size(), 1);
}

// Drain of a worker: its group stops taking requests, the in-flight one finishes, then every
// member is released (drained AbortGroup) and the target is told to shut down; the peer is idle
// and forms a new group with a newcomer.
TEST_F(ClusterStateTest, DrainAWorkerReleasesItsGroupAfterItsRequests) {
  ClusterState s(Options(2));
  FakeWorker a = Attach(s, "a"), b = Attach(s, "b");
  const uint64_t group = a.Pop()->assign().group_id();
  b.Pop();
  SendReady(s, a);
  SendReady(s, b);
  ASSERT_TRUE(s.Ready());
  auto h = s.Submit(Req());
  ASSERT_TRUE(h.ok());
  auto submitted = a.Pop();
  if (!submitted) submitted = b.Pop();
  ASSERT_TRUE(submitted && submitted->has_submit());
  const uint64_t seq = submitted->submit().sequence_id();
  r1::v1::DrainRequest req;
  req.set_worker_id("a");
  req.set_timeout_s(10);
  absl::StatusOr<r1::v1::DrainResponse> resp;
  std::thread drain([&] { resp = s.Drain(req); });
  // While draining: nothing new is routed to the group.
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(s.Submit(Req()).status().code(), absl::StatusCode::kUnavailable);
  // The request finishes; the drain completes.
  SendTokens(s, a, seq, {1}, true);
  SendTokens(s, b, seq, {1}, true);
  drain.join();
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->group_id(), group);
  EXPECT_EQ(resp->requests_cut(), 0u);
  ASSERT_EQ(resp->shut_down_size(), 1);
  EXPECT_EQ(resp->shut_down(0), "a");
  auto release_a = a.Pop();
  ASSERT_TRUE(release_a && release_a->has_abort_group());
  EXPECT_TRUE(release_a->abort_group().drained());
  EXPECT_TRUE(a.Pop()->has_shutdown());
  auto release_b = b.Pop();
  ASSERT_TRUE(release_b && release_b->has_abort_group());
  EXPECT_TRUE(release_b->abort_group().drained());
  EXPECT_FALSE(b.Pop().has_value());
  EXPECT_EQ(s.Status().groups_size(), 0);
  // The drained worker is never re-grouped; the peer and a newcomer form the next group.
  FakeWorker c = Attach(s, "c");
  EXPECT_TRUE(b.Pop()->has_assign());
  EXPECT_TRUE(c.Pop()->has_assign());
  EXPECT_FALSE(a.Pop().has_value());
}

TEST_F(ClusterStateTest, DrainCutsWhatOutlivesItsTimeoutAndRefusesBadTargets) {
  ClusterState s(Options(1));
  FakeWorker a = Attach(s, "a");
  const uint64_t group = a.Pop()->assign().group_id();
  SendReady(s, a);
  auto h = s.Submit(Req());
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(a.Pop()->has_submit());
  r1::v1::DrainRequest req;
  req.set_group_id(group);
  req.set_timeout_s(1);
  auto resp = s.Drain(req);
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->requests_cut(), 1u);
  EXPECT_EQ(resp->shut_down_size(), 0);  // a group target: the worker returns to idle
  EXPECT_TRUE(a.Pop()->has_cancel());
  EXPECT_TRUE(a.Pop()->has_abort_group());
  EXPECT_TRUE(a.Pop()->has_assign());  // idle again: a new group of one forms at once
  r1::v1::DrainRequest none;
  EXPECT_EQ(s.Drain(none).status().code(), absl::StatusCode::kInvalidArgument);
  r1::v1::DrainRequest both = req;
  both.set_worker_id("a");
  EXPECT_EQ(s.Drain(both).status().code(), absl::StatusCode::kInvalidArgument);
  r1::v1::DrainRequest unknown;
  unknown.set_worker_id("zz");
  EXPECT_EQ(s.Drain(unknown).status().code(), absl::StatusCode::kNotFound);
  unknown.set_worker_id("");
  unknown.set_group_id(999);
  EXPECT_EQ(s.Drain(unknown).status().code(), absl::StatusCode::kNotFound);
}

// The Retry-After payload of a refused Submit ("" when absent).
std::string RetryAfter(const absl::Status& s) {
  auto p = s.GetPayload(kRetryAfterPayload);
  return p.has_value() ? std::string(*p) : "";
}

TEST(ValidateClusterOptionsTest, DefaultsPassAndEachBadFieldIsNamed) {
  ClusterOptions ok;
  EXPECT_TRUE(ValidateClusterOptions(ok).ok());
  ok.max_waiting_per_worker = 0;             // no limit
  ok.max_queue_wait = absl::ZeroDuration();  // off
  EXPECT_TRUE(ValidateClusterOptions(ok).ok());
  struct Bad {
    const char* field;
    std::function<void(ClusterOptions&)> set;
  };
  const std::vector<Bad> bad = {
      {"group_size", [](ClusterOptions& o) { o.group_size = 0; }},
      {"group_size", [](ClusterOptions& o) { o.group_size = 1025; }},
      {"num_experts", [](ClusterOptions& o) { o.num_experts = -1; }},
      {"max_inflight", [](ClusterOptions& o) { o.max_inflight = 0; }},
      {"max_waiting_per_worker", [](ClusterOptions& o) { o.max_waiting_per_worker = -1; }},
      {"max_queue_wait", [](ClusterOptions& o) { o.max_queue_wait = -absl::Seconds(1); }},
      {"max_queue_wait", [](ClusterOptions& o) { o.max_queue_wait = absl::InfiniteDuration(); }},
      {"heartbeat_timeout", [](ClusterOptions& o) { o.heartbeat_timeout = absl::ZeroDuration(); }},
      {"kv_cache_fraction", [](ClusterOptions& o) { o.kv_cache_fraction = 0; }},
      {"kv_cache_fraction", [](ClusterOptions& o) { o.kv_cache_fraction = 1.5f; }},
  };
  for (const Bad& b : bad) {
    ClusterOptions o;
    b.set(o);
    const absl::Status st = ValidateClusterOptions(o);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << b.field;
    EXPECT_NE(st.message().find(b.field), absl::string_view::npos) << st;
  }
}

// Admission with an injected clock: one serving worker per group of 1.
class AdmissionTest : public ClusterStateTest {
 protected:
  ClusterOptions Admission(int max_waiting, absl::Duration max_wait) {
    ClusterOptions o = Options(1);
    o.max_waiting_per_worker = max_waiting;
    o.max_queue_wait = max_wait;
    o.clock = [this] { return now_; };
    return o;
  }
  FakeWorker Serving(ClusterState& s, const std::string& id) {
    FakeWorker w = Attach(s, id);
    w.Pop();  // Assign
    SendReady(s, w);
    return w;
  }
  // The sequence id of the next Submit the worker received.
  uint64_t NextSeq(FakeWorker& w) {
    auto m = w.Pop();
    EXPECT_TRUE(m && m->has_submit());
    return m && m->has_submit() ? m->submit().sequence_id() : 0;
  }
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
};

TEST_F(AdmissionTest, InflightLimitIsResourceExhaustedWithRetryAfter) {
  ClusterOptions o = Admission(0, absl::ZeroDuration());
  o.max_inflight = 2;
  ClusterState s(o);
  FakeWorker a = Serving(s, "a");
  auto h1 = s.Submit(Req()), h2 = s.Submit(Req());
  ASSERT_TRUE(h1.ok() && h2.ok());
  auto h3 = s.Submit(Req());
  EXPECT_EQ(h3.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryAfter(h3.status()), "1");
  h1->reset();  // cancelled: room again
  EXPECT_TRUE(s.Submit(Req()).ok());
}

TEST_F(AdmissionTest, QueueLengthCapCountsSequencesWithoutAFirstToken) {
  ClusterState s(Admission(2, absl::ZeroDuration()));
  FakeWorker a = Serving(s, "a");
  auto h1 = s.Submit(Req()), h2 = s.Submit(Req());
  ASSERT_TRUE(h1.ok() && h2.ok());
  const uint64_t seq1 = NextSeq(a);
  auto refused = s.Submit(Req());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("queue is full"), absl::string_view::npos);
  EXPECT_EQ(RetryAfter(refused.status()), "1");
  // The first sequence's first token takes it out of the queue (it stays in flight).
  SendTokens(s, a, seq1, {1}, false);
  auto h3 = s.Submit(Req());
  EXPECT_TRUE(h3.ok());
  EXPECT_EQ(s.Submit(Req()).status().code(), absl::StatusCode::kResourceExhausted);
  // A handle dropped before its first token (the client went away) frees its place too.
  h2->reset();
  EXPECT_TRUE(s.Submit(Req()).ok());
}

TEST_F(AdmissionTest, AFullWorkerIsSkippedForOneWithRoom) {
  ClusterState s(Admission(1, absl::ZeroDuration()));
  FakeWorker a = Serving(s, "a"), b = Serving(s, "b");
  auto h1 = s.Submit(Req()), h2 = s.Submit(Req());
  ASSERT_TRUE(h1.ok() && h2.ok());
  EXPECT_TRUE(a.Pop().has_value());
  EXPECT_TRUE(b.Pop().has_value());
  EXPECT_EQ(s.Submit(Req()).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(AdmissionTest, AStalledQueueRefusesOnceItsHeadWaitedPastTheBound) {
  ClusterState s(Admission(0, absl::Seconds(5)));
  FakeWorker a = Serving(s, "a");
  auto h1 = s.Submit(Req());
  ASSERT_TRUE(h1.ok());
  const uint64_t seq1 = NextSeq(a);
  now_ += absl::Seconds(4);
  auto h2 = s.Submit(Req());  // the head has waited 4 s: within 5 s
  ASSERT_TRUE(h2.ok());
  now_ += absl::Seconds(6);  // the head has waited 10 s
  auto refused = s.Submit(Req());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("estimated queue wait is 10.0 s (limit 5.0 s)"),
            absl::string_view::npos)
      << refused.status();
  EXPECT_EQ(RetryAfter(refused.status()), "5");
  // Both start: the queue is empty and admits again.
  SendTokens(s, a, seq1, {1}, false);
  SendTokens(s, a, NextSeq(a), {1}, false);
  EXPECT_TRUE(s.Submit(Req()).ok());
}

TEST_F(AdmissionTest, WorkAheadOverTheMeasuredDrainRate) {
  ClusterState s(Admission(0, absl::Seconds(5)));
  FakeWorker a = Serving(s, "a");
  // The queue stays backed up for 1 s while 200 prompt tokens start: 200 tokens/s.
  auto h1 = s.Submit(Req(100)), h2 = s.Submit(Req(100));
  ASSERT_TRUE(h1.ok() && h2.ok());
  const uint64_t seq1 = NextSeq(a), seq2 = NextSeq(a);
  now_ += absl::Milliseconds(500);
  SendTokens(s, a, seq1, {1}, false);
  now_ += absl::Milliseconds(500);
  SendTokens(s, a, seq2, {1}, false);
  now_ += absl::Seconds(1);
  // An empty queue admits anything.
  auto h3 = s.Submit(Req(100));
  ASSERT_TRUE(h3.ok());
  // Behind 100 waiting tokens: 800 more wait (100 + 800) / 200 = 4.5 s, 1000 more 5.5 s.
  auto refused = s.Submit(Req(1000));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("5.5 s"), absl::string_view::npos) << refused.status();
  EXPECT_EQ(RetryAfter(refused.status()), "1");
  EXPECT_TRUE(s.Submit(Req(800)).ok());
}

TEST_F(AdmissionTest, BoundZeroAndNoCapAdmitEverything) {
  ClusterState s(Admission(0, absl::ZeroDuration()));
  FakeWorker a = Serving(s, "a");
  std::vector<std::unique_ptr<GenerationHandle>> hs;
  for (int i = 0; i < 300; ++i) {
    auto h = s.Submit(Req());
    ASSERT_TRUE(h.ok()) << i << " " << h.status();
    hs.push_back(*std::move(h));
    now_ += absl::Seconds(1);
  }
}

TEST_F(AdmissionTest, EndedSequencesLeaveTheQueue) {
  ClusterState s(Admission(1, absl::ZeroDuration()));
  FakeWorker a = Serving(s, "a");
  auto h1 = s.Submit(Req());
  ASSERT_TRUE(h1.ok());
  const uint64_t seq1 = NextSeq(a);
  EXPECT_FALSE(s.Submit(Req()).ok());
  // Finished without a token (an error on the worker): out of the queue too.
  SendTokens(s, a, seq1, {}, true, r1::v1::FINISH_REASON_ERROR);
  EXPECT_TRUE(s.Submit(Req()).ok());
}

}  // namespace
}  // namespace r1
