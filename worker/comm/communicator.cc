#include "worker/comm/communicator.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace r1 {

absl::Status Communicator::CheckTimeout(absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("collective timeout must be positive");
  }
  return absl::OkStatus();
}

absl::Status Communicator::DoAllToAllVOnStream(const char*, const std::vector<int64_t>&, char*,
                                               const std::vector<int64_t>&, void*, absl::Duration) {
  return absl::UnimplementedError(
      "AllToAllVOnStream: this communicator's transport is not stream-ordered "
      "(stream_ordered() is false): synchronise the stream and call AllToAllV");
}

absl::Status Communicator::AllToAllVBytes(absl::Span<const int64_t> send_counts, size_t send_length,
                                          absl::Span<const int64_t> recv_counts, size_t recv_length,
                                          size_t element_size, absl::Duration timeout,
                                          std::vector<int64_t>* send_bytes,
                                          std::vector<int64_t>* recv_bytes) const {
  if (absl::Status st = CheckTimeout(timeout); !st.ok()) return st;
  if (absl::Status st = CountsToBytes(send_counts, send_length, element_size, "send", send_bytes);
      !st.ok()) {
    return st;
  }
  return CountsToBytes(recv_counts, recv_length, element_size, "recv", recv_bytes);
}

absl::Status Communicator::CountsToBytes(absl::Span<const int64_t> counts, size_t length,
                                         size_t element_size, const char* what,
                                         std::vector<int64_t>* bytes) const {
  if (counts.size() != static_cast<size_t>(size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllToAllV: ", counts.size(), " ", what, " counts for a group of ", size()));
  }
  const int64_t max_count =
      std::numeric_limits<int64_t>::max() / static_cast<int64_t>(element_size) / size();
  uint64_t total = 0;
  bytes->resize(counts.size());
  for (size_t p = 0; p < counts.size(); ++p) {
    if (counts[p] < 0 || counts[p] > max_count) {
      return absl::InvalidArgumentError(
          absl::StrCat("AllToAllV: ", what, " count ", counts[p], " for rank ", p));
    }
    (*bytes)[p] = counts[p] * static_cast<int64_t>(element_size);
    total += static_cast<uint64_t>(counts[p]);
  }
  if (total != length) {
    return absl::InvalidArgumentError(absl::StrCat("AllToAllV: ", what, " counts sum to ", total,
                                                   " but the buffer holds ", length));
  }
  return absl::OkStatus();
}

absl::Status Communicator::AllReduce(absl::Span<int64_t> data, ReduceOp op,
                                     absl::Duration timeout) {
  if (absl::Status st = CheckTimeout(timeout); !st.ok()) return st;
  return DoAllReduce(data.data(), static_cast<int64_t>(data.size()), DataType::kInt64, op, timeout);
}

absl::Status Communicator::AllReduce(absl::Span<float> data, ReduceOp op, absl::Duration timeout) {
  if (absl::Status st = CheckTimeout(timeout); !st.ok()) return st;
  return DoAllReduce(data.data(), static_cast<int64_t>(data.size()), DataType::kFloat32, op,
                     timeout);
}

absl::Status Communicator::Barrier(absl::Duration timeout) {
  if (absl::Status st = CheckTimeout(timeout); !st.ok()) return st;
  return DoBarrier(timeout);
}

absl::Status LocalCommunicator::health() const {
  return aborted_.load() ? absl::AbortedError("communicator aborted") : absl::OkStatus();
}

absl::Status LocalCommunicator::DoAllToAllV(const char* send,
                                            const std::vector<int64_t>& send_bytes, char* recv,
                                            const std::vector<int64_t>& recv_bytes,
                                            absl::Duration) {
  if (absl::Status st = health(); !st.ok()) return st;
  if (send_bytes[0] != recv_bytes[0]) {
    return absl::InvalidArgumentError(absl::StrCat("AllToAllV: rank 0 sends ", send_bytes[0],
                                                   " bytes to itself but expects ", recv_bytes[0]));
  }
  if (send_bytes[0] > 0) std::memcpy(recv, send, static_cast<size_t>(send_bytes[0]));
  return absl::OkStatus();
}

absl::Status LocalCommunicator::DoAllGather(const char* send, int64_t bytes, char* recv,
                                            absl::Duration) {
  if (absl::Status st = health(); !st.ok()) return st;
  if (bytes > 0) std::memcpy(recv, send, static_cast<size_t>(bytes));
  return absl::OkStatus();
}

absl::Status LocalCommunicator::DoAllReduce(void*, int64_t, DataType, ReduceOp, absl::Duration) {
  return health();
}

}  // namespace r1
