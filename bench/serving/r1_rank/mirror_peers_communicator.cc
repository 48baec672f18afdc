#include "bench/serving/r1_rank/mirror_peers_communicator.h"

#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"
#include "bench/serving/r1_rank/hot_rank_copies.h"
#include "bench/serving/r1_rank/hot_rank_copy_kernel.h"

namespace r1 {
namespace {

absl::Status Copy(void* dst, const void* src, int64_t bytes) {
  if (bytes <= 0 || dst == src) return absl::OkStatus();
  const cudaError_t err = cudaMemcpy(dst, src, static_cast<size_t>(bytes), cudaMemcpyDefault);
  if (err != cudaSuccess) {
    return absl::InternalError(absl::StrCat("mirror copy: ", cudaGetErrorString(err)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MirrorPeersCommunicator::health() const {
  return aborted_.load() ? absl::AbortedError("communicator aborted") : absl::OkStatus();
}

absl::StatusOr<int64_t> MirrorPeersCommunicator::MirroredBytes(
    const std::vector<int64_t>& send_bytes, const std::vector<int64_t>& recv_bytes) {
  if (absl::Status st = health(); !st.ok()) return st;
  int64_t total = 0;
  for (int p = 0; p < size_; ++p) {
    if (send_bytes[p] != recv_bytes[p]) {
      return absl::InvalidArgumentError(absl::StrCat("AllToAllV: a mirrored peer ", p,
                                                     " sends what it receives: ", send_bytes[p],
                                                     " bytes, but ", recv_bytes[p], " expected"));
    }
    total += send_bytes[p];
  }
  last_alltoall_bytes_ = total;
  return total;
}

absl::Status MirrorPeersCommunicator::DoAllToAllV(const char* send,
                                                  const std::vector<int64_t>& send_bytes,
                                                  char* recv,
                                                  const std::vector<int64_t>& recv_bytes,
                                                  absl::Duration) {
  if (mode_ == MirrorMode::kHotRank) {
    if (absl::Status st = health(); !st.ok()) return st;
    absl::StatusOr<std::vector<HotRankCopy>> copies = HotRankCopies(size_, send_bytes, recv_bytes);
    if (!copies.ok()) return copies.status();
    last_alltoall_bytes_ = 0;
    for (const HotRankCopy& c : *copies) {
      if (absl::Status st = Copy(recv + c.dst_offset, send, c.copy_bytes); !st.ok()) return st;
      const std::vector<char> zeros(c.zero_bytes, 0);
      if (absl::Status st = Copy(recv + c.dst_offset + c.copy_bytes, zeros.data(), c.zero_bytes);
          !st.ok()) {
        return st;
      }
      last_alltoall_bytes_ += c.copy_bytes + c.zero_bytes;
    }
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> total = MirroredBytes(send_bytes, recv_bytes);
  if (!total.ok()) return total.status();
  return Copy(recv, send, *total);
}

absl::Status MirrorPeersCommunicator::DoAllToAllVOnStream(const char* send,
                                                          const std::vector<int64_t>& send_bytes,
                                                          char* recv,
                                                          const std::vector<int64_t>& recv_bytes,
                                                          void* stream, absl::Duration) {
  if (mode_ == MirrorMode::kHotRank) {
    if (absl::Status st = health(); !st.ok()) return st;
    absl::StatusOr<std::vector<HotRankCopy>> copies = HotRankCopies(size_, send_bytes, recv_bytes);
    if (!copies.ok()) return copies.status();
    last_alltoall_bytes_ = 0;
    for (const HotRankCopy& c : *copies) last_alltoall_bytes_ += c.copy_bytes + c.zero_bytes;
    return LaunchHotRankCopies(send, recv, *copies, static_cast<cudaStream_t>(stream));
  }
  absl::StatusOr<int64_t> total = MirroredBytes(send_bytes, recv_bytes);
  if (!total.ok()) return total.status();
  if (*total == 0 || recv == send) return absl::OkStatus();
  const cudaError_t err = cudaMemcpyAsync(recv, send, static_cast<size_t>(*total),
                                          cudaMemcpyDefault, static_cast<cudaStream_t>(stream));
  if (err != cudaSuccess) {
    return absl::InternalError(absl::StrCat("mirror copy: ", cudaGetErrorString(err)));
  }
  return absl::OkStatus();
}

absl::Status MirrorPeersCommunicator::DoAllGather(const char* send, int64_t bytes, char* recv,
                                                  absl::Duration) {
  if (absl::Status st = health(); !st.ok()) return st;
  for (int p = 0; p < size_; ++p) {
    if (absl::Status st = Copy(recv + p * bytes, send, bytes); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status MirrorPeersCommunicator::DoAllReduce(void* data, int64_t n, DataType type, ReduceOp op,
                                                  absl::Duration) {
  if (absl::Status st = health(); !st.ok()) return st;
  if (op != ReduceOp::kSum) return absl::OkStatus();  // max/min of equal values
  for (int64_t i = 0; i < n; ++i) {
    if (type == DataType::kInt64) {
      static_cast<int64_t*>(data)[i] *= size_;
    } else {
      static_cast<float*>(data)[i] *= static_cast<float>(size_);
    }
  }
  return absl::OkStatus();
}

}  // namespace r1
