// r1_rank_bench: one expert-parallel rank of the full DeepSeek-R1 on one GPU — R1's real config
// (61 layers, or --layers for a shorter stack), this rank's 256/W routed experts per MoE layer
// (FP8, or INT4 with --int4) and every other weight, synthetic and filled on the device — running
// the expert work it would do in a group of W ranks (MirrorPeersCommunicator: peers' tokens route
// like this rank's; with --hot_bias, as the group's hottest rank). Measures:
//   * decode: steps of B sequences, each with `--context` tokens already cached, through
//     CudaModel::ForwardAndChoose (device sampling; one download of the token ids per step);
//   * prefill: P prompts of `--context` tokens in one forward;
// and prints per batch the step time, output tok/s per GPU, the MoE exchange phases as the
// executor saw them (host wall time per layer, summed over the step), the GPU time of every phase
// of the step from CUDA events (--profile: separate steps, since the events cost host time) with
// its roofline floor (phase_floors.h, DESIGN.md §13 ceilings), and the projection with
// the transport's time added: step + moe_layers · exchange_us (the per-layer dispatch + combine
// time of the transport, --exchange_us, measured by bench/comm on the target machine).
//
//   r1_rank_bench [--config=tests/fixtures/deepseek-r1-config.json] [--ranks=8] [--int4]
//                 [--layers=0] [--batches=1,8,32,64,128] [--context=2048] [--steps=10]
//                 [--prefill_prompts=2] [--exchange_us=0] [--json=out.jsonl] [--noprofile]
//                 [--mla_decode=measured|ours|flashinfer] [--kv_fraction=0.75]
//                 [--mla_prefill=measured|ours|flashinfer] [--fixed_capacity_max_tokens=256]
//                 [--hot_bias=0]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/serving/r1_rank/mirror_peers_communicator.h"
#include "bench/serving/r1_rank/phase_floors.h"
#include "bench/serving/r1_rank/speculative_steps.h"
#include "common/expert_placement.h"
#include "common/model_config.h"
#include "worker/backend/cuda_ep_moe.h"
#include "worker/backend/cuda_model.h"
#include "worker/backend/cuda_weights.h"
#include "worker/backend/step_profiler.h"
#include "worker/model/memory_plan.h"

ABSL_FLAG(std::string, config, "tests/fixtures/deepseek-r1-config.json", "R1's config.json");
ABSL_FLAG(int, ranks, 8, "expert-parallel group size W (this rank holds 256/W experts/layer)");
ABSL_FLAG(bool, int4, false, "routed experts as INT4 W4A16 (rows then travel in BF16)");
ABSL_FLAG(int, layers, 0, "layers to build (0: the config's 61); MoE from layer 3 as in R1");
ABSL_FLAG(std::string, batches, "1,8,32,64,128", "decode batch sizes (sequences on this rank)");
ABSL_FLAG(int, context, 2048, "cached tokens per decoding sequence; prefill prompt length");
ABSL_FLAG(int, steps, 10, "timed decode steps per batch size (after 3 untimed)");
ABSL_FLAG(int, prefill_prompts, 2, "prompts per prefill forward (0: skip prefill)");
ABSL_FLAG(double, exchange_us, 0.0, "transport time per MoE layer added in the projection");
ABSL_FLAG(uint64_t, seed, 1, "synthetic weights' seed");
ABSL_FLAG(std::string, json, "", "also write one JSON line per measurement here");
ABSL_FLAG(double, kv_fraction, 0.75,
          "share of the device memory left after the weights that the KV cache may take (the "
          "rest: the forward's scratch); 0.85 lets 256 sequences of 2K tokens fit at W = 8 on an "
          "H200");
ABSL_FLAG(std::string, mla_decode, "measured",
          "MLA decode kernel: measured (per step from the measured table), ours, flashinfer");
ABSL_FLAG(std::string, mla_prefill, "measured",
          "MLA prefill attention kernel: measured (per chunk from the measured table), ours, "
          "flashinfer");
ABSL_FLAG(int64_t, fixed_capacity_max_tokens, 256,
          "CudaEpMoeOptions::fixed_capacity_max_tokens: steps of at most this many tokens send "
          "every peer a fixed number of records (no host wait per layer); 0: every step counted");
