#include "worker/service/worker_runtime.h"

#include <unistd.h>

#include <optional>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/model_config.h"
#include "common/outbox.h"
#include "proto/grpc_security.h"
#include "proto/placement_proto.h"
#include "r1/v1/cluster.grpc.pb.h"
#include "r1/v1/inference.pb.h"
#include "worker/service/cpu_backend.h"
#include "worker/service/group_link.h"

namespace r1 {
namespace {

using Stream = grpc::ClientReaderWriter<r1::v1::WorkerMessage, r1::v1::CoordinatorMessage>;

// A command from the reader thread; `closed` marks the end of the stream.
struct Command {
  r1::v1::CoordinatorMessage msg;
  bool closed = false;
};

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

// The serving state built by one Assign.
struct Assignment {
  r1::v1::Assign assign;
  // Expert-parallel groups only. The engine's model borrows the executor, which borrows the
  // link's communicator: declared in that order, so they are destroyed engine first.
  std::unique_ptr<GroupLink> link;
  std::shared_ptr<void> executor;
  std::unique_ptr<Engine> engine;
  std::map<uint64_t, absl::Time> deadlines;
  bool draining = false;
};

class Session {
 public:
  Session(const WorkerOptions& o, Backend* backend, Stream* stream,
          std::shared_ptr<grpc::Channel> channel)
      : o_(o), backend_(backend), stream_(stream), channel_(std::move(channel)) {}

  bool Send(const r1::v1::WorkerMessage& m) { return stream_->Write(m); }

  void SendError(const absl::Status& st, bool fatal) {
    r1::v1::WorkerMessage m;
    m.mutable_error()->set_code(static_cast<int>(st.code()));
    m.mutable_error()->set_message(std::string(st.message()));
    m.mutable_error()->set_fatal(fatal);
    Send(m);
  }

  void EndSequence(uint64_t id, FinishReason reason, const std::string& error) {
    r1::v1::WorkerMessage m;
    auto* s = m.mutable_token_events()->add_sequences();
    s->set_sequence_id(id);
    s->set_finished(true);
    s->set_finish_reason(ProtoFinish(reason));
    s->set_error(error);
    Send(m);
  }

  absl::Status HandleAssign(const r1::v1::Assign& a) {
    current_.reset();
    if (o_.metrics != nullptr) o_.metrics->ClearAssignment();
    busy_ = false;
    if (a.group_size() == 0 || a.rank() >= a.group_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("assign: rank ", a.rank(), " of a group of ", a.group_size()));
    }
    if (!absl::StartsWith(a.model_source(), "checkpoint:")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported model source '", a.model_source(), "'"));
    }
    const std::string dir = a.model_source().substr(std::string("checkpoint:").size());
    auto config = LoadModelConfig(dir + "/config.json");
    if (!config.ok()) return config.status();
    auto source = CheckpointWeightSource::Open(dir);
    if (!source.ok()) return source.status();
    ShardSpec spec;
    spec.config = *config;
    spec.source = source->get();
    spec.rank = static_cast<int>(a.rank());
    spec.group_size = static_cast<int>(a.group_size());
    auto placement = PlacementFromProto(a.placement(), static_cast<int>(config->n_routed_experts),
                                        spec.group_size);
    if (!placement.ok()) return placement.status();
    spec.placement = std::move(*placement);
    spec.expert_dtype = a.expert_dtype();
    spec.kv_dtype = a.kv_dtype();
    spec.kv_cache_fraction = a.kv_cache_fraction();
    spec.max_model_len = a.max_model_len();
    spec.ep_observer = o_.metrics;
    if (absl::Status st = ValidateShardSpec(spec); !st.ok()) return st;
    const int64_t expected_bytes = static_cast<int64_t>(
        PlanWeights(*config).ComputeTotals(ExpertFormat::kCheckpoint).main_model());
    if (o_.metrics != nullptr) o_.metrics->SetWeightBytes(0, expected_bytes);

