// The conformance tests of the Communicator contract (communicator.h), run by every
// implementation over its own buffers: AllToAllV with uneven and zero counts (floats, bytes, 20
// rounds in a row, everything empty), its stream-ordered form (AllToAllVOnStream), AllGather,
// AllReduce sum/max over int64/float, Barrier, argument errors (not sticky), a rank that never
// joins the bootstrap, a rank that never calls a collective, Abort from another thread (peers and
// the aborting rank's own call in flight) and Abort's stickiness.
//
// Usage: a test binary includes this header once (it defines the tests) and instantiates the
// parameterised suite with its cases, e.g.
//   INSTANTIATE_TEST_SUITE_P(Gloo, CommunicatorConformanceTest,
//                            ::testing::Values(GlooCase(2), GlooCase(4)), ConformanceCaseName);
// A case names a factory that creates one rank of a group (called on that rank's thread, ranks as
// threads of this process) and a TestMemory saying where the buffers live (host memory here;
// device memory in the GPU tests). The header needs no CUDA.
#ifndef R1_WORKER_COMM_TESTING_COMMUNICATOR_CONFORMANCE_H_
#define R1_WORKER_COMM_TESTING_COMMUNICATOR_CONFORMANCE_H_

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <latch>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "worker/comm/communicator.h"
#include "worker/comm/key_value_store.h"
#include "worker/comm/testing/conformance_case.h"

namespace r1::testing {

class CommunicatorConformanceTest : public ::testing::TestWithParam<ConformanceCase> {
 protected:
  using Group = std::vector<std::unique_ptr<Communicator>>;
  static constexpr absl::Duration kTimeout = absl::Seconds(20);  // only a hang would reach it

  void SetUp() override {
    if (GetParam().skip_reason) {
      const std::string why = GetParam().skip_reason();
      if (!why.empty()) {
        std::cerr << "[  SKIPPED ] " << GetParam().name << ": " << why << std::endl;
        GTEST_SKIP() << why;
      }
    }
  }

  TestMemory* memory() const { return GetParam().memory.get(); }

  // Runs fn(rank) on `world` threads (after enter_rank) and joins them.
  void OnRanks(int world, const std::function<void(int)>& fn) const {
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        if (GetParam().enter_rank) GetParam().enter_rank(r);
        fn(r);
      });
    }
    for (auto& t : threads) t.join();
  }

  // Creates ranks [0, joining) of a group of `world` concurrently; the statuses of failed ranks
  // go to `statuses` when given.
  Group MakeGroup(int world, const std::string& prefix, int joining = -1,
                  absl::Duration connect_timeout = kTimeout,
                  std::vector<absl::Status>* statuses = nullptr) {
    if (joining < 0) joining = world;
    Group g(world);
    std::vector<absl::Status> st(joining);
    OnRanks(joining, [&](int r) {
      auto c = GetParam().create(&store_, prefix, r, world, connect_timeout);
      if (c.ok()) {
        g[r] = std::move(*c);
      } else {
        st[r] = c.status();
      }
    });
    if (statuses != nullptr) {
      *statuses = st;
    } else {
      for (const absl::Status& s : st) EXPECT_TRUE(s.ok()) << s;
    }
    return g;
  }

  // Destroys the communicators concurrently on their ranks' threads (a communicator may wait for
  // its peers while shutting down).
  void DestroyGroup(Group& g) {
    OnRanks(static_cast<int>(g.size()), [&](int r) { g[r].reset(); });
  }

  static bool GroupOk(const Group& g) {
    for (const auto& c : g) {
      if (c == nullptr) return false;
    }
    return true;
  }

  InMemoryKeyValueStore store_;
};

// Rank r sends (r + 2p) % 3 elements to rank p: uneven, zero for some pairs (and itself).
inline int64_t ConformanceCount(int from, int to) { return (from + 2 * to) % 3; }
inline float ConformanceValue(int from, int to, int64_t i) {
  return static_cast<float>(1000 * from + 10 * to + i);
}

