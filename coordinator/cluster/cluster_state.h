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
// Routing: among the ranks of the serving groups that can take the request (admission below),
// the one with the least load (tokens queued on the worker by its last Stats plus prompt tokens
// routed since, 64 per sequence in flight on it and 16 per sequence in flight on its group) —
// unless prefix affinity picks another. Prefix affinity (`prefix_affinity_blocks` > 0): the
// prompt's full 64-token blocks are hashed as the workers' prefix caches hash them
// (common/kv_block_hash.h); a PrefixAffinityTable remembers, per block hash, the worker last routed
// a prompt with that block, and the request goes to the worker holding its longest matching
// prefix unless that worker's load exceeds the least load by more than
// `prefix_affinity_load_threshold` (prefix_route.h). A worker's entries are keyed by its group
// assignment: those of a worker that died, left, drains or was re-assigned (a new, empty cache)
// match no candidate and are overwritten or aged out. Hashing and the table are outside the
// state's mutex; two requests with a new prefix submitted at once may land on different workers.
//
// Admission (DESIGN §10): Submit refuses at once with ResourceExhausted (HTTP 429; the status
// carries a Retry-After payload, kRetryAfterPayload) when `max_inflight` sequences are in
// flight, or when no serving worker can take the request: each already has
// `max_waiting_per_worker` sequences waiting for their first token, or an estimated queue wait
// (queue_wait.h: its waiting prompt tokens over its measured drain rate, or how long its oldest
// waiting sequence has waited) over `max_queue_wait`.
//
// Thread-safe: one mutex guards all state; messages to workers go through per-worker Outboxes.
// The prefix affinity table has its own sharded locks, taken per block outside that mutex.
#ifndef R1_COORDINATOR_CLUSTER_CLUSTER_STATE_H_
#define R1_COORDINATOR_CLUSTER_CLUSTER_STATE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/outbox.h"
#include "coordinator/cluster/prefix_affinity_table.h"
#include "coordinator/cluster/queue_wait.h"
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
  // Sequences routed to one worker that have not produced their first token; a worker with
  // this many takes no more (429 when every worker is full). 0 = no limit.
  int max_waiting_per_worker = 256;
  // A request whose estimated queue wait (queue_wait.h) exceeds this on every worker is refused
  // (429). Zero = off.
  absl::Duration max_queue_wait = absl::Seconds(30);
  // Prefix-aware routing: block hashes remembered (LRU; about 40 bytes each), 0 = off. The
  // default, 1M blocks, covers 64M prompt tokens.
  size_t prefix_affinity_blocks = size_t{1} << 20;
  // The holder of a request's longest matching prefix gets it while its load exceeds the least
  // loaded candidate's by at most this much (load units: tokens of queued work).
  int64_t prefix_affinity_load_threshold = 4096;
  // The clock of admission (queue ages, drain rates); null = absl::Now. Tests inject one.
  std::function<absl::Time()> clock;
  ServedModel model;
};

// OK, or InvalidArgument naming the first field out of range (group_size, num_experts,
// max_inflight, max_waiting_per_worker, max_queue_wait, heartbeat_timeout, kv_cache_fraction,
// prefix_affinity_blocks, prefix_affinity_load_threshold).
absl::Status ValidateClusterOptions(const ClusterOptions& options);

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
  // Admin.Drain (cluster_drain.cc): stops routing to the group (given, or the one `worker_id`
  // belongs to), waits up to the request's timeout for its in-flight requests, ends what is left
  // with an error, then releases the group: every member drops the assignment; a worker target
  // is told to shut down, the others return to idle. An idle worker target is shut down at once.
  // NotFound for an unknown group or worker; InvalidArgument unless exactly one target is given;
  // FailedPrecondition for a group already draining. Blocks the calling thread while it waits.
  absl::StatusOr<r1::v1::DrainResponse> Drain(const r1::v1::DrainRequest& request);
  // Placement of a group of `size` ranks over `num_experts` experts (EpPlacement::Contiguous).
  static r1::v1::ExpertPlacement Place(int num_experts, int size);

  // Observers for metrics: counts since start.
  uint64_t requests_routed() const { return requests_routed_.load(); }
  struct RoutingCounts {
    uint64_t by_prefix = 0;      // to the holder of the longest matching prefix
    uint64_t by_load = 0;        // least loaded: no candidate held a matching block
    uint64_t overloaded = 0;     // least loaded: the holders were past the load threshold
    uint64_t prefix_tokens = 0;  // matched prompt tokens of the requests routed by prefix
  };
  RoutingCounts routing_counts() const;

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
    // Its key in the PrefixAffinityTable: new at each group assignment (an empty KV cache).
    uint64_t affinity_key = 0;
    int inflight = 0;
    // Admission: sequences routed here without a first token yet (ids grow with time, so the
    // first is the oldest), their prompt tokens, and the rate at which they start.
    std::set<uint64_t> waiting;
    int64_t waiting_tokens = 0;
    StartRateMeter start_rate;
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
    int64_t prompt_tokens = 0;
    absl::Time routed;
  };

  void FormGroupsLocked();
  void GroupDownLocked(uint64_t group_id, const std::string& why);
  void EndSequenceLocked(uint64_t seq, int reason, const std::string& error);
  void CancelSequence(uint64_t seq);
  absl::Time Now() const { return options_.clock ? options_.clock() : absl::Now(); }
  // The queue of `w` for EstimateQueueWait.
  WorkerQueue QueueLocked(const Worker& w, absl::Time now) const;
  // `seq` (routed to `w`) leaves its waiting queue: it produced its first token (`started`:
  // counted in the drain rate) or ended before. No-op when it was not waiting.
  void LeaveQueueLocked(Worker& w, uint64_t seq, bool started);

  ClusterOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Worker> workers_;
  std::map<uint64_t, Group> groups_;
  std::map<uint64_t, Inflight> inflight_;
  uint64_t next_group_ = 1;
  uint64_t next_seq_ = 1;
  uint64_t next_affinity_key_ = 1;
  std::unique_ptr<PrefixAffinityTable> affinity_;  // null: prefix affinity off
  std::atomic<uint64_t> requests_routed_{0};
  std::atomic<uint64_t> routed_by_prefix_{0};
  std::atomic<uint64_t> routed_by_load_{0};
  std::atomic<uint64_t> routed_overloaded_{0};
  std::atomic<uint64_t> routed_prefix_tokens_{0};
};

}  // namespace r1

#endif  // R1_COORDINATOR_CLUSTER_CLUSTER_STATE_H_
