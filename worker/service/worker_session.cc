#include "worker/service/worker_session.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/model_config.h"
#include "common/served_model_config.h"
#include "proto/placement_proto.h"
#include "r1/v1/inference.pb.h"
#include "worker/model/dense_weight_plan.h"
#include "worker/model/progress_weight_source.h"
#include "worker/model/weight_plan.h"
#include "worker/model/weight_source.h"

namespace r1 {
namespace {

int ProtoFinish(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return r1::v1::FINISH_REASON_STOP;
    case FinishReason::kLength:
      return r1::v1::FINISH_REASON_LENGTH;
    case FinishReason::kCancelled:
      return r1::v1::FINISH_REASON_CANCELLED;
    default:
      return r1::v1::FINISH_REASON_ERROR;
  }
}

}  // namespace

// The serving state built by one Assign.
struct WorkerSession::Assignment {
  r1::v1::Assign assign;
  // Expert-parallel groups only. The engine's model borrows the executor, which borrows the
  // link's communicator: declared in that order, so they are destroyed engine first.
  std::unique_ptr<GroupLink> link;
  std::shared_ptr<void> executor;
  std::unique_ptr<Engine> engine;
  std::map<uint64_t, absl::Time> deadlines;
  bool draining = false;
  bool leaving = false;  // the coordinator released the group (Drain): leave at the next tick
};

WorkerSession::WorkerSession(const WorkerOptions& options, Backend* backend, SendFn send,
                             std::shared_ptr<grpc::Channel> channel, StepLiveness* liveness)
    : o_(options),
      backend_(backend),
      send_(std::move(send)),
      channel_(std::move(channel)),
      liveness_(liveness) {}

WorkerSession::~WorkerSession() { DropAssignment(); }

void WorkerSession::DropAssignment() {
  liveness_->SetLink(nullptr, 0);  // before the link goes: nobody may abort it any more
  current_.reset();
  busy_ = false;
  if (o_.metrics != nullptr) o_.metrics->ClearAssignment();
}

absl::StatusOr<WorkerSession::Next> WorkerSession::Handle(const r1::v1::CoordinatorMessage& m) {
  switch (m.msg_case()) {
    case r1::v1::CoordinatorMessage::kAssign:
      if (absl::Status st = HandleAssign(m.assign()); !st.ok()) {
        log::Error({}, "assign failed: {}", st.message());
        DropAssignment();
        SendError(st, true, m.assign().group_id());
        return st;
      }
      break;
    case r1::v1::CoordinatorMessage::kSubmit:
      HandleSubmit(m.submit());
      break;
    case r1::v1::CoordinatorMessage::kCancel:
      if (current_) current_->engine->Cancel(m.cancel().sequence_id());
      break;
    case r1::v1::CoordinatorMessage::kDrain:
      if (current_) current_->draining = true;
      break;
    case r1::v1::CoordinatorMessage::kAbortGroup:
      // The reader thread already aborted the communicator; here the assignment goes.
      if (current_ && current_->assign.group_id() == m.abort_group().group_id()) {
        const absl::Status st = absl::AbortedError(m.abort_group().reason());
        if (m.abort_group().drained()) {
          current_->leaving = true;  // with the other ranks, at the next tick
        } else if (current_->link != nullptr) {
          if (!FailGroup(st)) return Next::kShutdown;
        } else {
          log::Warn({}, "group {} released: {}", current_->assign.group_id(), st.message());
          DropAssignment();
        }
      }
      break;
    case r1::v1::CoordinatorMessage::kShutdown:
      log::Info({}, "shutdown: {}", m.shutdown().reason());
      if (current_ && current_->link != nullptr) {
        // Leave with the other ranks (one last tick) rather than strand them in a collective.
        current_->leaving = true;
        Tick();
      }
      return Next::kShutdown;
    default:
      break;
  }
  return Next::kContinue;
}

