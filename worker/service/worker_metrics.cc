#include "worker/service/worker_metrics.h"

#include <array>
#include <exception>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace r1 {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Labels;

// Buckets, in base units.
const Histogram::BucketBoundaries& StepSeconds() {
  static const Histogram::BucketBoundaries b = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return b;
}
const Histogram::BucketBoundaries& ExchangeSeconds() {
  static const Histogram::BucketBoundaries b = {25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3,
                                                5e-3,  0.01,  0.025,  0.05,   0.1,    0.25, 1};
  return b;
}
// Drafts accepted per verifying sequence-step: 0 .. kMaxSpeculativeTokens (3).
const Histogram::BucketBoundaries& AcceptedDrafts() {
  static const Histogram::BucketBoundaries b = {0, 1, 2, 3};
  return b;
}
Histogram::BucketBoundaries PowersOfTwo(int max_exponent) {
  Histogram::BucketBoundaries b;
  for (int e = 0; e <= max_exponent; ++e) b.push_back(static_cast<double>(1 << e));
  return b;
}

constexpr std::array<const char*, 3> kPhases = {"schedule", "forward", "sample"};
// How a forward's kernels were launched, in DecodeGraphAction's order.
constexpr std::array<const char*, 3> kLaunches = {"eager", "graph_capture", "graph_replay"};

}  // namespace

// The metric families, registered once.
struct WorkerMetrics::Families {
  Family<Gauge>* assignment;
  Family<Counter>* steps;
  Family<Histogram>* step;
  Family<Histogram>* phase;
  Family<Histogram>* sequences;
  Family<Histogram>* tokens;
  Family<Counter>* prefill;
  Family<Counter>* decode;
  Family<Counter>* launches;
  Family<Gauge>* running;
  Family<Gauge>* waiting;
  Family<Gauge>* queued;
  Family<Gauge>* kv_blocks;
  Family<Gauge>* kv_ratio;
  Family<Counter>* preemptions;
  Family<Counter>* prefix_queries;
  Family<Counter>* prefix_hits;
  Family<Counter>* spec_steps;
  Family<Counter>* spec_drafts;
  Family<Counter>* spec_accepted;
  Family<Histogram>* spec_accepted_per_step;
  Family<Histogram>* ep_wait;
  Family<Histogram>* ep_dispatch;
  Family<Histogram>* ep_experts;
  Family<Histogram>* ep_combine;
  Family<Counter>* ep_sent;
  Family<Counter>* ep_received;
  Family<Gauge>* ep_expert_max;
  Family<Gauge>* ep_expert_mean;
  // Not scoped to a group.
  Counter* forward_errors;
  Family<Counter>* group_failures;
  Gauge* weight_loaded;
  Gauge* weight_expected;
  Family<Gauge>* device_memory;
  Gauge* device_memory_used = nullptr;  // created at the first sample (CUDA workers)
  std::string worker_id;
};

// The series of one assignment (group, rank).
struct WorkerMetrics::Scope {
  Labels labels;
  Gauge* assignment;
  Counter* steps;
  Histogram* step;
  std::array<Histogram*, kPhases.size()> phase;
  Histogram* sequences;
  Histogram* tokens;
  Counter* prefill;
  Counter* decode;
  std::array<Counter*, kLaunches.size()> launches;
  Gauge* running;
  Gauge* waiting;
  Gauge* queued;
  Gauge* kv_used;
  Gauge* kv_free;
  Gauge* kv_ratio;
  Counter* preemptions;
  uint64_t preemptions_seen = 0;
  Counter* prefix_queries;
  uint64_t prefix_queries_seen = 0;
  Counter* prefix_hits;
  uint64_t prefix_hits_seen = 0;
  Counter* spec_steps;
  Counter* spec_drafts;
  Counter* spec_accepted;
  Histogram* spec_accepted_per_step;
  Histogram* ep_wait;
  Histogram* ep_dispatch;
  Histogram* ep_experts;
  Histogram* ep_combine;
  std::vector<Counter*> ep_sent;                         // [peer]
  std::vector<Counter*> ep_received;                     // [peer]
  std::map<int, std::pair<Gauge*, Gauge*>> expert_load;  // layer -> (max, mean)
};

