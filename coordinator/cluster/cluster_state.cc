#include "coordinator/cluster/cluster_state.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/kv_block_hash.h"
#include "common/logging.h"
#include "coordinator/cluster/prefix_route.h"
#include "proto/placement_proto.h"
#include "r1/v1/inference.pb.h"

namespace r1 {

// Tokens (and their logprobs, when the sequence reports them) of one sequence on their way from
// the worker's TokenEvents to the front end.
class ClusterState::Channel {
 public:
  void Push(const std::vector<int32_t>& ids, std::vector<TokenLogprob> logprobs, GenerationEnd end,
            const std::string& error) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (end_ != GenerationEnd::kNone) return;
      tokens_.insert(tokens_.end(), ids.begin(), ids.end());
      logprobs_.insert(logprobs_.end(), std::make_move_iterator(logprobs.begin()),
                       std::make_move_iterator(logprobs.end()));
      end_ = end;
      error_ = error;
      if (notify_) notify_();
    }
    cv_.notify_all();
  }

  // GenerationHandle::SetNotify: called under mu_ so that it never runs after it was cleared.
  void SetNotify(std::function<void()> notify) {
    std::lock_guard<std::mutex> lock(mu_);
    notify_ = std::move(notify);
    if (notify_ && (!tokens_.empty() || end_ != GenerationEnd::kNone)) notify_();
  }

  TokenBatch Next(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                 [&] { return !tokens_.empty() || end_ != GenerationEnd::kNone; });
    TokenBatch b;
    b.token_ids.assign(tokens_.begin(), tokens_.end());
    tokens_.clear();
    b.logprobs.assign(std::make_move_iterator(logprobs_.begin()),
                      std::make_move_iterator(logprobs_.end()));
    logprobs_.clear();
    b.end = end_;
    b.error = error_;
    return b;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int32_t> tokens_;
  std::deque<TokenLogprob> logprobs_;
  GenerationEnd end_ = GenerationEnd::kNone;
  std::string error_;
  std::function<void()> notify_;  // nullable
};

class ClusterState::Handle : public GenerationHandle {
 public:
  Handle(ClusterState* state, uint64_t seq, std::shared_ptr<Channel> ch)
      : state_(state), seq_(seq), ch_(std::move(ch)) {}
  ~Handle() override {
    ch_->SetNotify(nullptr);
    if (!done_) state_->CancelSequence(seq_);
  }
  TokenBatch Next(absl::Duration timeout) override {
    TokenBatch b = ch_->Next(timeout);
    if (b.end != GenerationEnd::kNone) done_ = true;
    return b;
  }
  void SetNotify(std::function<void()> notify) override { ch_->SetNotify(std::move(notify)); }
  void Cancel() override { state_->CancelSequence(seq_); }

 private:
  ClusterState* state_;  // outlives every handle
  uint64_t seq_;
  std::shared_ptr<Channel> ch_;
  bool done_ = false;
};

namespace {

GenerationEnd EndFromProto(int reason) {
  switch (reason) {
    case r1::v1::FINISH_REASON_STOP:
      return GenerationEnd::kStop;
    case r1::v1::FINISH_REASON_LENGTH:
      return GenerationEnd::kLength;
    case r1::v1::FINISH_REASON_CANCELLED:
      return GenerationEnd::kCancelled;
    default:
      return GenerationEnd::kError;
  }
}

// ResourceExhausted with a Retry-After payload (kRetryAfterPayload).
absl::Status Overloaded(absl::string_view message, int retry_after_s) {
  absl::Status s = absl::ResourceExhaustedError(message);
  s.SetPayload(kRetryAfterPayload, absl::Cord(absl::StrCat(std::max(retry_after_s, 1))));
  return s;
}

// SequenceTokens.logprobs as TokenBatch::logprobs.
template <typename LogprobMessages>
std::vector<TokenLogprob> LogprobsFromProto(const LogprobMessages& in) {
  std::vector<TokenLogprob> out;
  out.reserve(static_cast<size_t>(in.size()));
  for (const auto& p : in) {
    TokenLogprob lp;
    lp.logprob = p.logprob();
    const int k = std::min(p.top_ids_size(), p.top_logprobs_size());
    lp.top.reserve(static_cast<size_t>(k));
    for (int j = 0; j < k; ++j) lp.top.emplace_back(p.top_ids(j), p.top_logprobs(j));
    out.push_back(std::move(lp));
  }
  return out;
}

bool FiniteNonNegative(absl::Duration d) {
  return d >= absl::ZeroDuration() && d != absl::InfiniteDuration();
}

}  // namespace