TEST_P(CommunicatorConformanceTest, AllToAllVUnevenAndZeroCounts) {
  const int W = GetParam().world;
  Group g = MakeGroup(W, "a2a/");
  ASSERT_TRUE(GroupOk(g));
  OnRanks(W, [&](int r) {
    Communicator& c = *g[r];
    for (int round = 0; round < 20; ++round) {  // many calls in a row, no cross-talk
      std::vector<int64_t> sc(W), rc(W);
      std::vector<float> send;
      for (int p = 0; p < W; ++p) {
        sc[p] = ConformanceCount(r, p) + (round % 2);
        rc[p] = ConformanceCount(p, r) + (round % 2);
        for (int64_t i = 0; i < sc[p]; ++i) send.push_back(ConformanceValue(r, p, i) + round);
      }
      const int64_t rtotal = std::accumulate(rc.begin(), rc.end(), int64_t{0});
      TestBuffer<float> dsend(memory(), send);
      TestBuffer<float> drecv(memory(), std::vector<float>(rtotal, -1.0f));
      ASSERT_TRUE(c.AllToAllV<float>(dsend.cspan(), sc, drecv.span(), rc, kTimeout).ok());
      const std::vector<float> recv = drecv.Get();
      size_t k = 0;
      for (int p = 0; p < W; ++p) {
        for (int64_t i = 0; i < rc[p]; ++i, ++k) {
          ASSERT_EQ(recv[k], ConformanceValue(p, r, i) + round)
              << "from " << p << " round " << round;
        }
      }
    }
    // Bytes.
    std::vector<int64_t> sc(W), rc(W);
    std::vector<char> bytes;
    for (int p = 0; p < W; ++p) {
      sc[p] = p + 1;
      rc[p] = r + 1;
      for (int i = 0; i <= p; ++i) bytes.push_back(static_cast<char>('a' + r));
    }
    TestBuffer<char> dbytes(memory(), bytes);
    TestBuffer<char> dgot(memory(), W * (r + 1));
    ASSERT_TRUE(c.AllToAllV<char>(dbytes.cspan(), sc, dgot.span(), rc, kTimeout).ok());
    const std::vector<char> got = dgot.Get();
    for (int p = 0; p < W; ++p) {
      for (int i = 0; i <= r; ++i) EXPECT_EQ(got[p * (r + 1) + i], 'a' + p);
    }
    // Every count zero (empty buffers).
    const std::vector<int64_t> zeros(W, 0);
    TestBuffer<float> none(memory(), 0);
    ASSERT_TRUE(c.AllToAllV<float>(none.cspan(), zeros, none.span(), zeros, kTimeout).ok());
    EXPECT_TRUE(c.health().ok());
  });
  DestroyGroup(g);
}

// The stream-ordered form: ten rounds enqueued back to back on one stream with no host wait in
// between, then one wait; every round lands in its own buffers. A communicator without a stream
// order says Unimplemented (not sticky); a stream-ordered one refuses host buffers.
TEST_P(CommunicatorConformanceTest, AllToAllVOnStream) {
  const int W = GetParam().world;
  Group g = MakeGroup(W, "a2as/");
  ASSERT_TRUE(GroupOk(g));
  TestStreams* streams = GetParam().streams.get();
  OnRanks(W, [&](int r) {
    Communicator& c = *g[r];
    const std::vector<int64_t> zeros(W, 0);
    if (!c.stream_ordered()) {
      TestBuffer<float> none(memory(), 0);
      EXPECT_EQ(
          c.AllToAllVOnStream<float>(none.cspan(), zeros, none.span(), zeros, nullptr, kTimeout)
              .code(),
          absl::StatusCode::kUnimplemented);
      EXPECT_TRUE(c.health().ok());
      return;
    }
    ASSERT_NE(streams, nullptr) << "a stream-ordered communicator's case needs TestStreams";
    void* stream = streams->Create();
    if (memory()->name() != "device") {  // host or pinned buffers: refused, not sticky
      std::vector<int64_t> ones(W, 1);
      TestBuffer<float> a(memory(), std::vector<float>(W, 1.0f)), b(memory(), W);
      EXPECT_EQ(
          c.AllToAllVOnStream<float>(a.cspan(), ones, b.span(), ones, stream, kTimeout).code(),
          absl::StatusCode::kInvalidArgument);
      EXPECT_TRUE(c.health().ok());
      streams->Destroy(stream);
      return;
    }
    constexpr int kRounds = 10;
    std::vector<std::unique_ptr<TestBuffer<float>>> sends, recvs;
    std::vector<std::vector<int64_t>> recv_counts;
    for (int round = 0; round < kRounds; ++round) {
      std::vector<int64_t> sc(W), rc(W);
      std::vector<float> send;
      for (int p = 0; p < W; ++p) {
        sc[p] = ConformanceCount(r, p) + (round % 2);
        rc[p] = ConformanceCount(p, r) + (round % 2);
        for (int64_t i = 0; i < sc[p]; ++i) send.push_back(ConformanceValue(r, p, i) + round);
      }
      const int64_t rtotal = std::accumulate(rc.begin(), rc.end(), int64_t{0});
      sends.push_back(std::make_unique<TestBuffer<float>>(memory(), send));
      recvs.push_back(
          std::make_unique<TestBuffer<float>>(memory(), std::vector<float>(rtotal, -1.0f)));
      ASSERT_TRUE(c.AllToAllVOnStream<float>(sends.back()->cspan(), sc, recvs.back()->span(), rc,
                                             stream, kTimeout)
                      .ok());
      recv_counts.push_back(rc);
    }
    streams->Synchronize(stream);
    for (int round = 0; round < kRounds; ++round) {
      const std::vector<float> recv = recvs[round]->Get();
      size_t k = 0;
      for (int p = 0; p < W; ++p) {
        for (int64_t i = 0; i < recv_counts[round][p]; ++i, ++k) {
          ASSERT_EQ(recv[k], ConformanceValue(p, r, i) + round)
              << "from " << p << " round " << round;
        }
      }
    }
    EXPECT_TRUE(c.health().ok());
    streams->Destroy(stream);
  });
  DestroyGroup(g);
}

