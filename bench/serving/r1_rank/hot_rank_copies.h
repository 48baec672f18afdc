// HotRankCopies: what MirrorPeersCommunicator's hot-rank mode copies for one all-to-all. In that
// mode every simulated peer sends this rank (rank 0) what this rank sends itself — its block for
// rank 0 — as the peers of the group's hottest rank would when their tokens route like this
// rank's and the router favours this rank's experts (r1_rank_bench --hot_bias). The receive
// block from peer p is therefore this rank's send block 0, cut or zero-filled to the size the
// caller expects from p: in the dispatch and its header the sizes agree; in the combine the
// caller expects from p the results of the rows it sent to p, which no simulated peer computes,
// so those blocks hold (a prefix of) its own block 0's results — the same bytes moved, values
// that are not the model's (timing only). Pure; the copies run on the host or in one kernel.
#ifndef R1_BENCH_SERVING_R1_RANK_HOT_RANK_COPIES_H_
#define R1_BENCH_SERVING_R1_RANK_HOT_RANK_COPIES_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace r1 {

// Receive block p: bytes [dst_offset, dst_offset + copy_bytes) of the receive buffer take the
// first copy_bytes of send block 0 (which starts the send buffer); the next zero_bytes are zeroed.
struct HotRankCopy {
  int64_t dst_offset = 0;
  int64_t copy_bytes = 0;
  int64_t zero_bytes = 0;
};

// One copy per peer, in peer order. InvalidArgument when the two size lists differ in length
// from `ranks` or hold a negative size.
absl::StatusOr<std::vector<HotRankCopy>> HotRankCopies(int ranks,
                                                       const std::vector<int64_t>& send_bytes,
                                                       const std::vector<int64_t>& recv_bytes);

}  // namespace r1

#endif  // R1_BENCH_SERVING_R1_RANK_HOT_RANK_COPIES_H_