absl::Status ValidateClusterOptions(const ClusterOptions& o) {
  auto bad = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("cluster options: ", what));
  };
  if (o.group_size < 1 || o.group_size > 1024) {
    return bad(absl::StrCat("group_size must be in [1, 1024], got ", o.group_size));
  }
  if (o.num_experts < 0) return bad(absl::StrCat("num_experts must be >= 0, got ", o.num_experts));
  if (o.max_inflight < 1 || o.max_inflight > (1 << 20)) {
    return bad(absl::StrCat("max_inflight must be in [1, 1048576], got ", o.max_inflight));
  }
  if (o.max_waiting_per_worker < 0 || o.max_waiting_per_worker > (1 << 20)) {
    return bad(absl::StrCat("max_waiting_per_worker must be in [0, 1048576] (0 = no limit), got ",
                            o.max_waiting_per_worker));
  }
  if (!FiniteNonNegative(o.max_queue_wait) || o.max_queue_wait > absl::Hours(24)) {
    return bad(absl::StrCat("max_queue_wait must be in [0, 24h] (0 = off), got ",
                            absl::FormatDuration(o.max_queue_wait)));
  }
  if (o.heartbeat_timeout <= absl::ZeroDuration() ||
      o.heartbeat_timeout == absl::InfiniteDuration()) {
    return bad(absl::StrCat("heartbeat_timeout must be positive and finite, got ",
                            absl::FormatDuration(o.heartbeat_timeout)));
  }
  if (!(o.kv_cache_fraction > 0.0f && o.kv_cache_fraction <= 1.0f)) {
    return bad(absl::StrCat("kv_cache_fraction must be in (0, 1], got ", o.kv_cache_fraction));
  }
  if (o.prefix_affinity_blocks > (size_t{1} << 28)) {
    return bad(absl::StrCat("prefix_affinity_blocks must be in [0, 268435456] (0 = off), got ",
                            o.prefix_affinity_blocks));
  }
  if (o.prefix_affinity_load_threshold < 0) {
    return bad(absl::StrCat("prefix_affinity_load_threshold must be >= 0, got ",
                            o.prefix_affinity_load_threshold));
  }
  return absl::OkStatus();
}

ClusterState::ClusterState(ClusterOptions options) : options_(std::move(options)) {
  if (options_.prefix_affinity_blocks > 0) {
    affinity_ = std::make_unique<PrefixAffinityTable>(options_.prefix_affinity_blocks);
  }
}

ClusterState::~ClusterState() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [seq, f] : inflight_)
    f.channel->Push({}, {}, GenerationEnd::kError, "coordinator exiting");
  for (auto& [id, w] : workers_) w.outbox->Close();
}

r1::v1::ExpertPlacement ClusterState::Place(int num_experts, int size) {
  return PlacementToProto(EpPlacement::Contiguous(num_experts, size), size);
}

absl::StatusOr<std::string> ClusterState::AddWorker(const r1::v1::Hello& hello,
                                                    std::shared_ptr<WorkerOutbox> outbox) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string id = hello.worker_id();
  if (id.empty() || id.size() > 256) id = absl::StrCat("worker-", workers_.size() + 1);
  auto it = workers_.find(id);
  if (it != workers_.end() && it->second.state != r1::v1::WORKER_STATE_DEAD) {
    return absl::AlreadyExistsError(absl::StrCat("worker id ", id, " is already attached"));
  }
  Worker w;
  w.id = id;
  w.hello = hello;
  w.outbox = std::move(outbox);
  w.last_seen = w.attached = absl::Now();
  workers_[id] = std::move(w);
  log::Info({}, "worker {} attached (device {}, {})", id, hello.device_name(),
            hello.device() == r1::v1::DEVICE_KIND_CUDA ? "cuda" : "cpu");
  FormGroupsLocked();
  return id;
}