TEST_P(CommunicatorConformanceTest, AllGatherAllReduceBarrier) {
  const int W = GetParam().world;
  Group g = MakeGroup(W, "misc/");
  ASSERT_TRUE(GroupOk(g));
  OnRanks(W, [&](int r) {
    Communicator& c = *g[r];
    EXPECT_EQ(c.rank(), r);
    EXPECT_EQ(c.size(), W);
    TestBuffer<int64_t> mine(memory(), std::vector<int64_t>{r, 10 * r, -r});
    TestBuffer<int64_t> all(memory(), 3 * W);
    ASSERT_TRUE(c.AllGather<int64_t>(mine.cspan(), all.span(), kTimeout).ok());
    const std::vector<int64_t> got = all.Get();
    for (int p = 0; p < W; ++p) {
      EXPECT_EQ(got[3 * p], p);
      EXPECT_EQ(got[3 * p + 1], 10 * p);
      EXPECT_EQ(got[3 * p + 2], -p);
    }
    TestBuffer<float> fmine(memory(), std::vector<float>{0.5f * r});
    TestBuffer<float> fall(memory(), W);
    ASSERT_TRUE(c.AllGather<float>(fmine.cspan(), fall.span(), kTimeout).ok());
    const std::vector<float> fgot = fall.Get();
    for (int p = 0; p < W; ++p) EXPECT_EQ(fgot[p], 0.5f * p);

    TestBuffer<int64_t> s(memory(), std::vector<int64_t>{r, 1, int64_t{1} << 40});
    ASSERT_TRUE(c.AllReduce(s.span(), ReduceOp::kSum, kTimeout).ok());
    EXPECT_EQ(s.Get(), (std::vector<int64_t>{W * (W - 1) / 2, W, W * (int64_t{1} << 40)}));
    TestBuffer<int64_t> m(memory(), std::vector<int64_t>{r, -r});
    ASSERT_TRUE(c.AllReduce(m.span(), ReduceOp::kMax, kTimeout).ok());
    EXPECT_EQ(m.Get(), (std::vector<int64_t>{W - 1, 0}));
    TestBuffer<float> fs(memory(), std::vector<float>{0.25f * r, 1.0f});
    ASSERT_TRUE(c.AllReduce(fs.span(), ReduceOp::kSum, kTimeout).ok());
    const std::vector<float> fsum = fs.Get();
    EXPECT_FLOAT_EQ(fsum[0], 0.25f * W * (W - 1) / 2);
    EXPECT_FLOAT_EQ(fsum[1], static_cast<float>(W));
    TestBuffer<float> fm(memory(), std::vector<float>{-1.5f * r});
    ASSERT_TRUE(c.AllReduce(fm.span(), ReduceOp::kMax, kTimeout).ok());
    EXPECT_EQ(fm.Get()[0], 0.0f);
    TestBuffer<float> empty(memory(), 0);
    ASSERT_TRUE(c.AllReduce(empty.span(), ReduceOp::kSum, kTimeout).ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.Barrier(kTimeout).ok());
  });
  DestroyGroup(g);
}