absl::StatusOr<std::unique_ptr<WorkerMetrics>> WorkerMetrics::Create(prometheus::Registry* registry,
                                                                     const std::string& worker_id) {
  if (registry == nullptr) return absl::InvalidArgumentError("WorkerMetrics: no registry");
  auto f = std::make_unique<Families>();
  f->worker_id = worker_id;
  const Labels worker = {{"worker", worker_id}};
  try {
    auto& r = *registry;
    auto gauge = [&](const char* name, const char* help) {
      return &prometheus::BuildGauge().Name(name).Help(help).Labels(worker).Register(r);
    };
    auto counter = [&](const char* name, const char* help) {
      return &prometheus::BuildCounter().Name(name).Help(help).Labels(worker).Register(r);
    };
    auto histogram = [&](const char* name, const char* help) {
      return &prometheus::BuildHistogram().Name(name).Help(help).Labels(worker).Register(r);
    };
    f->assignment = gauge("r1_worker_assignment", "1 while this worker holds the group's rank.");
    f->steps = counter("r1_worker_steps_total", "Engine steps that ran a forward pass.");
    f->step = histogram("r1_worker_step_duration_seconds", "One engine step.");
    f->phase = histogram("r1_worker_step_phase_duration_seconds",
                         "One engine step by phase: schedule, forward, sample.");
    f->sequences = histogram("r1_worker_step_sequences", "Sequences in a step (batch size).");
    f->tokens = histogram("r1_worker_step_tokens", "Tokens computed in a step.");
    f->prefill = counter("r1_worker_prefill_tokens_total", "Prompt tokens computed.");
    f->decode = counter("r1_worker_decode_tokens_total", "Decode tokens computed.");
    f->launches = counter("r1_worker_forward_launches_total",
                          "Forward passes by how their kernels were launched (CUDA workers): "
                          "eager, graph_capture, graph_replay.");
    f->running = gauge("r1_worker_sequences_running", "Sequences holding KV blocks.");
    f->waiting = gauge("r1_worker_sequences_waiting", "Sequences queued for admission.");
    f->queued = gauge("r1_worker_queued_tokens", "Tokens known but not yet in the KV cache.");
    f->kv_blocks = gauge("r1_worker_kv_cache_blocks", "KV cache blocks by state: used, free.");
    f->kv_ratio = gauge("r1_worker_kv_cache_usage_ratio", "Used fraction of the KV blocks.");
    f->preemptions = counter("r1_worker_preemptions_total",
                             "Sequences preempted for KV blocks (recomputed later).");
    f->prefix_queries = counter("r1_worker_prefix_cache_queries_total",
                                "Tokens of admitted sequences looked up in the prefix cache.");
    f->prefix_hits = counter("r1_worker_prefix_cache_hits_total",
                             "Tokens reused from cached KV blocks instead of computed.");
    f->spec_steps = counter("r1_speculative_steps_total",
                            "MTP speculative decoding: sequence-steps that verified drafts.");
    f->spec_drafts = counter("r1_speculative_draft_tokens_total",
                             "MTP speculative decoding: draft tokens verified.");
    f->spec_accepted = counter("r1_speculative_accepted_tokens_total",
                               "MTP speculative decoding: draft tokens accepted.");
    f->spec_accepted_per_step = histogram(
        "r1_speculative_accepted_tokens_per_step",
        "MTP speculative decoding: drafts accepted by one sequence in one verifying step.");
    f->ep_wait =
        histogram("r1_ep_collective_wait_seconds",
                  "Per MoE layer: the counts exchange, i.e. waiting for the slowest peer.");
    f->ep_dispatch = histogram("r1_ep_dispatch_duration_seconds",
                               "Per MoE layer: packing and sending token rows to the experts.");
    f->ep_experts = histogram("r1_ep_expert_duration_seconds",
                              "Per MoE layer: this rank's experts on the rows it received.");
    f->ep_combine = histogram("r1_ep_combine_duration_seconds",
                              "Per MoE layer: expert outputs back to the tokens' ranks.");
    f->ep_sent = counter("r1_ep_tokens_sent_total", "Token rows dispatched to rank `peer`.");
    f->ep_received = counter("r1_ep_tokens_received_total", "Token rows received from `peer`.");
    f->ep_expert_max = gauge("r1_ep_expert_tokens_max",
                             "Last exchange with tokens: most routed assignments on one of this "
                             "rank's experts, per layer.");
    f->ep_expert_mean = gauge("r1_ep_expert_tokens_mean",
                              "Last exchange with tokens: mean routed assignments over this rank's "
                              "experts, per layer.");
    f->forward_errors =
        &counter("r1_worker_forward_errors_total", "Forward passes that failed.")->Add({});
    f->group_failures = counter("r1_worker_group_failures_total",
                                "Engine group data planes that failed, by reason.");
    // Every reason exists from the start (at 0), so that increase() sees the first failure.
    for (const char* reason : {"deadline_exceeded", "unavailable", "aborted", "other"}) {
      f->group_failures->Add({{"reason", reason}});
    }
    Family<Gauge>* weights = gauge("r1_worker_weight_bytes",
                                   "Bytes of this worker's weights by state: loaded, expected.");
    f->weight_loaded = &weights->Add({{"state", "loaded"}});
    f->weight_expected = &weights->Add({{"state", "expected"}});
    f->device_memory = gauge("r1_worker_device_memory_used_bytes", "Device memory in use (CUDA).");
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("worker metrics: ", e.what()));
  }
  return std::unique_ptr<WorkerMetrics>(new WorkerMetrics(std::move(f)));
}