void ClusterState::FormGroupsLocked() {
  for (;;) {
    std::vector<Worker*> idle;
    for (auto& [id, w] : workers_) {
      if (w.state == r1::v1::WORKER_STATE_IDLE) idle.push_back(&w);
    }
    if (static_cast<int>(idle.size()) < options_.group_size) return;
    std::sort(idle.begin(), idle.end(),
              [](const Worker* a, const Worker* b) { return a->attached < b->attached; });
    Group g;
    g.id = next_group_++;
    g.placement = Place(options_.num_experts, options_.group_size);
    // Unique per formation, so that a re-formed group never reads a dead group's keys.
    const std::string prefix =
        absl::StrCat("group/", g.id, "/", absl::ToUnixMicros(absl::Now()), "/");
    for (int r = 0; r < options_.group_size; ++r) {
      Worker& w = *idle[r];
      w.state = r1::v1::WORKER_STATE_LOADING;
      w.group_id = g.id;
      w.rank = static_cast<uint32_t>(r);
      w.affinity_key = next_affinity_key_++;
      w.load.Clear();
      g.workers.push_back(w.id);
      r1::v1::CoordinatorMessage msg;
      r1::v1::Assign* a = msg.mutable_assign();
      a->set_group_id(g.id);
      a->set_rank(w.rank);
      a->set_group_size(static_cast<uint32_t>(options_.group_size));
      *a->mutable_placement() = g.placement;
      a->set_model_source(options_.model_source);
      a->set_expert_dtype(options_.expert_dtype);
      a->set_kv_dtype(options_.kv_dtype);
      a->set_kv_cache_fraction(options_.kv_cache_fraction);
      a->set_rendezvous_prefix(prefix);
      a->set_max_model_len(options_.max_model_len);
      a->set_valid_vocab_size(options_.valid_vocab_size);
      w.outbox->Push(std::move(msg));
    }
    log::Info({}, "group {} forming with {} workers", g.id, g.workers.size());
    groups_[g.id] = std::move(g);
  }
}

void ClusterState::OnMessage(const std::string& worker_id, const r1::v1::WorkerMessage& msg) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end() || it->second.state == r1::v1::WORKER_STATE_DEAD) return;
  Worker& w = it->second;
  w.last_seen = absl::Now();
  switch (msg.msg_case()) {
    case r1::v1::WorkerMessage::kLoadProgress:
      w.load = msg.load_progress();
      break;
    case r1::v1::WorkerMessage::kReady: {
      if (w.state != r1::v1::WORKER_STATE_LOADING) break;
      w.state = r1::v1::WORKER_STATE_READY;
      Group& g = groups_[w.group_id];
      const bool all_ready = std::all_of(g.workers.begin(), g.workers.end(), [&](const auto& id) {
        return workers_[id].state == r1::v1::WORKER_STATE_READY;
      });
      if (all_ready && g.state == r1::v1::GROUP_STATE_FORMING) {
        g.state = r1::v1::GROUP_STATE_SERVING;
        log::Info({}, "group {} serving", g.id);
      }
      break;
    }
    case r1::v1::WorkerMessage::kStats:
      w.stats = msg.stats();
      w.routed_tokens_since_stats = 0;
      break;
    case r1::v1::WorkerMessage::kTokenEvents:
      for (const auto& s : msg.token_events().sequences()) {
        auto f = inflight_.find(s.sequence_id());
        if (f == inflight_.end() || f->second.worker_id != worker_id) continue;
        std::vector<int32_t> ids(s.token_ids().begin(), s.token_ids().end());
        if (!ids.empty()) LeaveQueueLocked(w, s.sequence_id(), /*started=*/true);
        if (s.finished()) {
          f->second.channel->Push(ids, LogprobsFromProto(s.logprobs()),
                                  EndFromProto(s.finish_reason()), s.error());
          EndSequenceLocked(s.sequence_id(), -1, "");
        } else {
          f->second.channel->Push(ids, LogprobsFromProto(s.logprobs()), GenerationEnd::kNone, "");
        }
      }
      break;
    case r1::v1::WorkerMessage::kError:
      log::Warn({}, "worker {} error: {}", worker_id, msg.error().message());
      // A fatal error from a group member (its data plane broke, its load failed) takes the
      // whole group down: its peers cannot step without it. An error about a group this worker
      // has already left (it was aborted with it) says nothing about its new one.
      if (msg.error().fatal() && w.group_id != 0 &&
          (msg.error().group_id() == 0 || msg.error().group_id() == w.group_id)) {
        GroupDownLocked(w.group_id,
                        absl::StrCat("worker ", worker_id, ": ", msg.error().message()));
        FormGroupsLocked();
      }
      break;
    default:
      break;
  }
}

