// MirrorPeersCommunicator on a GPU: the balanced mirror returns each block to its own slot; the
// hot-rank mirror fills every peer's slot with block 0, cut or zero-padded (hot_rank_copies.h),
// on the host path and the stream-ordered one (one kernel for all peers).
#include "bench/serving/r1_rank/mirror_peers_communicator.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "absl/time/time.h"
#include "bench/serving/r1_rank/hot_rank_copies.h"

namespace r1 {
namespace {

// What the hot-rank mirror must deliver: block 0 of `send` into each peer's slot.
std::vector<uint8_t> HotExpected(const std::vector<uint8_t>& send, const std::vector<int64_t>& sc,
                                 const std::vector<int64_t>& rc) {
  auto copies = HotRankCopies(static_cast<int>(sc.size()), sc, rc);
  EXPECT_TRUE(copies.ok());
  std::vector<uint8_t> want(std::accumulate(rc.begin(), rc.end(), int64_t{0}), 0xee);
  for (const HotRankCopy& c : *copies) {
    for (int64_t i = 0; i < c.copy_bytes; ++i) want[c.dst_offset + i] = send[i];
    for (int64_t i = 0; i < c.zero_bytes; ++i) want[c.dst_offset + c.copy_bytes + i] = 0;
  }
  return want;
}

std::vector<uint8_t> Pattern(int64_t n) {
  std::vector<uint8_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + 3);
  return v;
}

// Aligned rows (the kernel's 16-byte path) and odd sizes (its byte path), cut and padded blocks.
TEST(MirrorPeersCommunicatorGpuTest, HotRankOnStreamFillsEveryPeerWithBlockZero) {
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> cases = {
      {{4096, 1024, 0, 2048}, {4096, 4096, 4096, 4096}},  // dispatch
      {{4096, 4096, 4096, 4096}, {4096, 1024, 0, 2048}},  // combine: cut
      {{37, 5, 11}, {37, 64, 3}},                         // unaligned: cut and padded
  };
  for (const auto& [sc, rc] : cases) {
    const int W = static_cast<int>(sc.size());
    MirrorPeersCommunicator comm(W, MirrorMode::kHotRank);
    const auto send = Pattern(std::accumulate(sc.begin(), sc.end(), int64_t{0}));
    const int64_t recv_n = std::accumulate(rc.begin(), rc.end(), int64_t{0});
    uint8_t *dsend = nullptr, *drecv = nullptr;
    ASSERT_EQ(cudaMalloc(&dsend, send.size() + 1), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&drecv, recv_n + 1), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dsend, send.data(), send.size(), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemset(drecv, 0xee, recv_n + 1), cudaSuccess);
    cudaStream_t stream;
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    ASSERT_TRUE(comm.AllToAllVOnStream<uint8_t>(absl::MakeConstSpan(dsend, send.size()), sc,
                                                absl::MakeSpan(drecv, recv_n), rc, stream,
                                                absl::Seconds(5))
                    .ok());
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    std::vector<uint8_t> got(recv_n + 1);
    ASSERT_EQ(cudaMemcpy(got.data(), drecv, recv_n + 1, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(got.back(), 0xee) << "wrote past the receive buffer";
    got.pop_back();
    EXPECT_EQ(got, HotExpected(send, sc, rc));
    EXPECT_EQ(comm.last_alltoall_bytes(), recv_n);

    // The host path (the exchange's header) gives the same bytes.
    std::vector<uint8_t> host(recv_n, 0xee);
    ASSERT_TRUE(comm.AllToAllV<uint8_t>(send, sc, absl::MakeSpan(host), rc, absl::Seconds(5)).ok());
    EXPECT_EQ(host, HotExpected(send, sc, rc));
    cudaStreamDestroy(stream);
    cudaFree(dsend);
    cudaFree(drecv);
  }
}

TEST(MirrorPeersCommunicatorGpuTest, BalancedMirrorReturnsEachBlockAndRefusesAsymmetry) {
  MirrorPeersCommunicator comm(3);
  const std::vector<int64_t> counts = {16, 0, 32};
  const auto send = Pattern(48);
  std::vector<uint8_t> recv(48, 0);
  ASSERT_TRUE(
      comm.AllToAllV<uint8_t>(send, counts, absl::MakeSpan(recv), counts, absl::Seconds(5)).ok());
  EXPECT_EQ(recv, send);
  const std::vector<int64_t> other = {32, 0, 16};
  EXPECT_FALSE(
      comm.AllToAllV<uint8_t>(send, counts, absl::MakeSpan(recv), other, absl::Seconds(5)).ok());
  comm.Abort();
  EXPECT_FALSE(
      comm.AllToAllV<uint8_t>(send, counts, absl::MakeSpan(recv), counts, absl::Seconds(5)).ok());
}

}  // namespace
}  // namespace r1