WorkerMetrics::WorkerMetrics(std::unique_ptr<Families> families) : f_(std::move(families)) {}

WorkerMetrics::~WorkerMetrics() { ClearAssignment(); }

void WorkerMetrics::SetAssignment(uint64_t group, int rank, int group_size) {
  ClearAssignment();
  auto s = std::make_unique<Scope>();
  s->labels = {{"group", absl::StrCat(group)}, {"rank", absl::StrCat(rank)}};
  auto with = [&](Labels extra) {
    Labels l = s->labels;
    l.insert(extra.begin(), extra.end());
    return l;
  };
  const Labels& l = s->labels;
  s->assignment = &f_->assignment->Add(l);
  s->assignment->Set(1);
  s->steps = &f_->steps->Add(l);
  s->step = &f_->step->Add(l, StepSeconds());
  for (size_t i = 0; i < kPhases.size(); ++i) {
    s->phase[i] = &f_->phase->Add(with({{"phase", kPhases[i]}}), StepSeconds());
  }
  s->sequences = &f_->sequences->Add(l, PowersOfTwo(10));
  s->tokens = &f_->tokens->Add(l, PowersOfTwo(14));
  s->prefill = &f_->prefill->Add(l);
  s->decode = &f_->decode->Add(l);
  for (size_t i = 0; i < kLaunches.size(); ++i) {
    s->launches[i] = &f_->launches->Add(with({{"launch", kLaunches[i]}}));
  }
  s->running = &f_->running->Add(l);
  s->waiting = &f_->waiting->Add(l);
  s->queued = &f_->queued->Add(l);
  s->kv_used = &f_->kv_blocks->Add(with({{"state", "used"}}));
  s->kv_free = &f_->kv_blocks->Add(with({{"state", "free"}}));
  s->kv_ratio = &f_->kv_ratio->Add(l);
  s->preemptions = &f_->preemptions->Add(l);
  s->prefix_queries = &f_->prefix_queries->Add(l);
  s->prefix_hits = &f_->prefix_hits->Add(l);
  s->spec_steps = &f_->spec_steps->Add(l);
  s->spec_drafts = &f_->spec_drafts->Add(l);
  s->spec_accepted = &f_->spec_accepted->Add(l);
  s->spec_accepted_per_step = &f_->spec_accepted_per_step->Add(l, AcceptedDrafts());
  if (group_size > 1) {
    s->ep_wait = &f_->ep_wait->Add(l, ExchangeSeconds());
    s->ep_dispatch = &f_->ep_dispatch->Add(l, ExchangeSeconds());
    s->ep_experts = &f_->ep_experts->Add(l, ExchangeSeconds());
    s->ep_combine = &f_->ep_combine->Add(l, ExchangeSeconds());
    for (int p = 0; p < group_size; ++p) {
      if (p == rank) {
        s->ep_sent.push_back(nullptr);
        s->ep_received.push_back(nullptr);
        continue;
      }
      s->ep_sent.push_back(&f_->ep_sent->Add(with({{"peer", absl::StrCat(p)}})));
      s->ep_received.push_back(&f_->ep_received->Add(with({{"peer", absl::StrCat(p)}})));
    }
  } else {
    s->ep_wait = s->ep_dispatch = s->ep_experts = s->ep_combine = nullptr;
  }
  scope_ = std::move(s);
}