absl::Status WorkerSession::HandleAssign(const r1::v1::Assign& a) {
  DropAssignment();
  if (a.group_size() == 0 || a.rank() >= a.group_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("assign: rank ", a.rank(), " of a group of ", a.group_size()));
  }
  if (!absl::StartsWith(a.model_source(), "checkpoint:")) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported model source '", a.model_source(), "'"));
  }
  const std::string dir = a.model_source().substr(std::string("checkpoint:").size());
  const std::string config_path = dir + "/config.json";
  // DeepSeek-V3, or a dense model (Qwen2 / Llama) that the config's `architectures` names.
  auto served = LoadServedModelConfig(config_path);
  if (!served.ok()) return served.status();
  ShardSpec spec;
  spec.rank = static_cast<int>(a.rank());
  spec.group_size = static_cast<int>(a.group_size());
  spec.expert_dtype = a.expert_dtype();
  spec.kv_dtype = a.kv_dtype();
  spec.kv_cache_fraction = a.kv_cache_fraction();
  spec.max_model_len = a.max_model_len();
  spec.speculative_tokens = o_.speculative_tokens;
  spec.ep_observer = o_.metrics;
  spec.config = served->config;
  std::unique_ptr<CheckpointWeightSource> source;  // DeepSeek-V3 only
  std::optional<ProgressWeightSource> progress;    // DeepSeek-V3 only
  uint64_t expected_bytes = 0;
  auto report = [this, &a](const LoadProgressReport& r) {
    SendLoadProgress(r);
    log::Info({}, "group {} rank {}: {}", a.group_id(), a.rank(), DescribeLoadProgress(r));
  };
  if (!served->is_dense()) {
    const ModelConfig& config = served->config;
    auto opened = CheckpointWeightSource::Open(dir);
    if (!opened.ok()) return opened.status();
    source = std::move(*opened);
    auto placement = PlacementFromProto(a.placement(), static_cast<int>(config.n_routed_experts),
                                        static_cast<int>(a.group_size()));
    if (!placement.ok()) return placement.status();
    // What this rank will read: every tensor but the routed experts other ranks hold. Progress
    // (bytes, rate, time left) goes to the log and the coordinator every few seconds.
    const WeightPlan plan = PlanWeights(config);
    expected_bytes = FetchedBytes(plan, placement->WantExpert(static_cast<int>(a.rank())));
    progress.emplace(source.get(), expected_bytes, plan.mtp_first_layer, absl::Seconds(5), report);
    spec.source = &*progress;
    spec.placement = std::move(*placement);
  } else {
    // Both backends serve dense models (DenseCpuModel, DenseCudaModel); each refuses, naming
    // why, what it cannot run.
    const DenseModelConfig& c = *served->dense;
    // Every tensor, whole, read in one piece: the dense byte totals at the config's dtype.
    expected_bytes = ComputeDenseTotals(c, c.torch_dtype == "float32" ? 4 : 2).total();
    spec.dense = c;
    spec.checkpoint_dir = dir;
  }
  if (o_.metrics != nullptr) o_.metrics->SetWeightBytes(0, static_cast<int64_t>(expected_bytes));
  if (absl::Status st = ValidateShardSpec(spec); !st.ok()) return st;
  if (absl::Status st = ValidateSpeculation(spec, backend_->kind()); !st.ok()) return st;

  const absl::Time start = absl::Now();
  auto as = std::make_unique<Assignment>();
  as->assign = a;
  if (a.group_size() > 1) {
    // The group's communicator first: the model's expert executor is built over it. Every rank
    // got its Assign at once; the bootstrap waits (bounded) for the slowest.
    auto link = GroupLink::Create(a, *backend_, channel_, o_.group);
    if (!link.ok()) return link.status();
    as->link = std::move(*link);
    // Every step runs this many MTP exchanges on every rank: the ranks must agree.
    if (absl::Status st =
            as->link->CheckSameOnEveryRank("--speculative_tokens", o_.speculative_tokens);
        !st.ok()) {
      return st;
    }
  }
  auto shard =
      backend_->Build(spec, as->link ? as->link->comm() : nullptr, o_.group.collective_timeout);
  if (!shard.ok()) return shard.status();
  LoadProgressReport loaded;
  if (progress.has_value()) {
    loaded = progress->Current();
  } else {
    // A dense checkpoint is read in one piece: one report when it is in.
    loaded.bytes_loaded = loaded.bytes_total = expected_bytes;
    const double secs = absl::ToDoubleSeconds(absl::Now() - start);
    loaded.bytes_per_second = secs > 0 ? static_cast<double>(expected_bytes) / secs : 0;
    loaded.done = true;
    report(loaded);
  }
  if (o_.metrics != nullptr) {
    o_.metrics->SetWeightBytes(static_cast<int64_t>(loaded.bytes_loaded),
                               static_cast<int64_t>(expected_bytes));
  }
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  EngineOptions eo;
  eo.max_step_tokens = o_.max_step_tokens;
  eo.max_running = o_.max_running;
  eo.prefix_caching = o_.prefix_caching;
  eo.kv_blocks = shard->kv_blocks;
  eo.bf16_kv = shard->bf16_kv;
  eo.valid_vocab = a.valid_vocab_size();
  eo.max_model_len = a.max_model_len();
  eo.lockstep = a.group_size() > 1;
  eo.speculative_tokens = o_.speculative_tokens;
  as->executor = std::move(shard->borrowed);
  as->engine = std::make_unique<Engine>(std::move(shard->model), eo);
  if (as->engine->speculative_tokens() != eo.speculative_tokens) {
    return absl::FailedPreconditionError(
        absl::StrCat("--speculative_tokens=", eo.speculative_tokens,
                     ": the model built for this assignment runs no MTP module"));
  }
  log::Info({}, "group {} rank {}: {}", a.group_id(), a.rank(), shard->description);
  log::Info({}, "assigned group {} rank {}: loaded {} in {:.2f} s on {}, {} KV blocks",
            a.group_id(), a.rank(), dir, secs, o_.device_name, eo.kv_blocks);

  current_ = std::move(as);
  liveness_->SetLink(current_->link.get(), a.group_id());
  if (o_.metrics != nullptr) {
    o_.metrics->SetAssignment(a.group_id(), static_cast<int>(a.rank()),
                              static_cast<int>(a.group_size()));
  }
  r1::v1::WorkerMessage ready;
  ready.mutable_ready()->set_kv_capacity_tokens(static_cast<uint64_t>(eo.kv_blocks) * kBlockTokens);
  ready.mutable_ready()->set_max_running_sequences(static_cast<uint32_t>(eo.max_running));
  send_(ready);
  return absl::OkStatus();
}