WorkerQueue ClusterState::QueueLocked(const Worker& w, absl::Time now) const {
  WorkerQueue q;
  q.waiting_sequences = static_cast<int64_t>(w.waiting.size());
  q.waiting_prompt_tokens = w.waiting_tokens;
  q.drain_tokens_per_s = w.start_rate.tokens_per_s();
  if (!w.waiting.empty()) {
    auto oldest = inflight_.find(*w.waiting.begin());
    if (oldest != inflight_.end() && now > oldest->second.routed) {
      q.oldest_wait = now - oldest->second.routed;
    }
  }
  return q;
}

void ClusterState::LeaveQueueLocked(Worker& w, uint64_t seq, bool started) {
  auto it = w.waiting.find(seq);
  if (it == w.waiting.end()) return;
  auto f = inflight_.find(seq);
  const int64_t tokens = f == inflight_.end() ? 0 : f->second.prompt_tokens;
  w.start_rate.Advance(Now(), /*busy=*/true);
  w.waiting.erase(it);
  w.waiting_tokens = std::max<int64_t>(w.waiting_tokens - tokens, 0);
  if (started) w.start_rate.AddStarted(tokens);
}

void ClusterState::EndSequenceLocked(uint64_t seq, int reason, const std::string& error) {
  auto f = inflight_.find(seq);
  if (f == inflight_.end()) return;
  if (reason >= 0) f->second.channel->Push({}, {}, EndFromProto(reason), error);
  auto w = workers_.find(f->second.worker_id);
  if (w != workers_.end()) LeaveQueueLocked(w->second, seq, /*started=*/false);
  if (w != workers_.end()) w->second.inflight--;
  auto g = groups_.find(f->second.group_id);
  if (g != groups_.end()) g->second.inflight--;
  inflight_.erase(f);
}

void ClusterState::GroupDownLocked(uint64_t group_id, const std::string& why) {
  auto g = groups_.find(group_id);
  if (g == groups_.end()) return;
  log::Warn({}, "group {} down: {}", group_id, why);
  std::vector<uint64_t> seqs;
  for (const auto& [seq, f] : inflight_) {
    if (f.group_id == group_id) seqs.push_back(seq);
  }
  for (uint64_t seq : seqs) {
    EndSequenceLocked(seq, r1::v1::FINISH_REASON_ERROR, absl::StrCat("engine group failed: ", why));
  }
  // The survivors may be blocked in one of the group's collectives: tell them to abort it now
  // (their reader threads act on it at once) and count them idle.
  r1::v1::CoordinatorMessage abort;
  abort.mutable_abort_group()->set_group_id(group_id);
  abort.mutable_abort_group()->set_reason(absl::StrCat("group ", group_id, " down: ", why));
  for (const std::string& id : g->second.workers) {
    auto w = workers_.find(id);
    if (w == workers_.end() || w->second.state == r1::v1::WORKER_STATE_DEAD) continue;
    w->second.outbox->Push(abort);
    w->second.state = r1::v1::WORKER_STATE_IDLE;  // re-assigned when a group can form
    w->second.group_id = 0;
  }
  groups_.erase(g);
}

void ClusterState::RemoveWorker(const std::string& worker_id, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end() || it->second.state == r1::v1::WORKER_STATE_DEAD) return;
  log::Warn({}, "worker {} gone: {}", worker_id, why);
  it->second.state = r1::v1::WORKER_STATE_DEAD;
  it->second.outbox->Close();
  if (it->second.group_id != 0) {
    GroupDownLocked(it->second.group_id, absl::StrCat("worker ", worker_id, " ", why));
  }
  workers_.erase(it);
  FormGroupsLocked();
}

void ClusterState::CheckHeartbeats(absl::Time now) {
  std::vector<std::string> stale;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, w] : workers_) {
      if (now - w.last_seen > options_.heartbeat_timeout) stale.push_back(id);
    }
  }
  for (const auto& id : stale) RemoveWorker(id, "missed heartbeats");
}