    const absl::Time start = absl::Now();
    auto as = std::make_unique<Assignment>();
    as->assign = a;
    if (a.group_size() > 1) {
      // The group's communicator first: the model's expert executor is built over it. Every
      // rank got its Assign at once; the bootstrap waits (bounded) for the slowest.
      auto link = GroupLink::Create(a, *backend_, channel_, o_.group);
      if (!link.ok()) return link.status();
      as->link = std::move(*link);
    }
    auto shard =
        backend_->Build(spec, as->link ? as->link->comm() : nullptr, o_.group.collective_timeout);
    if (!shard.ok()) return shard.status();
    const double secs = absl::ToDoubleSeconds(absl::Now() - start);
    SendLoaded(*config, secs);
    if (o_.metrics != nullptr) o_.metrics->SetWeightBytes(expected_bytes, expected_bytes);
    EngineOptions eo;
    eo.max_step_tokens = o_.max_step_tokens;
    eo.max_running = o_.max_running;
    eo.kv_blocks = shard->kv_blocks;
    eo.bf16_kv = shard->bf16_kv;
    eo.valid_vocab = a.valid_vocab_size();
    eo.max_model_len = a.max_model_len();
    eo.lockstep = a.group_size() > 1;
    as->executor = std::move(shard->borrowed);
    as->engine = std::make_unique<Engine>(std::move(shard->model), eo);
    log::Info({}, "group {} rank {}: {}", a.group_id(), a.rank(), shard->description);
    return Activate(std::move(as), dir, secs, eo);
  }

  // Weights load in one pass on both backends: reports the whole share once, when done.
  void SendLoaded(const ModelConfig& config, double secs) {
    const uint64_t bytes =
        PlanWeights(config).ComputeTotals(ExpertFormat::kCheckpoint).main_model();
    r1::v1::WorkerMessage progress;
    progress.mutable_load_progress()->set_bytes_loaded(bytes);
    progress.mutable_load_progress()->set_bytes_total(bytes);
    progress.mutable_load_progress()->set_bytes_per_second(secs > 0 ? bytes / secs : 0);
    progress.mutable_load_progress()->set_eta_seconds(0);
    Send(progress);
  }

  // Makes `as` the current assignment and tells the coordinator it is ready.
  absl::Status Activate(std::unique_ptr<Assignment> as, const std::string& dir, double secs,
                        const EngineOptions& eo) {
    log::Info({}, "assigned group {} rank {}: loaded {} in {:.2f} s on {}, {} KV blocks",
              as->assign.group_id(), as->assign.rank(), dir, secs, o_.device_name, eo.kv_blocks);
    current_ = std::move(as);
    if (o_.metrics != nullptr) {
      o_.metrics->SetAssignment(current_->assign.group_id(),
                                static_cast<int>(current_->assign.rank()),
                                static_cast<int>(current_->assign.group_size()));
    }
    r1::v1::WorkerMessage ready;
    ready.mutable_ready()->set_kv_capacity_tokens(static_cast<uint64_t>(eo.kv_blocks) *
                                                  kBlockTokens);
    ready.mutable_ready()->set_max_running_sequences(static_cast<uint32_t>(eo.max_running));
    Send(ready);
    return absl::OkStatus();
  }

