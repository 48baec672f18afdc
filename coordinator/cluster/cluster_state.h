// ClusterState: the coordinator's view of the cluster — workers, engine groups, expert placement,
// and the sequences in flight — and the routing of requests onto groups (it implements
// Generator).
//
// Lifecycle of a worker: attach (Hello) → idle → when `group_size` workers are idle they form a
// group: each gets Assign (rank, placement, model) → loading → ready; when every rank is ready the
// group serves. A worker whose stream breaks or that stays silent past the heartbeat timeout is
// dead: its group goes down, the group's in-flight sequences end with an error, and the surviving
// members return to idle (they are re-assigned when a group can form again).
//
// Routing: the serving group, then its rank, with the least load (tokens queued on the worker by
// its last Stats plus prompt tokens routed since, and sequences in flight).
//
// Thread-safe: one mutex guards all state; messages to workers go through per-worker Outboxes.
#ifndef R1_COORDINATOR_CLUSTER_CLUSTER_STATE_H_
#define R1_COORDINATOR_CLUSTER_CLUSTER_STATE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/outbox.h"
#include "coordinator/core/generator.h"
#include "r1/v1/admin.pb.h"
#include "r1/v1/cluster.pb.h"

namespace r1 {

using WorkerOutbox = Outbox<r1::v1::CoordinatorMessage>;

struct ClusterOptions {
  int group_size = 1;
  int num_experts = 0;       // routed experts per MoE layer (placement)
  std::string model_source;  // sent in Assign
  uint32_t max_model_len = 4096;
  uint32_t valid_vocab_size = 0;  // 0 = the model's vocab_size
  // Sent in Assign: routed-expert dtype (FP8 as stored, or INT4 converted at load), KV cache
  // dtype (unspecified: each backend's own — f32 on CPU, bf16 on CUDA) and the fraction of the
  // worker's memory budget for the KV cache.
  r1::v1::WeightDtype expert_dtype = r1::v1::WEIGHT_DTYPE_FP8;
  r1::v1::KvDtype kv_dtype = r1::v1::KV_DTYPE_UNSPECIFIED;
  float kv_cache_fraction = 0.9f;
  absl::Duration heartbeat_timeout = absl::Seconds(10);
  int max_inflight = 1024;  // sequences in flight in the whole cluster (429 beyond)
  ServedModel model;
};

class ClusterState : public Generator {
 public:
  explicit ClusterState(ClusterOptions options);
  ~ClusterState() override;

  // A worker attached. Returns the id it is known by (Hello.worker_id, or a made-up one).
  absl::StatusOr<std::string> AddWorker(const r1::v1::Hello& hello,
                                        std::shared_ptr<WorkerOutbox> outbox);
  void OnMessage(const std::string& worker_id, const r1::v1::WorkerMessage& msg);
  // The worker's stream ended (or it was declared dead).
  void RemoveWorker(const std::string& worker_id, const std::string& why);
  // Declares workers silent past the heartbeat timeout dead; called periodically.
  void CheckHeartbeats(absl::Time now);

  // Generator.
  absl::StatusOr<std::unique_ptr<GenerationHandle>> Submit(GenerationRequest request) override;
  bool Ready() const override;
  ServedModel Model() const override { return options_.model; }

  r1::v1::ClusterStatusResponse Status() const;
  // Placement of a group of `size` ranks over `num_experts` experts (EpPlacement::Contiguous).
  static r1::v1::ExpertPlacement Place(int num_experts, int size);

  // Observers for metrics: counts since start.
  uint64_t requests_routed() const { return requests_routed_.load(); }

 private:
  class Channel;
  class Handle;
  struct Worker {
    std::string id;
    r1::v1::Hello hello;
    r1::v1::WorkerState state = r1::v1::WORKER_STATE_IDLE;
    uint64_t group_id = 0;
    uint32_t rank = 0;
    r1::v1::LoadProgress load;
    r1::v1::Stats stats;
    absl::Time last_seen;
    absl::Time attached;
    std::shared_ptr<WorkerOutbox> outbox;
    int64_t routed_tokens_since_stats = 0;
    int inflight = 0;
  };
  struct Group {
    uint64_t id = 0;
    r1::v1::GroupState state = r1::v1::GROUP_STATE_FORMING;
    std::vector<std::string> workers;  // by rank
    r1::v1::ExpertPlacement placement;
    uint64_t served = 0;
    int inflight = 0;
  };
  struct Inflight {
    std::string worker_id;
    uint64_t group_id = 0;
    std::shared_ptr<Channel> channel;
  };

  void FormGroupsLocked();
  void GroupDownLocked(uint64_t group_id, const std::string& why);
  void EndSequenceLocked(uint64_t seq, int reason, const std::string& error);
  void CancelSequence(uint64_t seq);

  ClusterOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Worker> workers_;
  std::map<uint64_t, Group> groups_;
  std::map<uint64_t, Inflight> inflight_;
  uint64_t next_group_ = 1;
  uint64_t next_seq_ = 1;
  std::atomic<uint64_t> requests_routed_{0};
};

}  // namespace r1

#endif  // R1_COORDINATOR_CLUSTER_CLUSTER_STATE_H_
