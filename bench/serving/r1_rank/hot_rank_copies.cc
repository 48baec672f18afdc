#include "bench/serving/r1_rank/hot_rank_copies.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace r1 {

absl::StatusOr<std::vector<HotRankCopy>> HotRankCopies(int ranks,
                                                       const std::vector<int64_t>& send_bytes,
                                                       const std::vector<int64_t>& recv_bytes) {
  if (ranks < 1 || send_bytes.size() != static_cast<size_t>(ranks) ||
      recv_bytes.size() != static_cast<size_t>(ranks)) {
    return absl::InvalidArgumentError(absl::StrCat("hot-rank mirror: ", send_bytes.size(), " and ",
                                                   recv_bytes.size(), " block sizes for ", ranks,
                                                   " ranks"));
  }
  std::vector<HotRankCopy> copies(ranks);
  int64_t offset = 0;
  for (int p = 0; p < ranks; ++p) {
    if (send_bytes[p] < 0 || recv_bytes[p] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("hot-rank mirror: negative size for peer ", p));
    }
    HotRankCopy& c = copies[p];
    c.dst_offset = offset;
    c.copy_bytes = std::min(recv_bytes[p], send_bytes[0]);
    c.zero_bytes = recv_bytes[p] - c.copy_bytes;
    offset += recv_bytes[p];
  }
  return copies;
}

}  // namespace r1
