// Communicator tests: the rendezvous stores, GlooCommunicator's collectives with 2 and 4 ranks as
// threads of this process over loopback, timeouts and aborts (no hang when a peer is missing),
// LocalCommunicator, and a Gloo bootstrap through the gRPC Rendezvous client.
#include "worker/comm/communicator.h"

#include <gloo/common/error.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "worker/comm/gloo_communicator.h"
#include "worker/comm/gloo_store.h"
#include "worker/comm/grpc_rendezvous_store.h"
#include "worker/comm/key_value_store.h"

namespace r1 {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(20);  // generous: only a hang would reach it

// Runs fn(rank) on `world` threads and joins them.
void OnRanks(int world, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) threads.emplace_back(fn, r);
  for (auto& t : threads) t.join();
}

using Group = std::vector<std::unique_ptr<GlooCommunicator>>;

// Bootstraps `world` ranks concurrently over `store`; communicators outlive the threads so that
// no rank closes its sockets while a peer still reads.
Group MakeGroup(int world, KeyValueStore* store, const std::string& prefix) {
  Group g(world);
  OnRanks(world, [&](int r) {
    GlooOptions o;
    o.rank = r;
    o.size = world;
    o.prefix = prefix;
    o.connect_timeout = kTimeout;
    auto c = GlooCommunicator::Create(o, store);
    ASSERT_TRUE(c.ok()) << c.status();
    g[r] = std::move(*c);
  });
  for (const auto& c : g) EXPECT_NE(c, nullptr);
  return g;
}

// ---- stores ----

