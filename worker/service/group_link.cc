#include "worker/service/group_link.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/comm/grpc_rendezvous_store.h"

namespace r1 {
absl::StatusOr<std::unique_ptr<GroupLink>> GroupLink::Create(
    const r1::v1::Assign& assign, Backend& backend, std::shared_ptr<grpc::ChannelInterface> channel,
    const GroupLinkOptions& options) {
  const int world = static_cast<int>(assign.group_size());
  const int rank = static_cast<int>(assign.rank());
  if (world < 2 || rank >= world) {
    return absl::InvalidArgumentError(
        absl::StrCat("assign: rank ", rank, " of a group of ", world, " is not a group link"));
  }
  if (assign.rendezvous_prefix().empty()) {
    return absl::InvalidArgumentError("assign: no rendezvous_prefix for a group of several ranks");
  }
  GrpcRendezvousStore store(std::move(channel), absl::Seconds(10), options.cluster_secret);
  GroupSpec group;
  group.rank = rank;
  group.size = world;
  group.prefix = assign.rendezvous_prefix();
  group.connect_timeout = options.connect_timeout;
  ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm, backend.Connect(group, &store));
  return std::unique_ptr<GroupLink>(new GroupLink(std::move(comm), options.collective_timeout));
}

absl::Status CheckSameOnEveryRank(Communicator& comm, const std::string& name, int64_t value,
                                  absl::Duration timeout) {
  std::vector<int64_t> all(comm.size());
  const int64_t mine[1] = {value};
  if (absl::Status st =
          comm.AllGather<int64_t>(absl::MakeConstSpan(mine, 1), absl::MakeSpan(all), timeout);
      !st.ok()) {
    comm.Abort();
    return st;
  }
  for (int64_t v : all) {
    if (v != value) {
      std::string values;
      for (size_t r = 0; r < all.size(); ++r) {
        absl::StrAppend(&values, r == 0 ? "" : ", ", "rank ", r, ": ", all[r]);
      }
      return absl::FailedPreconditionError(
          absl::StrCat(name, " differs across the ranks of the group (", values,
                       "); every rank of an expert-parallel group must use the same value"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<GroupLink::TickAgreement> GroupLink::Agree(bool local_busy, bool local_leave) {
  int64_t v[2] = {local_busy ? 1 : 0, local_leave ? 1 : 0};
  if (absl::Status st = comm_->AllReduce(absl::MakeSpan(v, 2), ReduceOp::kMax, timeout_);
      !st.ok()) {
    comm_->Abort();
    return st;
  }
  return TickAgreement{v[0] > 0, v[1] > 0};
}

}  // namespace r1