TEST_P(CommunicatorConformanceTest, ArgumentErrorsAreNotSticky) {
  const int W = GetParam().world;
  Group g = MakeGroup(W, "args/");
  ASSERT_TRUE(GroupOk(g));
  OnRanks(W, [&](int r) {
    Communicator& c = *g[r];
    TestBuffer<float> buf(memory(), 4);
    TestBuffer<float> big(memory(), 4 * W + 1);
    const std::vector<int64_t> wrong_size(W + 1, 0);
    std::vector<int64_t> bad_sum(W, 0);
    bad_sum[0] = 5;
    std::vector<int64_t> negative(W, 0);
    negative[0] = -1;
    if (W > 1) negative[1] = 5;
    const auto invalid = absl::StatusCode::kInvalidArgument;
    EXPECT_EQ(c.AllToAllV<float>(buf.cspan(), wrong_size, buf.span(), wrong_size, kTimeout).code(),
              invalid);
    EXPECT_EQ(c.AllToAllV<float>(buf.cspan(), bad_sum, buf.span(), bad_sum, kTimeout).code(),
              invalid);
    EXPECT_EQ(c.AllToAllV<float>(buf.cspan(), negative, buf.span(), negative, kTimeout).code(),
              invalid);
    // One element to itself, none expected from itself.
    TestBuffer<float> one(memory(), 1);
    TestBuffer<float> none(memory(), 0);
    std::vector<int64_t> self(W, 0);
    self[r] = 1;
    const std::vector<int64_t> zeros(W, 0);
    EXPECT_EQ(c.AllToAllV<float>(one.cspan(), self, none.span(), zeros, kTimeout).code(), invalid);
    EXPECT_EQ(c.AllGather<float>(buf.cspan(), big.span(), kTimeout).code(), invalid);
    EXPECT_EQ(c.Barrier(absl::ZeroDuration()).code(), invalid);
    EXPECT_EQ(c.AllReduce(buf.span(), ReduceOp::kSum, -absl::Seconds(1)).code(), invalid);
    EXPECT_TRUE(c.health().ok());
    EXPECT_TRUE(c.Barrier(kTimeout).ok());
  });
  DestroyGroup(g);
}

TEST_P(CommunicatorConformanceTest, BootstrapFailsWhenARankNeverJoins) {
  // Ranks 0..W-1 of a group of W + 1; the last never comes.
  const int W = GetParam().world;
  const absl::Duration timeout = absl::Milliseconds(800);
  std::vector<absl::Status> st;
  const absl::Time start = absl::Now();
  Group g = MakeGroup(W + 1, "lonely/", W, timeout, &st);
  const absl::Duration took = absl::Now() - start;
  for (const absl::Status& s : st) EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(took, timeout + absl::Seconds(5));
  DestroyGroup(g);
}

TEST_P(CommunicatorConformanceTest, CollectiveTimesOutWhenAPeerNeverCalls) {
  const int W = GetParam().world;
  if (W < 2) GTEST_SKIP() << "needs a peer";
  Group g = MakeGroup(W, "silent/");
  ASSERT_TRUE(GroupOk(g));
  const absl::Duration timeout = absl::Milliseconds(500);
  std::vector<absl::Status> st(W - 1);
  std::vector<absl::Duration> took(W - 1);
  OnRanks(W - 1, [&](int r) {  // the last rank stays silent
    TestBuffer<float> v(memory(), std::vector<float>{1.0f});
    const absl::Time start = absl::Now();
    st[r] = g[r]->AllReduce(v.span(), ReduceOp::kSum, timeout);
    took[r] = absl::Now() - start;
    // Sticky: the next call fails at once.
    EXPECT_FALSE(g[r]->health().ok());
    const absl::Time start2 = absl::Now();
    EXPECT_FALSE(g[r]->Barrier(kTimeout).ok());
    EXPECT_LT(absl::Now() - start2, absl::Seconds(1));
  });
  for (int r = 0; r < W - 1; ++r) {
    EXPECT_TRUE(st[r].code() == absl::StatusCode::kDeadlineExceeded ||
                st[r].code() == absl::StatusCode::kUnavailable)
        << st[r];
    EXPECT_LT(took[r], absl::Seconds(5));
  }
  // The late rank does not hang either.
  OnRanks(W, [&](int r) {
    if (r != W - 1) return;
    const absl::Time start = absl::Now();
    EXPECT_FALSE(g[r]->Barrier(timeout).ok());
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  });
  DestroyGroup(g);
}