void WorkerSession::SendLoadProgress(const LoadProgressReport& r) {
  r1::v1::WorkerMessage progress;
  progress.mutable_load_progress()->set_bytes_loaded(r.bytes_loaded);
  progress.mutable_load_progress()->set_bytes_total(r.bytes_total);
  progress.mutable_load_progress()->set_bytes_per_second(r.bytes_per_second);
  progress.mutable_load_progress()->set_eta_seconds(r.eta_seconds);
  send_(progress);
  if (o_.metrics != nullptr) {
    o_.metrics->SetWeightBytes(static_cast<int64_t>(r.bytes_loaded),
                               static_cast<int64_t>(r.bytes_total));
  }
}

void WorkerSession::HandleSubmit(const r1::v1::Submit& s) {
  if (!current_ || current_->draining) {
    EndSequence(s.sequence_id(), FinishReason::kError, "worker is not serving");
    return;
  }
  SequenceRequest r;
  r.id = s.sequence_id();
  r.prompt.assign(s.prompt_token_ids().begin(), s.prompt_token_ids().end());
  r.sampling.temperature = s.temperature();
  r.sampling.top_p = s.top_p() == 0.0f ? 1.0f : s.top_p();
  r.sampling.top_k = s.top_k();
  r.sampling.seed = s.seed();
  r.sampling.presence_penalty = s.presence_penalty();
  r.sampling.frequency_penalty = s.frequency_penalty();
  r.sampling.repetition_penalty = s.repetition_penalty() == 0.0f ? 1.0f : s.repetition_penalty();
  for (const auto& [id, bias] : s.logit_bias()) r.sampling.logit_bias.emplace_back(id, bias);
  // Map order is unspecified; sorted, the biases apply the same way every time.
  std::sort(r.sampling.logit_bias.begin(), r.sampling.logit_bias.end());
  r.sampling.logprobs = s.logprobs();
  r.sampling.top_logprobs = s.top_logprobs();
  r.max_new_tokens = s.max_new_tokens();
  r.stop_ids.assign(s.stop_token_ids().begin(), s.stop_token_ids().end());
  r.ignore_eos = s.ignore_eos();
  r.min_tokens = s.min_tokens();
  r.speculative = !s.no_speculation();
  if (auto st = current_->engine->Submit(std::move(r)); !st.ok()) {
    EndSequence(s.sequence_id(), FinishReason::kError, std::string(st.message()));
    return;
  }
  if (s.deadline_unix_ms() > 0) {
    current_->deadlines[s.sequence_id()] = absl::FromUnixMillis(s.deadline_unix_ms());
  }
  log::Debug(s.request_id(), "sequence {} admitted ({} prompt tokens)", s.sequence_id(),
             s.prompt_token_ids_size());
}