absl::StatusOr<std::unique_ptr<GenerationHandle>> ClusterState::Submit(GenerationRequest req) {
  if (req.prompt_token_ids.empty()) return absl::InvalidArgumentError("prompt is empty");
  if (req.max_new_tokens <= 0) return absl::InvalidArgumentError("max_new_tokens must be > 0");
  // Prefix affinity, before taking the state's mutex: the prompt's full blocks, and the owners of
  // those a worker's prefix cache could reuse (it always computes the last prompt token).
  std::vector<uint64_t> block_hashes;
  std::vector<uint64_t> owners;
  if (affinity_ != nullptr) {
    block_hashes = HashKvBlocks(req.prompt_token_ids.data(), req.prompt_token_ids.size());
    const size_t reusable = (req.prompt_token_ids.size() - 1) / kBlockTokens;
    owners = affinity_->Match(absl::MakeConstSpan(block_hashes).first(reusable));
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (static_cast<int>(inflight_.size()) >= options_.max_inflight) {
    return Overloaded("The server is overloaded: too many requests in flight; retry later.", 1);
  }
  const absl::Time now = Now();
  const int64_t prompt_tokens = static_cast<int64_t>(req.prompt_token_ids.size());
  const absl::Duration bound = options_.max_queue_wait;
  const size_t max_waiting = static_cast<size_t>(options_.max_waiting_per_worker);
  // Among the workers that can take the request (queue not full, estimated wait within the
  // bound): the holder of its longest prefix within the load threshold, else the least loaded.
  auto load = [](const Worker& w) {
    return static_cast<int64_t>(w.stats.queued_tokens()) + w.routed_tokens_since_stats +
           64 * static_cast<int64_t>(w.inflight);
  };
  std::vector<std::pair<Worker*, Group*>> eligible;
  std::vector<RouteCandidate> candidates;
  bool any_serving = false;
  absl::Duration least_wait = absl::InfiniteDuration();   // over the workers refused for it
  absl::Duration least_start = absl::InfiniteDuration();  // per start, over full workers
  for (auto& [gid, g] : groups_) {
    if (g.state != r1::v1::GROUP_STATE_SERVING) continue;
    for (const std::string& id : g.workers) {
      Worker& w = workers_[id];
      any_serving = true;
      const absl::Duration wait = EstimateQueueWait(QueueLocked(w, now), prompt_tokens);
      if (max_waiting > 0 && w.waiting.size() >= max_waiting) {
        least_start = std::min(least_start, wait / static_cast<int64_t>(w.waiting.size()));
        continue;
      }
      if (bound > absl::ZeroDuration() && wait > bound) {
        least_wait = std::min(least_wait, wait);
        continue;
      }
      eligible.emplace_back(&w, &g);
      candidates.push_back({w.affinity_key, load(w) + 16 * g.inflight});
    }
  }
  if (!any_serving) return absl::UnavailableError("no engine group is ready to serve");
  if (eligible.empty()) {
    if (least_wait != absl::InfiniteDuration()) {
      return Overloaded(
          absl::StrFormat("The server is overloaded: the estimated queue wait is %.1f s (limit "
                          "%.1f s); retry later.",
                          absl::ToDoubleSeconds(least_wait), absl::ToDoubleSeconds(bound)),
          RetryAfterSeconds(least_wait, bound));
    }
    return Overloaded("The server is overloaded: every engine's queue is full; retry later.",
                      RetryAfterSeconds(least_start, absl::ZeroDuration()));
  }
  const RouteChoice route =
      ChooseRoute(candidates, owners, options_.prefix_affinity_load_threshold);
  Worker* best = eligible[route.index].first;
  Group* best_group = eligible[route.index].second;
  const uint64_t seq = next_seq_++;
  r1::v1::CoordinatorMessage msg;
  r1::v1::Submit* s = msg.mutable_submit();
  s->set_sequence_id(seq);
  s->mutable_prompt_token_ids()->Add(req.prompt_token_ids.begin(), req.prompt_token_ids.end());
  s->set_temperature(req.temperature);
  s->set_top_p(req.top_p);
  s->set_top_k(req.top_k);
  s->set_seed(req.seed.value_or(seq * 0x9E3779B97F4A7C15ull));
  s->set_max_new_tokens(req.max_new_tokens);
  s->mutable_stop_token_ids()->Add(req.stop_token_ids.begin(), req.stop_token_ids.end());
  s->set_ignore_eos(req.ignore_eos);
  s->set_min_tokens(req.min_tokens);
  s->set_no_speculation(!req.speculative);
  s->set_presence_penalty(req.presence_penalty);
  s->set_frequency_penalty(req.frequency_penalty);
  s->set_repetition_penalty(req.repetition_penalty);
  for (const auto& [id, bias] : req.logit_bias) (*s->mutable_logit_bias())[id] = bias;
  s->set_logprobs(req.logprobs);
  s->set_top_logprobs(req.logprobs ? req.top_logprobs : 0);
  if (req.deadline != absl::InfiniteFuture()) {
    s->set_deadline_unix_ms(absl::ToUnixMillis(req.deadline));
  }
  s->set_request_id(req.request_id);
  if (!best->outbox->Push(std::move(msg))) {
    return absl::UnavailableError("worker is not accepting work");
  }
  auto ch = std::make_shared<Channel>();
  inflight_[seq] = Inflight{best->id, best_group->id, ch, prompt_tokens, now};
  best->start_rate.Advance(now, /*busy=*/!best->waiting.empty());
  best->waiting.insert(seq);
  best->waiting_tokens += prompt_tokens;
  best->inflight++;
  best->routed_tokens_since_stats += static_cast<int64_t>(req.prompt_token_ids.size());
  best_group->inflight++;
  best_group->served++;
  requests_routed_++;
  const int64_t matched_tokens = route.matched_blocks * kBlockTokens;
  switch (route.reason) {
    case RouteReason::kPrefix:
      routed_by_prefix_++;
      routed_prefix_tokens_ += static_cast<uint64_t>(matched_tokens);
      break;
    case RouteReason::kLoad:
      routed_by_load_++;
      break;
    case RouteReason::kOverloaded:
      routed_overloaded_++;
      break;
  }
  const uint64_t owner = best->affinity_key;
  log::Debug(req.request_id, "routed as sequence {} to worker {} (group {}; {} prefix tokens)", seq,
             best->id, best_group->id, matched_tokens);
  lock.unlock();
  if (affinity_ != nullptr) affinity_->Record(block_hashes, owner);
  return std::unique_ptr<GenerationHandle>(new Handle(this, seq, std::move(ch)));
}

ClusterState::RoutingCounts ClusterState::routing_counts() const {
  RoutingCounts c;
  c.by_prefix = routed_by_prefix_.load();
  c.by_load = routed_by_load_.load();
  c.overloaded = routed_overloaded_.load();
  c.prefix_tokens = routed_prefix_tokens_.load();
  return c;
}

void ClusterState::CancelSequence(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  auto f = inflight_.find(seq);
  if (f == inflight_.end()) return;
  auto w = workers_.find(f->second.worker_id);
  if (w != workers_.end()) {
    r1::v1::CoordinatorMessage msg;
    msg.mutable_cancel()->set_sequence_id(seq);
    w->second.outbox->Push(std::move(msg));
  }
  EndSequenceLocked(seq, r1::v1::FINISH_REASON_CANCELLED, "");
}

bool ClusterState::Ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, g] : groups_) {
    if (g.state == r1::v1::GROUP_STATE_SERVING) return true;
  }
  return false;
}

