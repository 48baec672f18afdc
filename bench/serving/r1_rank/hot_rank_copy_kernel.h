// One kernel launch for all of a hot-rank all-to-all's copies (hot_rank_copies.h): a copy per
// simulated peer would be W launches per collective, three collectives per MoE layer — host time
// the bench would then count as the model's.
#ifndef R1_BENCH_SERVING_R1_RANK_HOT_RANK_COPY_KERNEL_H_
#define R1_BENCH_SERVING_R1_RANK_HOT_RANK_COPY_KERNEL_H_

#include <cuda_runtime.h>

#include <vector>

#include "absl/status/status.h"
#include "bench/serving/r1_rank/hot_rank_copies.h"

namespace r1 {

// The most peers one launch carries (the copies travel in the kernel's parameters).
inline constexpr int kHotRankMaxPeers = 64;

// Device buffers `src` (send block 0 at its start) and `dst` (every receive block), disjoint.
// Enqueued on `stream`; InvalidArgument for more than kHotRankMaxPeers copies or null buffers
// with bytes to move.
absl::Status LaunchHotRankCopies(const char* src, char* dst, const std::vector<HotRankCopy>& copies,
                                 cudaStream_t stream);

}  // namespace r1

#endif  // R1_BENCH_SERVING_R1_RANK_HOT_RANK_COPY_KERNEL_H_