  void HandleSubmit(const r1::v1::Submit& s) {
    if (!current_ || current_->draining) {
      EndSequence(s.sequence_id(), FinishReason::kError, "worker is not serving");
      return;
    }
    SequenceRequest r;
    r.id = s.sequence_id();
    r.prompt.assign(s.prompt_token_ids().begin(), s.prompt_token_ids().end());
    r.sampling = {s.temperature(), s.top_p() == 0.0f ? 1.0f : s.top_p(), s.top_k(), s.seed()};
    r.max_new_tokens = s.max_new_tokens();
    r.stop_ids.assign(s.stop_token_ids().begin(), s.stop_token_ids().end());
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

  // One engine step; false when the stream broke.
  bool Step() {
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
    if (!out.ok()) {
      SendError(out.status(), false);
      return true;
    }
    if (out->empty()) return true;
    r1::v1::WorkerMessage m;
    auto* te = m.mutable_token_events();
    te->set_step(++steps_);
    for (const SequenceOutput& so : *out) {
      auto* s = te->add_sequences();
      s->set_sequence_id(so.id);
      s->mutable_token_ids()->Add(so.new_tokens.begin(), so.new_tokens.end());
      if (so.finish != FinishReason::kNone) {
        s->set_finished(true);
        s->set_finish_reason(ProtoFinish(so.finish));
        s->set_error(so.error);
        current_->deadlines.erase(so.id);
      }
    }
    return Send(m);
  }

  // One tick of the step loop: agrees with the group whether anyone has work and, if so, runs one
  // engine step. False when the control stream broke.
  bool Tick() {
    if (!current_) {
      busy_ = false;
      return true;
    }
    bool any = !current_->engine->Idle();
    if (current_->link) {
      auto r = current_->link->AnyBusy(any);
      if (!r.ok()) return FailGroup(r.status());
      any = *r;
    }
    busy_ = any;
    if (!any) return true;
    if (!Step()) return false;
    if (current_->link) {
      if (absl::Status h = current_->link->health(); !h.ok()) return FailGroup(h);
    }
    return true;
  }

  // The group's data plane broke (a peer died or timed out): the assignment is gone. Sequences
  // still running here end with an error at the coordinator, which takes the group down and
  // re-forms groups from the workers left. False when the control stream broke.
  bool FailGroup(const absl::Status& st) {
    log::Error({}, "group {} rank {} failed: {}", current_->assign.group_id(),
               current_->assign.rank(), st.message());
    current_->link->Abort();
    current_.reset();
    if (o_.metrics != nullptr) {
      o_.metrics->GroupFailed(st.code());
      o_.metrics->ClearAssignment();
    }
    busy_ = false;
    r1::v1::WorkerMessage m;
    m.mutable_error()->set_code(static_cast<int>(st.code()));
    m.mutable_error()->set_message(absl::StrCat("engine group data plane failed: ", st.message()));
    m.mutable_error()->set_fatal(true);
    return Send(m);
  }

  bool SendStats() {
    r1::v1::WorkerMessage m;
    auto* st = m.mutable_stats();
    st->set_steps(steps_);
    if (current_) {
      Engine& e = *current_->engine;
      st->set_running_sequences(static_cast<uint32_t>(e.running()));
      st->set_waiting_sequences(static_cast<uint32_t>(e.waiting()));
      st->set_kv_blocks_total(static_cast<uint64_t>(e.kv_blocks()));
      st->set_kv_blocks_free(static_cast<uint64_t>(e.free_kv_blocks()));
      st->set_queued_tokens(static_cast<uint64_t>(e.queued_tokens()));
      if (o_.metrics != nullptr) {
        o_.metrics->SetEngineGauges({e.running(), e.waiting(), e.queued_tokens(), e.kv_blocks(),
                                     e.free_kv_blocks(), e.preemptions()});
      }
    }
    if (o_.metrics != nullptr) {
      if (std::optional<int64_t> used = backend_->DeviceMemoryUsedBytes()) {
        o_.metrics->SetDeviceMemoryUsed(*used);
      }
    }
    return Send(m);
  }

  // Whether the loop should tick again without waiting for commands.
  bool busy() const { return busy_ || (current_ && !current_->engine->Idle()); }
  Assignment* current() { return current_.get(); }

 private:
  const WorkerOptions& o_;
  Backend* backend_;  // borrowed
  Stream* stream_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Assignment> current_;
  bool busy_ = false;  // the group's answer at the last tick
  uint64_t steps_ = 0;
};

}  // namespace

namespace {

// Why the coordinator ended the control stream (a refused Attach: UNAUTHENTICATED, a duplicate
// worker id; or the coordinator going away).
absl::Status StreamEnded(const grpc::Status& st) {
  if (st.ok()) return absl::UnavailableError("the coordinator closed the control stream");
  return absl::Status(
      static_cast<absl::StatusCode>(st.error_code()),
      absl::StrCat("the coordinator ended the control stream: ", st.error_message()));
}

}  // namespace

std::string DefaultWorkerId(const std::string& backend_name) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return absl::StrCat(host, ":", getpid(), ":", backend_name);
}