void WorkerMetrics::ClearAssignment() {
  expert_tokens_.clear();
  if (scope_ == nullptr) return;
  Scope& s = *scope_;
  f_->assignment->Remove(s.assignment);
  f_->steps->Remove(s.steps);
  f_->step->Remove(s.step);
  for (Histogram* h : s.phase) f_->phase->Remove(h);
  f_->sequences->Remove(s.sequences);
  f_->tokens->Remove(s.tokens);
  f_->prefill->Remove(s.prefill);
  f_->decode->Remove(s.decode);
  for (Counter* c : s.launches) f_->launches->Remove(c);
  f_->running->Remove(s.running);
  f_->waiting->Remove(s.waiting);
  f_->queued->Remove(s.queued);
  f_->kv_blocks->Remove(s.kv_used);
  f_->kv_blocks->Remove(s.kv_free);
  f_->kv_ratio->Remove(s.kv_ratio);
  f_->preemptions->Remove(s.preemptions);
  f_->prefix_queries->Remove(s.prefix_queries);
  f_->prefix_hits->Remove(s.prefix_hits);
  f_->spec_steps->Remove(s.spec_steps);
  f_->spec_drafts->Remove(s.spec_drafts);
  f_->spec_accepted->Remove(s.spec_accepted);
  f_->spec_accepted_per_step->Remove(s.spec_accepted_per_step);
  if (s.ep_wait != nullptr) {
    f_->ep_wait->Remove(s.ep_wait);
    f_->ep_dispatch->Remove(s.ep_dispatch);
    f_->ep_experts->Remove(s.ep_experts);
    f_->ep_combine->Remove(s.ep_combine);
  }
  for (Counter* c : s.ep_sent) {
    if (c != nullptr) f_->ep_sent->Remove(c);
  }
  for (Counter* c : s.ep_received) {
    if (c != nullptr) f_->ep_received->Remove(c);
  }
  for (auto& [layer, gauges] : s.expert_load) {
    f_->ep_expert_max->Remove(gauges.first);
    f_->ep_expert_mean->Remove(gauges.second);
  }
  scope_.reset();
}

void WorkerMetrics::ObserveStep(const EngineStepStats& step) {
  if (step.forward_failed) f_->forward_errors->Increment();
  if (scope_ == nullptr || !step.ran_forward) return;
  Scope& s = *scope_;
  s.steps->Increment();
  const double phases[] = {step.schedule_seconds, step.forward_seconds, step.sample_seconds};
  double total = 0;
  for (size_t i = 0; i < kPhases.size(); ++i) {
    s.phase[i]->Observe(phases[i]);
    total += phases[i];
  }
  s.step->Observe(total);
  // Batch shape of steps that computed something (a lockstep step of an idle rank has none).
  if (step.sequences > 0) {
    s.sequences->Observe(step.sequences);
    s.tokens->Observe(static_cast<double>(step.prefill_tokens + step.decode_tokens));
  }
  s.prefill->Increment(static_cast<double>(step.prefill_tokens));
  s.decode->Increment(static_cast<double>(step.decode_tokens));
  if (step.decode_graph.has_value()) {
    s.launches[static_cast<size_t>(*step.decode_graph)]->Increment();
  }
  if (step.speculative_sequences > 0) {
    s.spec_steps->Increment(step.speculative_sequences);
    s.spec_drafts->Increment(static_cast<double>(step.draft_tokens));
    s.spec_accepted->Increment(static_cast<double>(step.accepted_drafts));
    for (int accepted : step.accepted_per_sequence) s.spec_accepted_per_step->Observe(accepted);
  }
}