ABSL_FLAG(double, hot_bias, 0.0,
          "0: balanced routing (this rank carries the group's average load). Otherwise this rank "
          "is the group's hottest: its experts' router bias is raised by this much in every MoE "
          "layer and every simulated peer routes like this rank (MirrorMode::kHotRank); the "
          "resulting share of token rows sent to this rank is printed (balanced: 1/W)");
ABSL_FLAG(std::string, speculative, "",
          "MTP draft counts k to time (e.g. 1,2,3; empty: none): loads the MTP module and runs "
          "speculative steps (verify 1 + k tokens, k MTP passes) at --speculative_batches");
ABSL_FLAG(std::string, speculative_batches, "1", "batch sizes of the speculative steps");
ABSL_FLAG(double, mtp_acceptance, 0.85,
          "acceptance rate of each draft given the ones before it, for the projected tokens per "
          "step (synthetic weights draft nothing real; DeepSeek-V3 reports 85–90% for its "
          "second-token prediction)");
ABSL_FLAG(bool, graphs, true,
          "decode steps as CUDA graphs (CudaModelOptions::decode_graphs: a batch size's first "
          "step warms up, the second captures, the rest replay; the exchange's per-layer columns "
          "then count only the steps that were not replayed); false: every step launched");
ABSL_FLAG(bool, profile, true,
          "after the timed steps, as many again with CUDA events at every phase boundary: the "
          "step-time breakdown by phase with each phase's roofline floor");