absl::Status WorkerRuntime::Run() {
  std::shared_ptr<Backend> backend = options_.backend;
  if (backend == nullptr) backend = std::make_shared<CpuBackend>(CpuBackendOptions{});
  auto channel = grpc::CreateChannel(
      options_.coordinator,
      options_.credentials != nullptr ? options_.credentials : grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + options_.connect_timeout))) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach the coordinator at ", options_.coordinator));
  }
  auto stub = r1::v1::Cluster::NewStub(channel);
  grpc::ClientContext ctx;
  AddBearer(&ctx, options_.group.cluster_secret);
  std::unique_ptr<Stream> stream = stub->Attach(&ctx);

  r1::v1::WorkerMessage hello;
  const std::string id =
      options_.worker_id.empty() ? DefaultWorkerId(backend->name()) : options_.worker_id;
  hello.mutable_hello()->set_worker_id(id);
  hello.mutable_hello()->set_device(backend->kind());
  hello.mutable_hello()->set_device_name(options_.device_name);
  hello.mutable_hello()->set_version("r1serve 0.1");
  if (!stream->Write(hello)) return StreamEnded(stream->Finish());

  Outbox<Command> commands(1 << 16);
  std::thread reader([&] {
    r1::v1::CoordinatorMessage msg;
    while (stream->Read(&msg)) {
      if (!commands.Push(Command{msg, false})) break;
    }
    commands.Push(Command{{}, true});
  });

  Session session(options_, backend.get(), stream.get(), channel);
  absl::Status result = absl::OkStatus();
  absl::Time next_stats = absl::Now();
  bool running = true;
  bool stream_ended = false;  // the coordinator ended the call: its status says why
  while (running) {
    // Drain commands; block briefly only when there is nothing to step.
    auto wait = session.busy() ? std::chrono::milliseconds(0) : std::chrono::milliseconds(100);
    while (auto cmd = commands.Pop(wait)) {
      wait = std::chrono::milliseconds(0);
      if (cmd->closed) {
        stream_ended = true;
        running = false;
        break;
      }
      const auto& m = cmd->msg;
      switch (m.msg_case()) {
        case r1::v1::CoordinatorMessage::kAssign:
          if (auto st = session.HandleAssign(m.assign()); !st.ok()) {
            log::Error({}, "assign failed: {}", st.message());
            session.SendError(st, true);
            result = st;
            running = false;
          }
          break;
        case r1::v1::CoordinatorMessage::kSubmit:
          session.HandleSubmit(m.submit());
          break;
        case r1::v1::CoordinatorMessage::kCancel:
          if (session.current()) session.current()->engine->Cancel(m.cancel().sequence_id());
          break;
        case r1::v1::CoordinatorMessage::kDrain:
          if (session.current()) session.current()->draining = true;
          break;
        case r1::v1::CoordinatorMessage::kShutdown:
          log::Info({}, "shutdown: {}", m.shutdown().reason());
          running = false;
          break;
        default:
          break;
      }
      if (!running) break;
    }
    if (!running) break;
    if (!session.Tick()) {
      result = absl::UnavailableError("lost the coordinator's control stream");
      break;
    }
    if (absl::Now() >= next_stats) {
      if (!session.SendStats()) {
        result = absl::UnavailableError("lost the coordinator's control stream");
        break;
      }
      next_stats = absl::Now() + options_.stats_interval;
    }
  }
  if (stream_ended) {
    reader.join();
    return StreamEnded(stream->Finish());
  }
  stream->WritesDone();
  ctx.TryCancel();
  reader.join();
  return result;
}

}  // namespace r1