TEST_P(CommunicatorConformanceTest, AbortMakesPeersFail) {
  const int W = GetParam().world;
  if (W < 2) GTEST_SKIP() << "needs a peer";
  Group g = MakeGroup(W, "abort/");
  ASSERT_TRUE(GroupOk(g));
  // Ranks 0..W-2 wait in a barrier for the last rank, which aborts instead. Where Abort wakes
  // peers, nobody may wait for the 20 s timeout; otherwise they fail by their own (short) one.
  const bool wakes = GetParam().abort_wakes_peers;
  const absl::Duration peer_timeout = wakes ? kTimeout : absl::Milliseconds(1500);
  std::vector<absl::Status> st(W - 1);
  std::vector<absl::Duration> took(W - 1);
  OnRanks(W, [&](int r) {
    if (r == W - 1) {
      absl::SleepFor(absl::Milliseconds(300));
      g[r]->Abort();
      return;
    }
    const absl::Time start = absl::Now();
    st[r] = g[r]->Barrier(peer_timeout);
    took[r] = absl::Now() - start;
  });
  for (int r = 0; r < W - 1; ++r) {
    if (wakes) {
      EXPECT_EQ(st[r].code(), absl::StatusCode::kUnavailable) << st[r];
    } else {
      EXPECT_FALSE(st[r].ok());
    }
    EXPECT_LT(took[r], absl::Seconds(5)) << st[r];
  }
  OnRanks(W, [&](int r) {
    if (r != W - 1) return;
    EXPECT_EQ(g[r]->health().code(), absl::StatusCode::kAborted);
    EXPECT_EQ(g[r]->Barrier(kTimeout).code(), absl::StatusCode::kAborted);
    g[r]->Abort();  // idempotent
  });
  DestroyGroup(g);
}

TEST_P(CommunicatorConformanceTest, AbortDuringOwnCallReturnsAborted) {
  const int W = GetParam().world;
  if (W < 2) GTEST_SKIP() << "needs a peer";
  Group g = MakeGroup(W, "abort-self/");
  ASSERT_TRUE(GroupOk(g));
  const absl::Duration timeout = absl::Milliseconds(1500);
  absl::Status st;
  absl::Duration took;
  OnRanks(2, [&](int r) {
    if (r == 1) {  // aborts rank 0 from another thread; no other rank joins the barrier
      absl::SleepFor(absl::Milliseconds(100));
      g[0]->Abort();
      return;
    }
    const absl::Time start = absl::Now();
    st = g[0]->Barrier(timeout);
    took = absl::Now() - start;
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted) << st;
  EXPECT_LT(took, absl::Seconds(5));
  if (GetParam().abort_wakes_own_call) {
    EXPECT_LT(took, timeout - absl::Milliseconds(500)) << st;
  }
  // The other ranks do not hang on the aborted one.
  const absl::Duration peer_timeout =
      GetParam().abort_wakes_peers ? kTimeout : absl::Milliseconds(1000);
  OnRanks(W, [&](int r) {
    if (r == 0) return;
    const absl::Time start = absl::Now();
    EXPECT_FALSE(g[r]->Barrier(peer_timeout).ok());
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  });
  DestroyGroup(g);
}

TEST_P(CommunicatorConformanceTest, AbortIsStickyAndIdempotent) {
  const int W = GetParam().world;
  Group g = MakeGroup(W, "abort-all/");
  ASSERT_TRUE(GroupOk(g));
  std::latch synced(W);
  OnRanks(W, [&](int r) {
    Communicator& c = *g[r];
    EXPECT_TRUE(c.Barrier(kTimeout).ok());
    synced.arrive_and_wait();  // nobody aborts while a peer may still be in the barrier
    c.Abort();
    c.Abort();
    EXPECT_EQ(c.health().code(), absl::StatusCode::kAborted);
    TestBuffer<int64_t> v(memory(), std::vector<int64_t>{1});
    const absl::Time start = absl::Now();
    EXPECT_EQ(c.AllReduce(v.span(), ReduceOp::kSum, kTimeout).code(), absl::StatusCode::kAborted);
    EXPECT_EQ(c.Barrier(kTimeout).code(), absl::StatusCode::kAborted);
    EXPECT_LT(absl::Now() - start, absl::Seconds(1));
    // Argument errors are still reported as such.
    EXPECT_EQ(c.Barrier(absl::ZeroDuration()).code(), absl::StatusCode::kInvalidArgument);
  });
  DestroyGroup(g);
}

}  // namespace r1::testing

#endif  // R1_WORKER_COMM_TESTING_COMMUNICATOR_CONFORMANCE_H_