namespace r1 {
namespace {

[[noreturn]] void Fail(const std::string& what, const absl::Status& st) {
  std::fprintf(stderr, "r1_rank_bench: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::fflush(nullptr);
  std::_Exit(1);
}
template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Fail(what, v.status());
  return *std::move(v);
}
void Must(const absl::Status& st, const std::string& what) {
  if (!st.ok()) Fail(what, st);
}

double GiB(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

// Sums the executor's per-layer phase times over a step.
class PhaseTotals : public EpExchangeObserver {
 public:
  void OnExchange(const EpExchangeStats& s) override {
    counts += s.counts_seconds;
    dispatch += s.dispatch_seconds;
    experts += s.experts_seconds;
    combine += s.combine_seconds;
    // Received rows; with a fixed capacity, every record, used or empty.
    rows_received += s.capacity_rows > 0 ? s.capacity_rows * static_cast<int64_t>(ranks)
                                         : s.rows_received + s.local_rows;
    ++exchanges;
    // Counted exchanges name the rows per destination: this rank's share of its own batch's.
    if (!s.rows_to_rank.empty()) {
      rows_to_self_total += s.rows_to_rank[0];
      for (int64_t n : s.rows_to_rank) rows_routed_total += n;
    }
  }
  void Reset() {
    const int64_t self = rows_to_self_total, routed = rows_routed_total;
    *this = PhaseTotals(ranks);
    rows_to_self_total = self;
    rows_routed_total = routed;
  }
  explicit PhaseTotals(int group_size = 1) : ranks(group_size) {}
  int ranks;
  double counts = 0, dispatch = 0, experts = 0, combine = 0;
  int64_t rows_received = 0, exchanges = 0;
  // Over the whole run (Reset keeps them): token rows this rank's batch sent to rank 0 (itself)
  // and to every rank, in counted exchanges.
  int64_t rows_to_self_total = 0, rows_routed_total = 0;
};

struct Rank {
  ModelConfig config;
  std::unique_ptr<MirrorPeersCommunicator> comm;
  std::unique_ptr<CudaEpMoe> ep;
  std::shared_ptr<const CudaWeights> weights;
  std::unique_ptr<CudaModel> model;
  std::unique_ptr<PagedKvCache> cache;
  PhaseTotals phases;
  StepProfiler profiler;
  DeviceCeilings ceilings;  // of the GPU the bench runs on (roofline ratios)
  int moe_layers = 0;
};

const char* GraphActionName(DecodeGraphAction a) {
  switch (a) {
    case DecodeGraphAction::kReplay:
      return "replay";
    case DecodeGraphAction::kCapture:
      return "capture";
    default:
      return "eager";
  }
}

std::vector<int> ParseList(const std::string& text, const std::string& flag = "--batches") {
  std::vector<int> out;
  for (absl::string_view s : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(s, &v) || v <= 0) {
      Fail(flag, absl::InvalidArgumentError(absl::StrCat("bad entry '", s, "'")));
    }
    out.push_back(v);
  }
  return out;
}

// `steps` more decode steps of `seqs` with the profiler on: prints the GPU time per phase (ms per
// step, share of the span, and the phase's roofline floor / measured where one applies) and
// returns the same as JSON fields (",\"phases\":{...}") for the batch's line.
std::string ProfiledSteps(Rank& r, std::vector<KvSequence>& seqs, int steps, int batch, int context,
                          int ranks) {
  const TokenChoiceSpec greedy;
  r.profiler.Reset();
  r.profiler.Enable(true);
  double wall = 0;
  for (int it = 0; it < steps; ++it) {
    std::vector<ForwardItem> items;
    for (KvSequence& s : seqs) items.push_back({&s, {29 + it}, s.length, false, &greedy});
    std::vector<TokenChoice> chosen;
    const absl::Time t0 = absl::Now();
    Must(r.model->ForwardAndChoose(items, *r.cache, r.config.vocab_size, &chosen), "profiled step");
    wall += absl::ToDoubleSeconds(absl::Now() - t0);
  }
  r.profiler.Enable(false);
  const StepPhaseTimes& t = r.profiler.totals();
  const double n = std::max(1, t.forwards);
  const PhaseFloors floors = DecodeFloors(r.config, ranks, batch, context, r.ceilings);
  auto floor_of = [&](StepPhase p) {
    switch (p) {
      case StepPhase::kAttention:
        return floors.attention_s;
      case StepPhase::kDenseGemm:
        return floors.dense_gemm_s;
      case StepPhase::kExperts:
        return floors.experts_s;
      case StepPhase::kLmHead:
        return floors.lm_head_s;
      default:
        return 0.0;
    }
  };
  std::printf(
      "  batch %d, %d profiled steps: GPU span %.2f ms/step, wall %.2f ms/step "
      "(host outside the span %.2f ms)\n",
      batch, t.forwards, t.span_seconds / n * 1e3, wall / n * 1e3,
      (wall - t.span_seconds) / n * 1e3);
  std::string json = ",\"phases\":{";
  for (int i = 0; i < static_cast<int>(StepPhase::kCount); ++i) {
    const auto p = static_cast<StepPhase>(i);
    const double ms = t[p] / n * 1e3, floor_ms = floor_of(p) * 1e3;
    std::printf("    %-11s %8.2f ms %5.1f%%", StepPhaseName(p), ms,
                t.span_seconds > 0 ? 100.0 * t[p] / t.span_seconds : 0.0);
    if (floor_ms > 0 && ms > 0) {
      std::printf("   floor %7.2f ms, roofline ratio %.2f", floor_ms, floor_ms / ms);
    }
    std::printf("\n");
    absl::StrAppendFormat(&json, "%s\"%s\":{\"ms\":%.3f,\"floor_ms\":%.3f}", i ? "," : "",
                          StepPhaseName(p), ms, floor_ms);
  }
  absl::StrAppendFormat(&json, "},\"span_ms\":%.3f,\"wall_profiled_ms\":%.3f",
                        t.span_seconds / n * 1e3, wall / n * 1e3);
  return json;
}

// The speculative steps (--speculative): per batch and draft count k, the verify forward, the k
// MTP passes and the step, with the projected tokens per user at --mtp_acceptance.
void SpeculativeRows(Rank& r, const std::vector<int>& ks, const std::vector<int>& batches,
                     const std::map<int, double>& plain_step, int context, int steps,
                     int64_t per_seq, int kv_blocks, std::FILE* json, const char* gpu) {
  const double a = absl::GetFlag(FLAGS_mtp_acceptance);
  std::printf(
      "\nspeculative decode (MTP, every draft verified; tokens per step projected at "
      "acceptance %.2f: 1 + a + … + a^k)\n",
      a);
  std::printf("%6s %3s %10s %10s %10s %12s %14s %14s\n", "batch", "k", "verify ms", "drafts ms",
              "step ms", "tok/step/seq", "tok/s per user", "vs plain step");
  for (int B : batches) {
    if (B * per_seq > kv_blocks) {
      std::printf("%6d  skipped: %lld KV blocks needed, %d available\n", B,
                  static_cast<long long>(B * per_seq), kv_blocks);
      continue;
    }
    for (int k : ks) {
      std::vector<KvSequence> seqs(B);
      for (KvSequence& s : seqs) {
        Must(r.cache->Reserve(&s, context + 2 * k + 2), "KV reserve");
        s.length = context;
      }
      const SpeculativeStepTimes t =
          Must(TimeSpeculativeSteps(*r.model, *r.cache, seqs, k, steps), "speculative steps");
      for (KvSequence& s : seqs) r.cache->Release(&s);
      const double tokens = ExpectedTokensPerStep(k, a);
      const auto plain = plain_step.find(B);
      const double speedup =
          plain == plain_step.end() ? 0.0 : (tokens / t.step_s) / (1.0 / plain->second);
      std::printf("%6d %3d %10.2f %10.2f %10.2f %12.3f %14.1f %13.2fx\n", B, k, t.verify_s * 1e3,
                  t.draft_s * 1e3, t.step_s * 1e3, tokens, tokens / t.step_s, speedup);
      if (json) {
        std::fprintf(json,
                     "{\"kind\":\"speculative\",\"gpu\":\"%s\",\"batch\":%d,\"k\":%d,"
                     "\"verify_ms\":%.3f,\"draft_ms\":%.3f,\"step_ms\":%.3f,\"acceptance\":%.3f,"
                     "\"tokens_per_step\":%.4f,\"tok_s_user\":%.2f,\"speedup_vs_plain\":%.3f}\n",
                     gpu, B, k, t.verify_s * 1e3, t.draft_s * 1e3, t.step_s * 1e3, a, tokens,
                     tokens / t.step_s, speedup);
      }
    }
  }
}

// Sets the router bias of the first `local` experts (this rank's, contiguous placement) to `bias`
// in every MoE layer (the MTP layer's too): the router then favours them, as a group's hot experts
// are favoured.
absl::Status RaiseLocalRouterBias(CudaWeights& w, int local, double bias) {
  const int64_t E = w.config.n_routed_experts;
  std::vector<float> host(E, 0.0f);
  for (int e = 0; e < local && e < E; ++e) host[e] = static_cast<float>(bias);
  std::vector<DeviceLayer*> layers;
  for (DeviceLayer& L : w.layers) layers.push_back(&L);
  for (DeviceMtp& m : w.mtp) layers.push_back(&m.layer);  // the MTP layer routes like the others
  for (DeviceLayer* layer : layers) {
    DeviceLayer& L = *layer;
    if (!L.moe || L.router_bias == nullptr) continue;
    if (cudaMemcpy(L.router_bias, host.data(), E * sizeof(float), cudaMemcpyHostToDevice) !=
        cudaSuccess) {
      return absl::InternalError("router bias upload");
    }
  }
  return absl::OkStatus();
}

// This rank's share of the token rows its batches routed in counted exchanges (a row goes once
// to each rank holding any of the token's experts); 1/W is balanced.
void PrintRoutingShare(const PhaseTotals& t, int ranks, std::FILE* json) {
  if (t.rows_routed_total == 0) {
    std::printf(
        "routing share: no counted exchange yet (fixed-capacity steps keep their counts "
        "on the device)\n");
    return;
  }
  const double share = static_cast<double>(t.rows_to_self_total) / t.rows_routed_total;
  std::printf(
      "routing share: %.4f of token rows to this rank over counted exchanges (balanced "
      "%.4f, %.2f× it)\n",
      share, 1.0 / ranks, share * ranks);
  if (json) {
    std::fprintf(json, "{\"kind\":\"routing\",\"rank_share\":%.5f,\"balanced_share\":%.5f}\n",
                 share, 1.0 / ranks);
  }
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int W = absl::GetFlag(FLAGS_ranks), context = absl::GetFlag(FLAGS_context),
            steps = absl::GetFlag(FLAGS_steps), prompts = absl::GetFlag(FLAGS_prefill_prompts);
  const std::vector<int> batches = ParseList(absl::GetFlag(FLAGS_batches));
  const bool int4 = absl::GetFlag(FLAGS_int4);
  Rank r;
  r.config = Must(LoadModelConfig(absl::GetFlag(FLAGS_config)), "config");
  if (absl::GetFlag(FLAGS_layers) > 0) r.config.num_hidden_layers = absl::GetFlag(FLAGS_layers);
  const ModelConfig& c = r.config;
  for (int i = 0; i < c.num_hidden_layers; ++i) r.moe_layers += c.is_moe_layer(i) ? 1 : 0;
  const int E = static_cast<int>(c.n_routed_experts);
  if (W < 1 || E % W != 0) Fail("--ranks", absl::InvalidArgumentError("must divide 256"));
  const EpPlacement placement = EpPlacement::Contiguous(E, W);

  cudaDeviceProp prop{};
  Must(cudaGetDeviceProperties(&prop, 0) == cudaSuccess ? absl::OkStatus()
                                                        : absl::InternalError("no CUDA device"),
       "device");
  r.ceilings = CeilingsForDevice(prop.name);
  size_t free0 = 0, total = 0;
  cudaMemGetInfo(&free0, &total);
  std::printf(
      "r1_rank_bench: %s, %.1f GiB; R1 rank 0 of %d (%d routed experts/layer, %s), %d "
      "layers (%d MoE), context %d\n",
      prop.name, GiB(total), W, E / W, int4 ? "INT4" : "FP8", static_cast<int>(c.num_hidden_layers),
      r.moe_layers, context);
  std::printf("roofline ceilings: HBM %.2f TB/s, FP8 %.0f TFLOP/s, BF16 %.0f TFLOP/s (%s)\n",
              r.ceilings.hbm_bytes_per_s / 1e12, r.ceilings.fp8_flops_per_s / 1e12,
              r.ceilings.bf16_flops_per_s / 1e12, r.ceilings.source);

  CudaLoadOptions lo;
  lo.int4_experts = int4;
  lo.want_expert = placement.WantExpert(0);
  const std::vector<int> spec_ks = ParseList(absl::GetFlag(FLAGS_speculative), "--speculative");
  const std::vector<int> spec_batches =
      spec_ks.empty()
          ? std::vector<int>{}
          : ParseList(absl::GetFlag(FLAGS_speculative_batches), "--speculative_batches");
  const int spec_k_max = spec_ks.empty() ? 0 : *std::max_element(spec_ks.begin(), spec_ks.end());
  lo.load_mtp = !spec_ks.empty();
  const absl::Time t_load = absl::Now();
  std::unique_ptr<CudaWeights> weights =
      Must(SynthesizeCudaWeights(c, absl::GetFlag(FLAGS_seed), lo), "synthetic weights");
  const double hot_bias = absl::GetFlag(FLAGS_hot_bias);
  if (hot_bias != 0.0) Must(RaiseLocalRouterBias(*weights, E / W, hot_bias), "--hot_bias");
  r.weights = std::move(weights);
  const double load_s = absl::ToDoubleSeconds(absl::Now() - t_load);
  size_t free1 = 0;
  cudaMemGetInfo(&free1, &total);
  std::printf("weights: %.2f GiB on the device in %.1f s (device memory used %.2f GiB)\n",
              GiB(static_cast<double>(r.weights->arena.bytes())), load_s,
              GiB(static_cast<double>(total - free1)));
  // `r1ctl plan`'s prediction for this rank's weights against what the device gave up for them.
  MemoryPlanInput plan_in;
  plan_in.group_size = W;
  plan_in.experts = int4 ? ExpertFormat::kInt4 : ExpertFormat::kCheckpoint;
  plan_in.include_mtp = lo.load_mtp;
  plan_in.layout = WeightLayout::kCuda;
  plan_in.device_bytes = total;
  const MemoryPlan plan = PlanMemory(c, plan_in);
  const double planned = static_cast<double>(plan.replicated_bytes + plan.expert_bytes);
  const double taken = static_cast<double>(free0) - static_cast<double>(free1);
  const double plan_error = taken > 0 ? planned / taken - 1.0 : 0.0;
  std::printf("r1ctl plan: %.2f GiB of weights predicted, %.2f GiB taken on the device (%+.2f%%)\n",
              GiB(planned), GiB(taken), 100.0 * plan_error);
  const std::string memory_json = absl::StrFormat(
      "{\"kind\":\"memory\",\"gpu\":\"%s\",\"ranks\":%d,\"int4\":%s,\"mtp\":%s,"
      "\"planned_weight_gib\":%.3f,\"device_taken_gib\":%.3f,\"plan_error\":%.4f}\n",
      prop.name, W, int4 ? "true" : "false", lo.load_mtp ? "true" : "false", GiB(planned),
      GiB(taken), plan_error);

  r.comm = std::make_unique<MirrorPeersCommunicator>(
      W, hot_bias != 0.0 ? MirrorMode::kHotRank : MirrorMode::kBalanced);
  if (hot_bias != 0.0) {
    std::printf(
        "routing: hot rank (router bias %+.3f on this rank's %d experts per layer; every "
        "simulated peer routes like this rank)\n",
        hot_bias, E / W);
  }
  CudaEpMoeOptions eo;
  eo.observer = &r.phases;
  eo.fixed_capacity_max_tokens = absl::GetFlag(FLAGS_fixed_capacity_max_tokens);
  r.phases = PhaseTotals(W);
  r.ep = Must(CudaEpMoe::Create(r.comm.get(), c, placement, int4, eo), "CudaEpMoe");
  // KV blocks: every batch's sequences at context + steps, or what fits in --kv_fraction of what
  // is left (the rest: the forward's scratch).
  int max_batch = std::max(*std::max_element(batches.begin(), batches.end()), prompts);
  for (int b : spec_batches) max_batch = std::max(max_batch, b);
  // Untimed, timed and profiled steps each add a token to every sequence.
  const int64_t per_seq =
      (context + 2 * steps + 8 + 2 * spec_k_max + 2 + kBlockTokens - 1) / kBlockTokens;
  const int64_t row = c.kv_lora_rank + c.qk_rope_head_dim;
  const double block_bytes = static_cast<double>(c.num_hidden_layers) * kBlockTokens * row * 2;
  const double kv_fraction = absl::GetFlag(FLAGS_kv_fraction);
  if (!(kv_fraction > 0.0 && kv_fraction < 1.0)) {
    Fail("--kv_fraction", absl::InvalidArgumentError("must be in (0, 1)"));
  }
  const int64_t fit = static_cast<int64_t>(kv_fraction * static_cast<double>(free1) / block_bytes);
  const int kv_blocks = static_cast<int>(std::min<int64_t>(per_seq * max_batch, fit));
  CudaModelOptions mo;
  mo.expert_executor = r.ep.get();
  mo.profiler = &r.profiler;
  mo.decode_graphs = absl::GetFlag(FLAGS_graphs);
  const std::string mla = absl::GetFlag(FLAGS_mla_decode);
  if (mla == "ours") {
    mo.mla_decode = MlaDecodeSelect::kOurs;
  } else if (mla == "flashinfer") {
    mo.mla_decode = MlaDecodeSelect::kFlashInfer;
  } else if (mla != "measured") {
    Fail("--mla_decode", absl::InvalidArgumentError("must be measured, ours or flashinfer"));
  }
  const std::string mla_prefill = absl::GetFlag(FLAGS_mla_prefill);
  if (mla_prefill == "ours") {
    mo.mla_prefill = MlaPrefillSelect::kOurs;
  } else if (mla_prefill == "flashinfer") {
    mo.mla_prefill = MlaPrefillSelect::kFlashInfer;
  } else if (mla_prefill != "measured") {
    Fail("--mla_prefill", absl::InvalidArgumentError("must be measured, ours or flashinfer"));
  }
  r.profiler.Enable(false);
  r.model = Must(CudaModel::Create(r.weights, kv_blocks, mo), "CudaModel");
  r.cache = std::make_unique<PagedKvCache>(c.num_hidden_layers, kv_blocks, r.model->row_size(),
                                           true, false);
  std::printf("KV cache: %d blocks (%.2f GiB): %lld sequences of %d tokens\n", kv_blocks,
              GiB(kv_blocks * block_bytes), static_cast<long long>(kv_blocks / per_seq), context);
  std::FILE* json = nullptr;
  if (!absl::GetFlag(FLAGS_json).empty()) json = std::fopen(absl::GetFlag(FLAGS_json).c_str(), "w");
  if (json) std::fputs(memory_json.c_str(), json);

  const TokenChoiceSpec greedy;
  std::printf("\n%6s %10s %12s %12s %10s %10s %10s %10s %14s %11s %16s %7s\n", "batch", "step ms",
              "tok/s/GPU", "moe rows/L", "counts ms", "disp ms", "experts ms", "comb ms",
              "proj tok/s/GPU", "mla decode", "expert gemm", "graph");
  std::map<int, double> plain_step;  // batch → median plain decode step (s)
  for (int B : batches) {
    if (B * per_seq > kv_blocks) {
      std::printf("%6d  skipped: %lld KV blocks needed, %d available\n", B,
                  static_cast<long long>(B * per_seq), kv_blocks);
      continue;
    }
    std::vector<KvSequence> seqs(B);
    for (KvSequence& s : seqs) {
      Must(r.cache->Reserve(&s, context + 2 * steps + 4), "KV reserve");
      s.length = context;  // the cached prefix (its rows are whatever the cache holds)
    }
    std::vector<double> times;
    PhaseTotals sum(W);
    DecodeGraphAction last_graph = DecodeGraphAction::kEager;
    double capture_s = 0;  // the untimed step that captured the batch size's graph, if any
    for (int it = 0; it < 3 + steps; ++it) {
      std::vector<ForwardItem> items;
      for (KvSequence& s : seqs) items.push_back({&s, {17 + it}, s.length, false, &greedy});
      std::vector<TokenChoice> chosen;
      r.phases.Reset();
      const absl::Time t0 = absl::Now();
      Must(r.model->ForwardAndChoose(items, *r.cache, c.vocab_size, &chosen), "decode step");
      const double dt = absl::ToDoubleSeconds(absl::Now() - t0);
      last_graph = r.model->last_decode_graph().value_or(DecodeGraphAction::kEager);
      if (last_graph == DecodeGraphAction::kCapture) capture_s = dt;
      if (it >= 3) {
        times.push_back(dt);
        sum.counts += r.phases.counts;
        sum.dispatch += r.phases.dispatch;
        sum.experts += r.phases.experts;
        sum.combine += r.phases.combine;
        sum.rows_received += r.phases.rows_received;
        sum.exchanges += r.phases.exchanges;
      }
    }
    std::string breakdown_json;
    if (absl::GetFlag(FLAGS_profile)) {
      breakdown_json = ProfiledSteps(r, seqs, steps, B, context, W);
    }
    for (KvSequence& s : seqs) r.cache->Release(&s);
    std::sort(times.begin(), times.end());
    const double step = times[times.size() / 2];
    plain_step[B] = step;
    const double n = static_cast<double>(times.size());
    const double projected_step = step + r.moe_layers * absl::GetFlag(FLAGS_exchange_us) * 1e-6;
    const char* mla_ran = kernels::MlaDecodeBackendName(r.model->last_mla_decode());
    const char* gemm_ran = kernels::MoeGemmFp8BackendName(r.model->last_expert_gemm());
    const char* graph = GraphActionName(last_graph);
    std::printf("%6d %10.2f %12.0f %12.0f %10.2f %10.2f %10.2f %10.2f %14.0f %11s %16s %7s\n", B,
                step * 1e3, B / step,
                sum.exchanges ? sum.rows_received / static_cast<double>(sum.exchanges) : 0,
                sum.counts / n * 1e3, sum.dispatch / n * 1e3, sum.experts / n * 1e3,
                sum.combine / n * 1e3, B / projected_step, mla_ran, gemm_ran, graph);
    if (capture_s > 0) {
      std::printf("%6s capture step (warm-up done, capture and first replay): %.2f ms\n", "",
                  capture_s * 1e3);
    }
    if (json) {
      std::fprintf(json,
                   "{\"kind\":\"decode\",\"gpu\":\"%s\",\"ranks\":%d,\"int4\":%s,\"layers\":%d,"
                   "\"batch\":%d,\"context\":%d,\"step_ms_p50\":%.3f,\"step_ms_min\":%.3f,"
                   "\"tok_s_gpu\":%.1f,\"moe_counts_ms\":%.3f,\"moe_dispatch_ms\":%.3f,"
                   "\"moe_experts_ms\":%.3f,\"moe_combine_ms\":%.3f,\"exchange_us\":%.1f,"
                   "\"projected_tok_s_gpu\":%.1f,\"mla_decode\":\"%s\",\"expert_gemm\":\"%s\","
                   "\"fixed_capacity_max_tokens\":%lld,\"decode_graph\":\"%s\","
                   "\"capture_step_ms\":%.3f%s}\n",
                   prop.name, W, int4 ? "true" : "false", static_cast<int>(c.num_hidden_layers), B,
                   context, step * 1e3, times.front() * 1e3, B / step, sum.counts / n * 1e3,
                   sum.dispatch / n * 1e3, sum.experts / n * 1e3, sum.combine / n * 1e3,
                   absl::GetFlag(FLAGS_exchange_us), B / projected_step, mla_ran, gemm_ran,
                   static_cast<long long>(absl::GetFlag(FLAGS_fixed_capacity_max_tokens)), graph,
                   capture_s * 1e3, breakdown_json.c_str());
    }
  }
  std::printf("projection: tok/s/GPU = batch / (step + %d MoE layers × %.1f µs of transport)\n",
              r.moe_layers, absl::GetFlag(FLAGS_exchange_us));
  PrintRoutingShare(r.phases, W, json);
  if (!spec_ks.empty()) {
    SpeculativeRows(r, spec_ks, spec_batches, plain_step, context, steps, per_seq, kv_blocks, json,
                    prop.name);
  }

  if (prompts > 0 && prompts * per_seq <= kv_blocks) {
    std::vector<double> times;
    for (int it = 0; it < 4; ++it) {
      std::vector<KvSequence> seqs(prompts);
      std::vector<ForwardItem> items;
      for (int p = 0; p < prompts; ++p) {
        Must(r.cache->Reserve(&seqs[p], context + 1), "KV reserve");
        std::vector<int> tokens(context);
        for (int t = 0; t < context; ++t) tokens[t] = (7919 * (t + 31 * p)) % 120000 + 3;
        items.push_back({&seqs[p], std::move(tokens), 0, false, &greedy});
      }
      std::vector<TokenChoice> chosen;
      const absl::Time t0 = absl::Now();
      Must(r.model->ForwardAndChoose(items, *r.cache, c.vocab_size, &chosen), "prefill");
      if (it > 0) times.push_back(absl::ToDoubleSeconds(absl::Now() - t0));
      for (KvSequence& s : seqs) r.cache->Release(&s);
    }
    std::sort(times.begin(), times.end());
    const double t = times[times.size() / 2];
    std::printf(
        "\nprefill: %d prompts × %d tokens in %.1f ms: %.0f input tok/s/GPU (expert gemm %s, "
        "attention %s)\n",
        prompts, context, t * 1e3, prompts * context / t,
        kernels::MoeGemmFp8BackendName(r.model->last_expert_gemm()),
        kernels::MlaPrefillBackendName(r.model->last_mla_prefill()));
    if (json) {
      std::fprintf(json,
                   "{\"kind\":\"prefill\",\"gpu\":\"%s\",\"ranks\":%d,\"int4\":%s,\"layers\":%d,"
                   "\"prompts\":%d,\"prompt_tokens\":%d,\"forward_ms\":%.2f,\"tok_s_gpu\":%.1f}\n",
                   prop.name, W, int4 ? "true" : "false", static_cast<int>(c.num_hidden_layers),
                   prompts, context, t * 1e3, prompts * context / t);
    }
  }
  if (prompts > 0) PrintRoutingShare(r.phases, W, json);
  if (json) std::fclose(json);
  return 0;
}

}  // namespace
}  // namespace r1

int main(int argc, char** argv) { return r1::Main(argc, argv); }