void WorkerMetrics::SetEngineGauges(const EngineGauges& g) {
  if (scope_ == nullptr) return;
  Scope& s = *scope_;
  s.running->Set(g.running);
  s.waiting->Set(g.waiting);
  s.queued->Set(static_cast<double>(g.queued_tokens));
  const int used = g.kv_blocks_total - g.kv_blocks_free;
  s.kv_used->Set(used);
  s.kv_free->Set(g.kv_blocks_free);
  s.kv_ratio->Set(g.kv_blocks_total > 0 ? static_cast<double>(used) / g.kv_blocks_total : 0.0);
  // Cumulative engine counts, exported as their increments.
  auto advance = [](Counter* c, uint64_t now, uint64_t* seen) {
    if (now <= *seen) return;
    c->Increment(static_cast<double>(now - *seen));
    *seen = now;
  };
  advance(s.preemptions, g.preemptions, &s.preemptions_seen);
  advance(s.prefix_queries, g.prefix_cache_queries, &s.prefix_queries_seen);
  advance(s.prefix_hits, g.prefix_cache_hits, &s.prefix_hits_seen);
}

void WorkerMetrics::OnExchange(const EpExchangeStats& x) {
  if (scope_ == nullptr || scope_->ep_wait == nullptr) return;
  Scope& s = *scope_;
  s.ep_wait->Observe(x.counts_seconds);
  s.ep_dispatch->Observe(x.dispatch_seconds);
  s.ep_experts->Observe(x.experts_seconds);
  s.ep_combine->Observe(x.combine_seconds);
  const size_t peers = s.ep_sent.size();
  for (size_t p = 0; p < peers && p < x.rows_to_rank.size(); ++p) {
    if (s.ep_sent[p] != nullptr) s.ep_sent[p]->Increment(static_cast<double>(x.rows_to_rank[p]));
  }
  for (size_t p = 0; p < peers && p < x.rows_from_rank.size(); ++p) {
    if (s.ep_received[p] != nullptr) {
      s.ep_received[p]->Increment(static_cast<double>(x.rows_from_rank[p]));
    }
  }
  if (x.has_expert_load && !x.expert_tokens.empty()) {
    if (expert_tokens_.size() != x.expert_tokens.size()) {
      expert_tokens_.assign(x.expert_tokens.size(), 0);
    }
    for (size_t e = 0; e < x.expert_tokens.size(); ++e) expert_tokens_[e] += x.expert_tokens[e];
  }
  // The load of the last exchange that carried tokens (an empty lockstep step says nothing).
  if (!x.has_expert_load || x.expert_tokens_max == 0 || x.layer < 0) return;
  auto it = s.expert_load.find(x.layer);
  if (it == s.expert_load.end()) {
    Labels l = s.labels;
    l["layer"] = absl::StrCat(x.layer);
    it = s.expert_load
             .emplace(x.layer,
                      std::make_pair(&f_->ep_expert_max->Add(l), &f_->ep_expert_mean->Add(l)))
             .first;
  }
  it->second.first->Set(static_cast<double>(x.expert_tokens_max));
  it->second.second->Set(x.expert_tokens_mean);
}

void WorkerMetrics::SetWeightBytes(int64_t loaded, int64_t expected) {
  f_->weight_loaded->Set(static_cast<double>(loaded));
  f_->weight_expected->Set(static_cast<double>(expected));
}

void WorkerMetrics::SetDeviceMemoryUsed(int64_t bytes) {
  if (f_->device_memory_used == nullptr) f_->device_memory_used = &f_->device_memory->Add({});
  f_->device_memory_used->Set(static_cast<double>(bytes));
}

void WorkerMetrics::GroupFailed(absl::StatusCode code) {
  const char* reason = code == absl::StatusCode::kDeadlineExceeded ? "deadline_exceeded"
                       : code == absl::StatusCode::kUnavailable    ? "unavailable"
                       : code == absl::StatusCode::kAborted        ? "aborted"
                                                                   : "other";
  f_->group_failures->Add({{"reason", reason}}).Increment();
}

}  // namespace r1