bool WorkerSession::Step() {
  Engine& e = *current_->engine;
  const absl::Time now = absl::Now();
  for (auto it = current_->deadlines.begin(); it != current_->deadlines.end();) {
    if (it->second < now) {
      e.Cancel(it->first);
      it = current_->deadlines.erase(it);
    } else {
      ++it;
    }
  }
  auto out = e.Step();
  if (o_.metrics != nullptr) o_.metrics->ObserveStep(e.last_step());
  if (const absl::Status& draft = e.last_step().draft_status; !draft.ok()) {
    log::Error({}, "group {} rank {}: MTP draft pass failed: {}", current_->assign.group_id(),
               current_->assign.rank(), draft.ToString());
  }
  if (!out.ok()) return SendError(out.status(), false, current_->assign.group_id());
  ++steps_;
  if (out->empty()) return true;
  r1::v1::WorkerMessage m;
  auto* te = m.mutable_token_events();
  te->set_step(steps_);
  for (const SequenceOutput& so : *out) {
    auto* s = te->add_sequences();
    s->set_sequence_id(so.id);
    s->mutable_token_ids()->Add(so.new_tokens.begin(), so.new_tokens.end());
    for (const TokenChoice& c : so.logprobs) {
      auto* lp = s->add_logprobs();
      lp->set_logprob(c.logprob);
      for (const auto& [id, value] : c.top) {
        lp->add_top_ids(id);
        lp->add_top_logprobs(value);
      }
    }
    if (so.finish != FinishReason::kNone) {
      s->set_finished(true);
      s->set_finish_reason(ProtoFinish(so.finish));
      s->set_error(so.error);
      current_->deadlines.erase(so.id);
    }
  }
  return send_(m);
}

bool WorkerSession::Tick() {
  if (!current_) {
    busy_ = false;
    return true;
  }
  liveness_->StepStarted(absl::Now());
  struct EndStep {
    StepLiveness* l;
    ~EndStep() { l->StepEnded(); }
  } end_step{liveness_};
  bool any = !current_->engine->Idle();
  bool leave = current_->leaving;
  if (current_->link) {
    auto r = current_->link->Agree(any, leave);
    if (!r.ok()) return FailGroup(r.status());
    any = r->any_busy;
    leave = r->leave;
  }
  if (leave) {
    log::Info({}, "group {} released (drained)", current_->assign.group_id());
    DropAssignment();
    return true;
  }
  busy_ = any;
  if (!any) return true;
  if (!Step()) return false;
  if (current_ && current_->link) {
    if (absl::Status h = current_->link->health(); !h.ok()) return FailGroup(h);
  }
  return true;
}

// The group's data plane broke (a peer died, stalled or timed out, or the coordinator aborted the
// group): the assignment is gone. Sequences still running here end with an error at the
// coordinator, which takes the group down (if it has not already) and re-forms groups from the
// workers left, this one included.
bool WorkerSession::FailGroup(const absl::Status& st) {
  const uint64_t group = current_->assign.group_id();
  log::Error({}, "group {} rank {} failed: {}", group, current_->assign.rank(), st.message());
  current_->link->Abort();
  if (o_.metrics != nullptr) o_.metrics->GroupFailed(st.code());
  DropAssignment();
  return SendError(
      absl::Status(st.code(), absl::StrCat("engine group data plane failed: ", st.message())), true,
      group);
}

bool WorkerSession::SendError(const absl::Status& st, bool fatal, uint64_t group_id) {
  r1::v1::WorkerMessage m;
  m.mutable_error()->set_code(static_cast<int>(st.code()));
  m.mutable_error()->set_message(std::string(st.message()));
  m.mutable_error()->set_fatal(fatal);
  m.mutable_error()->set_group_id(group_id);
  return send_(m);
}

void WorkerSession::EndSequence(uint64_t id, FinishReason reason, const std::string& error) {
  r1::v1::WorkerMessage m;
  auto* s = m.mutable_token_events()->add_sequences();
  s->set_sequence_id(id);
  s->set_finished(true);
  s->set_finish_reason(ProtoFinish(reason));
  s->set_error(error);
  send_(m);
}

void WorkerSession::PublishStats() {
  r1::v1::Stats st;
  st.set_steps(steps_);
  if (current_) {
    Engine& e = *current_->engine;
    st.set_running_sequences(static_cast<uint32_t>(e.running()));
    st.set_waiting_sequences(static_cast<uint32_t>(e.waiting()));
    st.set_kv_blocks_total(static_cast<uint64_t>(e.kv_blocks()));
    st.set_kv_blocks_free(static_cast<uint64_t>(e.free_kv_blocks()));
    st.set_queued_tokens(static_cast<uint64_t>(e.queued_tokens()));
    if (o_.metrics != nullptr) {
      o_.metrics->SetEngineGauges({e.running(), e.waiting(), e.queued_tokens(), e.kv_blocks(),
                                   e.free_kv_blocks(), e.preemptions(), e.prefix_cache_queries(),
                                   e.prefix_cache_hits()});
    }
  }
  if (o_.metrics != nullptr) {
    if (std::optional<int64_t> used = backend_->DeviceMemoryUsedBytes()) {
      o_.metrics->SetDeviceMemoryUsed(*used);
    }
    const std::vector<uint64_t>& experts = o_.metrics->expert_tokens();
    st.mutable_expert_tokens()->Add(experts.begin(), experts.end());
  }
  liveness_->Publish(st);
}

bool WorkerSession::busy() const { return busy_ || (current_ && !current_->engine->Idle()); }

}  // namespace r1
