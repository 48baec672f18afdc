// Communicator tests: the rendezvous stores; GlooCommunicator through the shared conformance
// suite (testing/communicator_conformance.h: collectives, argument errors, timeouts and aborts
// with 1, 2 and 4 ranks as threads of this process over loopback); two groups on one store;
// LocalCommunicator; and a Gloo bootstrap through the gRPC Rendezvous client.
#include "worker/comm/communicator.h"

#include <gloo/common/error.h>

#include <signal.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
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
#include "worker/comm/testing/communicator_conformance.h"

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

// ---- collectives, argument errors, timeouts and aborts: the shared conformance suite ----

using ::r1::testing::CommunicatorConformanceTest;
using ::r1::testing::ConformanceCase;

ConformanceCase GlooCase(int world) {
  ConformanceCase c;
  c.name = "GlooW" + std::to_string(world);
  c.world = world;
  c.create = [](KeyValueStore* store, const std::string& prefix, int rank, int size,
                absl::Duration connect_timeout) -> absl::StatusOr<std::unique_ptr<Communicator>> {
    GlooOptions o;
    o.rank = rank;
    o.size = size;
    o.prefix = prefix;
    o.connect_timeout = connect_timeout;
    auto comm = GlooCommunicator::Create(o, store);
    if (!comm.ok()) return comm.status();
    return std::unique_ptr<Communicator>(std::move(*comm));
  };
  c.abort_wakes_peers = true;      // every connection is closed hard
  c.abort_wakes_own_call = false;  // Debian's Gloo: the call ends at its timeout
  return c;
}

INSTANTIATE_TEST_SUITE_P(Gloo, CommunicatorConformanceTest,
                         ::testing::Values(GlooCase(1), GlooCase(2), GlooCase(4)),
                         ::r1::testing::ConformanceCaseName);

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

// A peer that closed its sockets must fail our next write with EPIPE, not kill the process with
// SIGPIPE (seen: a rank writing to a peer that had just failed the same collective and closed).
TEST(GlooCommunicatorTest, CreateIgnoresSigpipe) {
  InMemoryKeyValueStore store;
  Group g = MakeGroup(1, &store, "sigpipe/");
  ASSERT_EQ(g.size(), 1u);
  struct sigaction current = {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &current), 0);
  EXPECT_EQ(current.sa_handler, SIG_IGN);
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
