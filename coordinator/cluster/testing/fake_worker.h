// Tests only: a worker as ClusterState sees it — an id and the outbox the coordinator writes to —
// and the few steps that attach one, shared by the cluster tests. Header-only; not thread-safe.
#ifndef R1_COORDINATOR_CLUSTER_TESTING_FAKE_WORKER_H_
#define R1_COORDINATOR_CLUSTER_TESTING_FAKE_WORKER_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "coordinator/cluster/cluster_state.h"
#include "r1/v1/cluster.pb.h"

namespace r1::testing {

struct FakeWorker {
  std::string id;
  std::shared_ptr<WorkerOutbox> outbox = std::make_shared<WorkerOutbox>(1000);
  // The next message the coordinator sent, if any (does not wait).
  std::optional<r1::v1::CoordinatorMessage> Pop() {
    return outbox->Pop(std::chrono::milliseconds(0));
  }
  // True when a Submit is among the queued messages (the others, such as Assign, are dropped).
  bool GotSubmit() {
    while (auto m = Pop()) {
      if (m->has_submit()) return true;
    }
    return false;
  }
};

// The options of a test cluster: `group_size` ranks per group, 8 experts, model "r1".
inline ClusterOptions TestClusterOptions(int group_size) {
  ClusterOptions o;
  o.group_size = group_size;
  o.num_experts = 8;
  o.model_source = "checkpoint:/m";
  o.model.id = "r1";
  return o;
}

// Says Hello as `id`; the worker gets its assignment but is not ready yet.
inline FakeWorker AttachWorker(ClusterState& s, const std::string& id) {
  FakeWorker w;
  r1::v1::Hello h;
  h.set_worker_id(id);
  auto got = s.AddWorker(h, w.outbox);
  EXPECT_TRUE(got.ok()) << got.status();
  if (got.ok()) w.id = *got;
  return w;
}

// Reports the worker ready with room for `kv_capacity_tokens` tokens.
inline void SendReady(ClusterState& s, const FakeWorker& w, int64_t kv_capacity_tokens) {
  r1::v1::WorkerMessage m;
  m.mutable_ready()->set_kv_capacity_tokens(kv_capacity_tokens);
  s.OnMessage(w.id, m);
}

}  // namespace r1::testing

#endif  // R1_COORDINATOR_CLUSTER_TESTING_FAKE_WORKER_H_