TEST(InMemoryKeyValueStoreTest, SetGetWait) {
  InMemoryKeyValueStore s;
  EXPECT_EQ(s.Get("a").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(s.Set("a", std::string("x\0y", 3)).ok());
  EXPECT_EQ(*s.Get("a"), std::string("x\0y", 3));
  ASSERT_TRUE(s.Set("a", "z").ok());
  EXPECT_EQ(*s.Get("a"), "z");
  EXPECT_TRUE(s.Wait({"a"}, absl::Milliseconds(1)).ok());
  const absl::Time start = absl::Now();
  EXPECT_EQ(s.Wait({"a", "b"}, absl::Milliseconds(100)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(90));
  std::thread setter([&] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(s.Set("b", "").ok());
  });
  EXPECT_TRUE(s.Wait({"a", "b"}, kTimeout).ok());
  setter.join();
  EXPECT_EQ(s.size(), 2u);
}

TEST(GlooStoreAdapterTest, PrefixesKeysAndThrowsOnTimeout) {
  InMemoryKeyValueStore s;
  GlooStoreAdapter a(&s, "group/7/", absl::Milliseconds(50));
  a.set("0", {'h', 'i'});
  EXPECT_EQ(*s.Get("group/7/0"), "hi");
  EXPECT_EQ(a.get("0"), std::vector<char>({'h', 'i'}));
  EXPECT_THROW(a.wait({"1"}), gloo::IoException);
  EXPECT_THROW(a.wait({"1"}, std::chrono::milliseconds(20)), gloo::IoException);
  EXPECT_THROW(a.get("1"), gloo::IoException);
}

// ---- collectives ----

class GlooCollectivesTest : public ::testing::TestWithParam<int> {};

// Rank r sends (r + 2p) % 3 elements to rank p: uneven, zero for some pairs (and itself).
int64_t Count(int from, int to) { return (from + 2 * to) % 3; }
float Value(int from, int to, int64_t i) { return static_cast<float>(1000 * from + 10 * to + i); }

TEST_P(GlooCollectivesTest, AllToAllVUnevenAndZeroCounts) {
  const int W = GetParam();
  InMemoryKeyValueStore store;
  Group g = MakeGroup(W, &store, "a2a/");
  OnRanks(W, [&](int r) {
    Communicator& c = *g[r];
    for (int round = 0; round < 20; ++round) {  // many calls: fresh tags, no cross-talk
      std::vector<int64_t> sc(W), rc(W);
      std::vector<float> send;
      for (int p = 0; p < W; ++p) {
        sc[p] = Count(r, p) + (round % 2);
        rc[p] = Count(p, r) + (round % 2);
        for (int64_t i = 0; i < sc[p]; ++i) send.push_back(Value(r, p, i) + round);
      }
      std::vector<float> recv(std::accumulate(rc.begin(), rc.end(), int64_t{0}), -1.0f);
      ASSERT_TRUE(c.AllToAllV<float>(send, sc, absl::MakeSpan(recv), rc, kTimeout).ok());
      size_t k = 0;
      for (int p = 0; p < W; ++p) {
        for (int64_t i = 0; i < rc[p]; ++i, ++k) {
          ASSERT_EQ(recv[k], Value(p, r, i) + round) << "from " << p << " round " << round;
        }
      }
    }
    // Bytes, and every count zero (empty buffers).
    std::vector<int64_t> sc(W), rc(W);
    std::vector<char> bytes;
    for (int p = 0; p < W; ++p) {
      sc[p] = p + 1;
      rc[p] = r + 1;
      for (int i = 0; i <= p; ++i) bytes.push_back(static_cast<char>('a' + r));
    }
    std::vector<char> got(W * (r + 1));
    ASSERT_TRUE(c.AllToAllV<char>(bytes, sc, absl::MakeSpan(got), rc, kTimeout).ok());
    for (int p = 0; p < W; ++p) {
      for (int i = 0; i <= r; ++i) EXPECT_EQ(got[p * (r + 1) + i], 'a' + p);
    }
    const std::vector<int64_t> zeros(W, 0);
    std::vector<float> none;
    ASSERT_TRUE(c.AllToAllV<float>(none, zeros, absl::MakeSpan(none), zeros, kTimeout).ok());
    EXPECT_TRUE(c.health().ok());
  });
}

TEST_P(GlooCollectivesTest, AllGatherAllReduceBarrier) {
  const int W = GetParam();
  InMemoryKeyValueStore store;
  Group g = MakeGroup(W, &store, "misc/");
  OnRanks(W, [&](int r) {
    Communicator& c = *g[r];
    EXPECT_EQ(c.rank(), r);
    EXPECT_EQ(c.size(), W);
    const std::vector<int64_t> mine = {r, 10 * r, -r};
    std::vector<int64_t> all(3 * W);
    ASSERT_TRUE(c.AllGather<int64_t>(mine, absl::MakeSpan(all), kTimeout).ok());
    for (int p = 0; p < W; ++p) {
      EXPECT_EQ(all[3 * p], p);
      EXPECT_EQ(all[3 * p + 1], 10 * p);
      EXPECT_EQ(all[3 * p + 2], -p);
    }
    std::vector<float> fall(W);
    const std::vector<float> fmine = {0.5f * r};
    ASSERT_TRUE(c.AllGather<float>(fmine, absl::MakeSpan(fall), kTimeout).ok());
    for (int p = 0; p < W; ++p) EXPECT_EQ(fall[p], 0.5f * p);

    std::vector<int64_t> s = {r, 1, int64_t{1} << 40};
    ASSERT_TRUE(c.AllReduce(absl::MakeSpan(s), ReduceOp::kSum, kTimeout).ok());
    EXPECT_EQ(s, (std::vector<int64_t>{W * (W - 1) / 2, W, W * (int64_t{1} << 40)}));
    std::vector<int64_t> m = {r, -r};
    ASSERT_TRUE(c.AllReduce(absl::MakeSpan(m), ReduceOp::kMax, kTimeout).ok());
    EXPECT_EQ(m, (std::vector<int64_t>{W - 1, 0}));
    std::vector<float> fs = {0.25f * r, 1.0f};
    ASSERT_TRUE(c.AllReduce(absl::MakeSpan(fs), ReduceOp::kSum, kTimeout).ok());
    EXPECT_FLOAT_EQ(fs[0], 0.25f * W * (W - 1) / 2);
    EXPECT_FLOAT_EQ(fs[1], static_cast<float>(W));
    std::vector<float> fm = {-1.5f * r};
    ASSERT_TRUE(c.AllReduce(absl::MakeSpan(fm), ReduceOp::kMax, kTimeout).ok());
    EXPECT_EQ(fm[0], 0.0f);
    std::vector<float> empty;
    ASSERT_TRUE(c.AllReduce(absl::MakeSpan(empty), ReduceOp::kSum, kTimeout).ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.Barrier(kTimeout).ok());
  });
}

INSTANTIATE_TEST_SUITE_P(Ranks, GlooCollectivesTest, ::testing::Values(2, 4),
                         [](const auto& info) { return "W" + std::to_string(info.param); });

TEST(GlooCommunicatorTest, ArgumentErrorsAreNotSticky) {
  InMemoryKeyValueStore store;
  Group g = MakeGroup(2, &store, "args/");
  OnRanks(2, [&](int r) {
    Communicator& c = *g[r];
    std::vector<float> buf(4);
    const std::vector<int64_t> three = {1, 1, 2};
    const std::vector<int64_t> bad_sum = {1, 1};
    const std::vector<int64_t> negative = {-1, 5};
    EXPECT_EQ(c.AllToAllV<float>(buf, three, absl::MakeSpan(buf), three, kTimeout).code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(c.AllToAllV<float>(buf, bad_sum, absl::MakeSpan(buf), bad_sum, kTimeout).code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(c.AllToAllV<float>(buf, negative, absl::MakeSpan(buf), negative, kTimeout).code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(c.AllGather<float>(buf, absl::MakeSpan(buf), kTimeout).code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(c.Barrier(absl::ZeroDuration()).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(c.health().ok());
    EXPECT_TRUE(c.Barrier(kTimeout).ok());
  });
}

TEST(GlooCommunicatorTest, GroupsWithDifferentPrefixesShareOneStore) {
  InMemoryKeyValueStore store;
  Group a, b;
  std::thread ta([&] { a = MakeGroup(2, &store, "group/1/"); });
  std::thread tb([&] { b = MakeGroup(3, &store, "group/2/"); });
  ta.join();
  tb.join();
  for (Group* g : {&a, &b}) {
    const int W = static_cast<int>(g->size());
    OnRanks(W, [&](int r) {
      std::vector<int64_t> v = {1};
      ASSERT_TRUE((*g)[r]->AllReduce(absl::MakeSpan(v), ReduceOp::kSum, kTimeout).ok());
      EXPECT_EQ(v[0], W);
    });
  }
}

// ---- failures: every call returns within its timeout ----

TEST(GlooCommunicatorTest, BootstrapFailsWhenARankNeverJoins) {
  InMemoryKeyValueStore store;
  const absl::Duration timeout = absl::Milliseconds(800);
  std::vector<absl::Status> st(2);
  const absl::Time start = absl::Now();
  OnRanks(2, [&](int r) {  // ranks 0 and 1 of 3; rank 2 never comes
    GlooOptions o;
    o.rank = r;
    o.size = 3;
    o.prefix = "lonely/";
    o.connect_timeout = timeout;
    st[r] = GlooCommunicator::Create(o, &store).status();
  });
  const absl::Duration took = absl::Now() - start;
  for (const absl::Status& s : st) EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(took, absl::Seconds(5));
}

TEST(GlooCommunicatorTest, CollectiveTimesOutWhenAPeerNeverCalls) {
  InMemoryKeyValueStore store;
  Group g = MakeGroup(3, &store, "silent/");
  const absl::Duration timeout = absl::Milliseconds(500);
  std::vector<absl::Status> st(2);
  std::vector<absl::Duration> took(2);
  OnRanks(2, [&](int r) {  // rank 2 stays silent
    const absl::Time start = absl::Now();
    std::vector<float> v = {1.0f};
    st[r] = g[r]->AllReduce(absl::MakeSpan(v), ReduceOp::kSum, timeout);
    took[r] = absl::Now() - start;
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(st[r].code() == absl::StatusCode::kDeadlineExceeded ||
                st[r].code() == absl::StatusCode::kUnavailable)
        << st[r];
    EXPECT_LT(took[r], absl::Seconds(5));
    // Sticky: the next call fails at once.
    EXPECT_FALSE(g[r]->health().ok());
    const absl::Time start = absl::Now();
    EXPECT_FALSE(g[r]->Barrier(kTimeout).ok());
    EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  }
  // The late rank does not hang either.
  const absl::Time start = absl::Now();
  EXPECT_FALSE(g[2]->Barrier(timeout).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(GlooCommunicatorTest, AbortMakesPeersFailFast) {
  InMemoryKeyValueStore store;
  Group g = MakeGroup(3, &store, "abort/");
  std::vector<absl::Status> st(2);
  std::vector<absl::Duration> took(2);
  // Ranks 0 and 1 wait in a barrier for rank 2, which aborts instead: nobody may wait for the 20 s
  // timeout.
  std::thread aborter([&] {
    absl::SleepFor(absl::Milliseconds(300));
    g[2]->Abort();
  });
  OnRanks(2, [&](int r) {
    const absl::Time start = absl::Now();
    st[r] = g[r]->Barrier(kTimeout);
    took[r] = absl::Now() - start;
  });
  aborter.join();
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(st[r].code(), absl::StatusCode::kUnavailable) << st[r];
    EXPECT_LT(took[r], absl::Seconds(5)) << st[r];
  }
  EXPECT_EQ(g[2]->health().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(g[2]->Barrier(kTimeout).code(), absl::StatusCode::kAborted);
  g[2]->Abort();  // idempotent
}

TEST(GlooCommunicatorTest, AbortDuringOwnCallReturnsAbortedByItsTimeout) {
  InMemoryKeyValueStore store;
  Group g = MakeGroup(2, &store, "abort-self/");
  std::thread aborter([&] {
    absl::SleepFor(absl::Milliseconds(100));
    g[0]->Abort();
  });
  const absl::Time start = absl::Now();
  const absl::Status st = g[0]->Barrier(absl::Milliseconds(700));  // rank 1 never joins
  aborter.join();
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted) << st;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // Rank 1 finds its connection gone.
  const absl::Time start1 = absl::Now();
  EXPECT_FALSE(g[1]->Barrier(kTimeout).ok());
  EXPECT_LT(absl::Now() - start1, absl::Seconds(5));
}

TEST(LocalCommunicatorTest, CopiesAndAborts) {
  LocalCommunicator c;
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(c.size(), 1);
  const std::vector<float> send = {1, 2, 3};
  std::vector<float> recv(3);
  const std::vector<int64_t> three = {3};
  ASSERT_TRUE(c.AllToAllV<float>(send, three, absl::MakeSpan(recv), three, kTimeout).ok());
  EXPECT_EQ(recv, send);
  std::vector<float> gathered(3);
  ASSERT_TRUE(c.AllGather<float>(send, absl::MakeSpan(gathered), kTimeout).ok());
  EXPECT_EQ(gathered, send);
  std::vector<int64_t> v = {4};
  ASSERT_TRUE(c.AllReduce(absl::MakeSpan(v), ReduceOp::kMax, kTimeout).ok());
  EXPECT_EQ(v[0], 4);
  ASSERT_TRUE(c.Barrier(kTimeout).ok());
  c.Abort();
  EXPECT_EQ(c.Barrier(kTimeout).code(), absl::StatusCode::kAborted);
}

// ---- the gRPC Rendezvous client ----

// The service's contract from cluster.proto over an in-memory map (the real one lives in the
// coordinator).
class FakeRendezvous final : public r1::v1::Rendezvous::Service {
 public:
  grpc::Status Set(grpc::ServerContext*, const r1::v1::RendezvousSetRequest* req,
                   r1::v1::RendezvousSetResponse*) override {
    (void)store_.Set(req->key(), req->value());
    return grpc::Status::OK;
  }
  grpc::Status Get(grpc::ServerContext*, const r1::v1::RendezvousGetRequest* req,
                   r1::v1::RendezvousGetResponse* resp) override {
    auto v = store_.Get(req->key());
    if (!v.ok()) return {grpc::StatusCode::NOT_FOUND, "no such key"};
    resp->set_value(*v);
    return grpc::Status::OK;
  }
  grpc::Status Wait(grpc::ServerContext*, const r1::v1::RendezvousWaitRequest* req,
                    r1::v1::RendezvousWaitResponse*) override {
    ++waits;
    std::vector<std::string> keys(req->keys().begin(), req->keys().end());
    if (!store_.Wait(keys, absl::Milliseconds(req->timeout_ms())).ok()) {
      return {grpc::StatusCode::DEADLINE_EXCEEDED, "keys did not appear"};
    }
    return grpc::Status::OK;
  }
  std::atomic<int> waits{0};

 private:
  InMemoryKeyValueStore store_;
};

class GrpcRendezvousStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder b;
    b.RegisterService(&service_);
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override { server_->Shutdown(); }
  std::unique_ptr<GrpcRendezvousStore> Client() {
    return std::make_unique<GrpcRendezvousStore>(server_->InProcessChannel({}));
  }

  FakeRendezvous service_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(GrpcRendezvousStoreTest, SetGetWait) {
  auto s = Client();
  EXPECT_EQ(s->Get("k").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(s->Set("k", std::string("v\0w", 3)).ok());
  EXPECT_EQ(*s->Get("k"), std::string("v\0w", 3));
  EXPECT_TRUE(s->Wait({"k"}, absl::Seconds(1)).ok());
  EXPECT_EQ(s->Wait({"k", "missing"}, absl::Milliseconds(100)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(s->Set("", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Set(std::string(1025, 'k'), "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Set("big", std::string((1 << 20) + 1, 'v')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(GrpcRendezvousStoreTest, GlooBootstrapsThroughIt) {
  const int W = 3;
  Group g(W);
  OnRanks(W, [&](int r) {
    auto store = Client();  // one client per worker, as in the cluster
    GlooOptions o;
    o.rank = r;
    o.size = W;
    o.prefix = "group/42/";
    o.connect_timeout = kTimeout;
    auto c = GlooCommunicator::Create(o, store.get());
    ASSERT_TRUE(c.ok()) << c.status();
    g[r] = std::move(*c);
  });
  OnRanks(W, [&](int r) {
    std::vector<int64_t> v = {r};
    ASSERT_TRUE(g[r]->AllReduce(absl::MakeSpan(v), ReduceOp::kSum, kTimeout).ok());
    EXPECT_EQ(v[0], 3);
  });
  EXPECT_GT(service_.waits.load(), 0);
}

}  // namespace
}  // namespace r1