r1::v1::ClusterStatusResponse ClusterState::Status() const {
  std::lock_guard<std::mutex> lock(mu_);
  r1::v1::ClusterStatusResponse out;
  out.set_group_size(static_cast<uint32_t>(options_.group_size));
  out.set_model(options_.model.id);
  const absl::Time now = absl::Now();
  for (const auto& [id, w] : workers_) {
    auto* ws = out.add_workers();
    ws->set_worker_id(id);
    ws->set_state(w.state);
    ws->set_device(w.hello.device());
    ws->set_device_name(w.hello.device_name());
    ws->set_group_id(w.group_id);
    ws->set_rank(w.rank);
    *ws->mutable_load_progress() = w.load;
    *ws->mutable_stats() = w.stats;
    ws->set_last_seen_seconds_ago(absl::ToDoubleSeconds(now - w.last_seen));
  }
  for (const auto& [gid, g] : groups_) {
    auto* gs = out.add_groups();
    gs->set_group_id(gid);
    gs->set_state(g.state);
    for (const auto& id : g.workers) gs->add_worker_ids(id);
    *gs->mutable_placement() = g.placement;
    gs->set_requests_in_flight(static_cast<uint32_t>(std::max(0, g.inflight)));
    gs->set_requests_served(g.served);
  }
  return out;
}

}  // namespace r1
