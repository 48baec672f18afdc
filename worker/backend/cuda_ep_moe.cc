#include "worker/backend/cuda_ep_moe.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/moe_exchange/moe_exchange_cuda.h"
#include "worker/comm/stream_wait.h"

namespace r1 {

using kernels::internal::CudaStatus;

namespace {

double SecondsSince(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

// Where a layer's send side lives on the device (the counted or the fixed-capacity buffers).
struct SendBuffers {
  int32_t* send_offsets;
  int32_t* send_token;
  int32_t* token_slot;
  uint8_t* records;
  uint16_t* back;
};
// And its receive side.
struct RecvBuffers {
  uint8_t* records;
  float* scale;
  int32_t* ids;
  float* weights;
  uint16_t* sums;
};

// The layer's plan: `expert_rank` is the layer's row of the map; capacity 0: packed rows.
kernels::MoeDispatchPlanParams PlanParams(const DeviceMoeTokens& t, int experts,
                                          const int32_t* expert_rank, int ranks,
                                          const SendBuffers& send, int64_t capacity) {
  kernels::MoeDispatchPlanParams plan;
  plan.topk_ids = t.topk_ids;
  plan.tokens = t.tokens;
  plan.top_k = t.top_k;
  plan.experts = experts;
  plan.expert_rank = expert_rank;
  plan.ranks = ranks;
  plan.send_offsets = send.send_offsets;
  plan.send_token = send.send_token;
  plan.token_slot = send.token_slot;
  plan.capacity = capacity;
  return plan;
}

// Packs `rows` records of the planned rows (FP8 rows with their scales, or BF16 rows).
absl::Status LaunchPack(const DeviceMoeTokens& t, bool fp8, int64_t hidden,
                        const kernels::MoeDispatchPlanParams& plan, const int32_t* expert_local,
                        int64_t rows, const kernels::MoeRecordLayout& layout,
                        const SendBuffers& send, cudaStream_t stream) {
  kernels::MoeDispatchPackParams pack;
  pack.x = fp8 ? t.hidden_fp8 : reinterpret_cast<const uint8_t*>(t.hidden);
  pack.x_stride = fp8 ? hidden : 2 * hidden;
  pack.x_scale = fp8 ? t.hidden_scale : nullptr;
  pack.x_scale_ld = fp8 ? t.hidden_scale_ld : 0;
  pack.topk_ids = t.topk_ids;
  pack.topk_weights = t.topk_weights;
  pack.tokens = t.tokens;
  pack.top_k = t.top_k;
  pack.experts = plan.experts;
  pack.expert_rank = plan.expert_rank;
  pack.expert_local = expert_local;
  pack.send_offsets = send.send_offsets;
  pack.send_token = send.send_token;
  pack.ranks = plan.ranks;
  pack.rows = rows;
  pack.layout = layout;
  pack.records = send.records;
  pack.capacity = plan.capacity;
  return kernels::LaunchMoeDispatchPack(pack, stream);
}

// Unpacks `rows` received records and runs this rank's experts on them (sums into recv.sums).
absl::Status RunReceived(int layer, int64_t rows, bool fp8, int top_k,
                         const kernels::MoeRecordLayout& layout, const RecvBuffers& recv,
                         const LocalExpertsFn& experts, cudaStream_t stream) {
  kernels::MoeRecordUnpackParams un;
  un.records = recv.records;
  un.rows = rows;
  un.layout = layout;
  un.scale = fp8 ? recv.scale : nullptr;
  un.scale_ld = rows;
  un.ids = recv.ids;
  un.weights = recv.weights;
  RETURN_IF_ERROR(kernels::LaunchMoeRecordUnpack(un, stream));
  DeviceExpertRows r;
  r.rows = rows;
  r.fp8 = fp8;
  r.x = recv.records;  // the payload leads every record
  r.x_stride = layout.record_bytes;
  r.x_scale = fp8 ? recv.scale : nullptr;
  r.x_scale_ld = rows;
  r.ids = recv.ids;
  r.weights = recv.weights;
  r.top_k = top_k;
  r.out = recv.sums;
  return experts(layer, r);
}

// out = shared + every destination's returned row, per token (nothing without tokens).
absl::Status LaunchScatter(const DeviceMoeTokens& t, const SendBuffers& send, int64_t back_rows,
                           int ranks, int64_t hidden, cudaStream_t stream) {
  if (t.tokens == 0) return absl::OkStatus();
  kernels::MoeCombineScatterParams cs;
  cs.back = send.back;
  cs.back_rows = back_rows;
  cs.token_slot = send.token_slot;
  cs.add = t.shared_out;
  cs.out = t.out;
  cs.tokens = t.tokens;
  cs.ranks = ranks;
  cs.dim = hidden;
  return kernels::LaunchMoeCombineScatter(cs, stream);
}

}  // namespace

// Grow-only device buffers, in three independent arenas: per token of this rank, per record
// sent, per record received.
struct CudaEpMoe::Buffers {
  int64_t tokens = -1, sent = -1, received = -1;
  std::unique_ptr<DeviceArena> token_arena, sent_arena, received_arena;
  int32_t* send_offsets = nullptr;  // [W + 1]
  int32_t* send_token = nullptr;    // [tokens · min(top_k, W)]
  int32_t* token_slot = nullptr;    // [tokens][W]
  uint8_t* send_records = nullptr;  // [sent][record_bytes]
  uint16_t* back = nullptr;         // [sent][hidden] bf16: the destinations' sums, returned
  uint8_t* recv_records = nullptr;  // [received][record_bytes]
  float* recv_scale = nullptr;      // [hidden/128][received]
  int32_t* recv_ids = nullptr;      // [received][top_k]
  float* recv_weights = nullptr;    // [received][top_k]
  uint16_t* sums = nullptr;         // [received][hidden] bf16: this rank's experts' sums
  // The fixed-capacity exchange's buffers, for `capacity` records per peer (R = W·capacity).
  struct Fixed {
    int64_t capacity = 0;
    int top_k = 0;  // slots per record the buffers are sized for
    std::unique_ptr<DeviceArena> arena;
    int32_t* send_offsets = nullptr;  // [W + 1] the counts, on the device only
    int32_t* send_token = nullptr;    // [R]
    int32_t* token_slot = nullptr;    // [capacity][W]
    uint8_t* send_records = nullptr;  // [R][record_bytes]
    uint16_t* back = nullptr;         // [R][hidden]
    uint8_t* recv_records = nullptr;  // [R][record_bytes]
    float* recv_scale = nullptr;      // [hidden/128][R]
    int32_t* recv_ids = nullptr;      // [R][top_k]
    float* recv_weights = nullptr;    // [R][top_k]
    uint16_t* sums = nullptr;         // [R][hidden]
  } fixed;
};

absl::StatusOr<std::unique_ptr<CudaEpMoe>> CudaEpMoe::Create(Communicator* comm,
                                                             const ModelConfig& config,
                                                             EpPlacement placement,
                                                             bool int4_experts,
                                                             CudaEpMoeOptions options) {
  if (comm == nullptr) return absl::InvalidArgumentError("CudaEpMoe: no communicator");
  if (comm->size() > 64) {
    return absl::UnimplementedError(
        absl::StrCat("CudaEpMoe: groups of at most 64 ranks (got ", comm->size(), ")"));
  }
  if (config.hidden_size % 128 != 0) {
    return absl::InvalidArgumentError("CudaEpMoe: hidden_size must be a multiple of 128");
  }
  RETURN_IF_ERROR(placement.Validate(static_cast<int>(config.n_routed_experts), comm->size()));
  if (options.timeout <= absl::ZeroDuration() || options.max_rows_per_peer <= 0 ||
      options.fixed_capacity_max_tokens < 0) {
    return absl::InvalidArgumentError(
        "CudaEpMoe: timeout and max_rows_per_peer must be positive, "
        "fixed_capacity_max_tokens ≥ 0");
  }
  if (options.fixed_capacity_max_tokens > 0 && !comm->stream_ordered()) {
    return absl::FailedPreconditionError(
        "CudaEpMoe: the fixed-capacity exchange needs a stream-ordered communicator (NCCL)");
  }
  const bool fp8 = !int4_experts && !options.dispatch_bf16;
  std::unique_ptr<CudaEpMoe> ep(new CudaEpMoe(comm, config, std::move(placement), fp8, options));
  RETURN_IF_ERROR(ep->Init());
  return ep;
}

CudaEpMoe::CudaEpMoe(Communicator* comm, const ModelConfig& config, EpPlacement placement, bool fp8,
                     CudaEpMoeOptions options)
    : comm_(comm),
      hidden_(config.hidden_size),
      n_experts_(static_cast<int>(config.n_routed_experts)),
      // The MTP layers (index num_hidden_layers on) are exchanged like the main MoE layers.
      layers_(static_cast<int>(config.num_hidden_layers + config.num_nextn_predict_layers)),
      placement_(std::move(placement)),
      top_k_(static_cast<int>(config.num_experts_per_tok)),
      fp8_(fp8),
      options_(options),
      buffers_(std::make_unique<Buffers>()) {}

CudaEpMoe::~CudaEpMoe() {
  if (host_offsets_ != nullptr) cudaFreeHost(host_offsets_);
}

absl::Status CudaEpMoe::Init() {
  const int E = n_experts_;
  std::vector<int32_t> rank(static_cast<size_t>(layers_) * E), local(rank.size());
  for (int layer = 0; layer < layers_; ++layer) {
    const std::vector<int>& m = placement_.ForLayer(layer);
    std::vector<int32_t> next(comm_->size(), 0);
    for (int e = 0; e < E; ++e) {
      rank[layer * E + e] = m[e];
      local[layer * E + e] = next[m[e]]++;
    }
  }
  ASSIGN_OR_RETURN(expert_rank_, maps_arena_.UploadVector(rank));
  ASSIGN_OR_RETURN(expert_local_, maps_arena_.UploadVector(local));
  void* pinned = nullptr;
  RETURN_IF_ERROR(CudaStatus(cudaMallocHost(&pinned, (comm_->size() + 1) * sizeof(int32_t)),
                             "CudaEpMoe: pinned counts"));
  host_offsets_ = static_cast<int32_t*>(pinned);
  return absl::OkStatus();
}

absl::Status CudaEpMoe::Run(int layer, const DeviceMoeTokens& tokens, const LocalExpertsFn& experts,
                            void* stream) {
  absl::Status st = Exchange(layer, tokens, experts, stream);
  // Peers are (or will be) blocked in this layer's exchange: make them fail now. Not while the
  // stream is being captured into a CUDA graph: nothing of a capture runs, the model runs the
  // step again eagerly (DecodeGraphs), and the peers see only that.
  if (!st.ok()) {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(static_cast<cudaStream_t>(stream), &capture) != cudaSuccess ||
        capture == cudaStreamCaptureStatusNone) {
      comm_->Abort();
    }
    return st;
  }
  if (options_.observer != nullptr) options_.observer->OnExchange(stats_);
  return st;
}

absl::Status CudaEpMoe::Drain(void* stream) {
  step_capacity_ = -1;  // the next exchange begins a step
  absl::Status st = WaitForStreamWithPeers(stream, *comm_, absl::Now() + options_.timeout,
                                           "expert-parallel MoE: end of step");
  if (!st.ok()) comm_->Abort();
  return st;
}

absl::Status CudaEpMoe::Exchange(int layer, const DeviceMoeTokens& t, const LocalExpertsFn& experts,
                                 void* stream_ptr) {
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  const int W = comm_->size(), me = comm_->rank();
  const int64_t d = hidden_, n = t.tokens;
  const int K = t.top_k;
  const std::string where = absl::StrCat("expert-parallel MoE, layer ", layer, ", rank ", me);
  if (layer < 0 || layer >= layers_ || n < 0 || K <= 0 || K > 32 ||
      (n > 0 && (t.hidden == nullptr || t.topk_ids == nullptr || t.topk_weights == nullptr ||
                 t.out == nullptr || (fp8_ && t.hidden_fp8 == nullptr)))) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": bad tokens"));
  }
  Buffers& b = *buffers_;
  const kernels::MoeRecordLayout layout =
      kernels::MakeMoeRecordLayout(fp8_ ? d : 2 * d, fp8_ ? d / 128 : 0, K);
  const int64_t rb = layout.record_bytes;
  EpExchangeStats stats;
  stats.layer = layer;
  const absl::Time t0 = absl::Now();

  const bool ordered = comm_->stream_ordered();
  if (ordered && options_.fixed_capacity_max_tokens > 0) {
    if (step_capacity_ < 0) RETURN_IF_ERROR(AgreeStepCapacity(n, where));
    if (step_capacity_ > 0) {
      return FixedExchange(layer, t, experts, stream_ptr, step_capacity_, where);
    }
  }

  // Buffers per token (resizing waits for the previous layer's kernels that read them).
  if (n > b.tokens) {
    RETURN_IF_ERROR(WaitForStreamWithPeers(stream, *comm_, absl::Now() + options_.timeout,
                                           absl::StrCat(where, ": resize")));
    b.token_arena = std::make_unique<DeviceArena>();
    const int64_t cap = std::max<int64_t>(n, 1);
    ASSIGN_OR_RETURN(b.send_offsets, b.token_arena->AllocArray<int32_t>(W + 1));
    ASSIGN_OR_RETURN(b.send_token, b.token_arena->AllocArray<int32_t>(cap * std::min(K, W)));
    ASSIGN_OR_RETURN(b.token_slot, b.token_arena->AllocArray<int32_t>(cap * W));
    b.tokens = cap;
  }

  // 1. Plan, and the counts to the host.
  const int32_t* layer_rank = expert_rank_ + static_cast<int64_t>(layer) * n_experts_;
  const int32_t* layer_local = expert_local_ + static_cast<int64_t>(layer) * n_experts_;
  const SendBuffers send_plan{b.send_offsets, b.send_token, b.token_slot, nullptr, nullptr};
  const kernels::MoeDispatchPlanParams plan =
      PlanParams(t, n_experts_, layer_rank, W, send_plan, /*capacity=*/0);
  RETURN_IF_ERROR(kernels::LaunchMoeDispatchPlan(plan, stream));
  RETURN_IF_ERROR(CudaStatus(
      cudaMemcpyAsync(host_offsets_, b.send_offsets, (W + 1) * 4, cudaMemcpyDeviceToHost, stream),
      "expert-parallel MoE: counts download"));
  // The one host wait of the exchange; with a stream-ordered communicator the stream also carries
  // the previous layer's dispatch and combine, so a missing peer shows here, bounded.
  RETURN_IF_ERROR(WaitForStreamWithPeers(stream, *comm_, absl::Now() + options_.timeout,
                                         absl::StrCat(where, ": counts")));

  // 2. Counts, each with the layer and the exchange's sequence number: ranks that drifted apart
  // (one ran an exchange the other did not) fail here instead of running the wrong layer's
  // experts on each other's rows.
  constexpr int kHeader = 3;  // rows, layer, sequence
  const uint64_t sequence = exchanges_++;
  std::vector<int64_t> header_out(kHeader * W), header_in(kHeader * W);
  std::vector<int64_t> send_rows(W), recv_rows(W);
  for (int p = 0; p < W; ++p) {
    send_rows[p] = host_offsets_[p + 1] - host_offsets_[p];
    header_out[kHeader * p] = send_rows[p];
    header_out[kHeader * p + 1] = layer;
    header_out[kHeader * p + 2] = static_cast<int64_t>(sequence);
  }
  const int64_t sent = host_offsets_[W];
  const std::vector<int64_t> per_peer(W, kHeader);
  RETURN_IF_ERROR(comm_->AllToAllV<int64_t>(header_out, per_peer, absl::MakeSpan(header_in),
                                            per_peer, options_.timeout));
  int64_t received = 0;
  for (int p = 0; p < W; ++p) {
    recv_rows[p] = header_in[kHeader * p];
    const int64_t peer_layer = header_in[kHeader * p + 1], peer_seq = header_in[kHeader * p + 2];
    if (peer_layer != layer || peer_seq != static_cast<int64_t>(sequence)) {
      return absl::DataLossError(absl::StrCat(where, ", exchange ", sequence, ": rank ", p,
                                              " is at layer ", peer_layer, ", exchange ", peer_seq,
                                              " (the group's steps drifted apart)"));
    }
    if (recv_rows[p] < 0 || recv_rows[p] > options_.max_rows_per_peer) {
      return absl::DataLossError(
          absl::StrCat(where, ": rank ", p, " announces ", recv_rows[p], " rows"));
    }
    received += recv_rows[p];
  }
  stats.counts_seconds = SecondsSince(t0);

  // The stream is idle here: growing the record buffers is safe.
  if (sent > b.sent) {
    b.sent_arena = std::make_unique<DeviceArena>();
    const int64_t cap = std::max<int64_t>(sent, 1);
    ASSIGN_OR_RETURN(b.send_records, b.sent_arena->AllocArray<uint8_t>(cap * rb));
    ASSIGN_OR_RETURN(b.back, b.sent_arena->AllocArray<uint16_t>(cap * d));
    b.sent = cap;
  }
  if (received > b.received) {
    b.received_arena = std::make_unique<DeviceArena>();
    const int64_t cap = std::max<int64_t>(received, 1);
    ASSIGN_OR_RETURN(b.recv_records, b.received_arena->AllocArray<uint8_t>(cap * rb));
    ASSIGN_OR_RETURN(b.recv_scale, b.received_arena->AllocArray<float>(cap * (d / 128)));
    ASSIGN_OR_RETURN(b.recv_ids, b.received_arena->AllocArray<int32_t>(cap * K));
    ASSIGN_OR_RETURN(b.recv_weights, b.received_arena->AllocArray<float>(cap * K));
    ASSIGN_OR_RETURN(b.sums, b.received_arena->AllocArray<uint16_t>(cap * d));
    b.received = cap;
  }
  // Record sizes depend on K and the payload; a layout larger than at allocation cannot happen
  // (K and the payload are fixed per model), but a record count beyond capacity must not.
  if (b.sent < sent || b.received < received) {
    return absl::InternalError(absl::StrCat(where, ": record buffers too small"));
  }

  // 3. Dispatch.
  const absl::Time t1 = absl::Now();
  const SendBuffers send{b.send_offsets, b.send_token, b.token_slot, b.send_records, b.back};
  const RecvBuffers recv{b.recv_records, b.recv_scale, b.recv_ids, b.recv_weights, b.sums};
  if (sent > 0) {
    RETURN_IF_ERROR(LaunchPack(t, fp8_, d, plan, layer_local, sent, layout, send, stream));
    if (!ordered) RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream), where.c_str()));
  }
  std::vector<int64_t> send_bytes(W), recv_bytes(W);
  for (int p = 0; p < W; ++p) {
    send_bytes[p] = send_rows[p] * rb;
    recv_bytes[p] = recv_rows[p] * rb;
  }
  const auto send_span = absl::MakeConstSpan(b.send_records, sent * rb);
  const auto recv_span = absl::MakeSpan(b.recv_records, received * rb);
  RETURN_IF_ERROR(ordered ? comm_->AllToAllVOnStream<uint8_t>(send_span, send_bytes, recv_span,
                                                              recv_bytes, stream, options_.timeout)
                          : comm_->AllToAllV<uint8_t>(send_span, send_bytes, recv_span, recv_bytes,
                                                      options_.timeout));
  stats.dispatch_seconds = SecondsSince(t1);

  // 4. This rank's experts on every received record.
  const absl::Time t2 = absl::Now();
  if (received > 0) {
    RETURN_IF_ERROR(RunReceived(layer, received, fp8_, K, layout, recv, experts, stream));
    if (!ordered) RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream), where.c_str()));
  }
  stats.experts_seconds = SecondsSince(t2);

  // 5. Combine: sums back to the tokens' ranks, added to the shared expert's output.
  const absl::Time t3 = absl::Now();
  std::vector<int64_t> back_send(W), back_recv(W);
  for (int p = 0; p < W; ++p) {
    back_send[p] = recv_rows[p] * d;
    back_recv[p] = send_rows[p] * d;
  }
  const auto sums = absl::MakeConstSpan(b.sums, received * d);
  const auto back = absl::MakeSpan(b.back, sent * d);
  RETURN_IF_ERROR(
      ordered ? comm_->AllToAllVOnStream<uint16_t>(sums, back_send, back, back_recv, stream,
                                                   options_.timeout)
              : comm_->AllToAllV<uint16_t>(sums, back_send, back, back_recv, options_.timeout));
  RETURN_IF_ERROR(LaunchScatter(t, send, sent, W, d, stream));
  stats.combine_seconds = SecondsSince(t3);

  for (int p = 0; p < W; ++p) {
    if (p == me) {
      stats.local_rows = recv_rows[p];
    } else {
      stats.rows_sent += send_rows[p];
      stats.rows_received += recv_rows[p];
    }
  }
  stats.rows_to_rank = std::move(send_rows);
  stats.rows_from_rank = std::move(recv_rows);
  stats_ = std::move(stats);
  return absl::OkStatus();
}

absl::Status CudaEpMoe::AgreeStepCapacity(int64_t tokens, const std::string& where) {
  // Largest token count, and the step number as max and −min: ranks that drifted apart (one
  // began a step the other did not) fail here.
  std::vector<int64_t> values = {tokens, steps_, -steps_};
  RETURN_IF_ERROR(comm_->AllReduce(absl::MakeSpan(values), ReduceOp::kMax, options_.timeout));
  if (values[1] != -values[2]) {
    return absl::DataLossError(absl::StrCat(where, ": step ", steps_,
                                            ", but the group spans steps ", -values[2], " to ",
                                            values[1], " (the group's steps drifted apart)"));
  }
  ++steps_;
  const int64_t most = values[0];
  if (most > options_.fixed_capacity_max_tokens) {
    step_capacity_ = 0;  // counted this step
    return absl::OkStatus();
  }
  int64_t capacity = 8;
  while (capacity < most) capacity *= 2;
  step_capacity_ = capacity;
  return absl::OkStatus();
}

absl::Status CudaEpMoe::FixedExchange(int layer, const DeviceMoeTokens& t,
                                      const LocalExpertsFn& experts, void* stream_ptr,
                                      int64_t capacity, const std::string& where) {
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  const int W = comm_->size();
  const int64_t d = hidden_, n = t.tokens, R = W * capacity;
  const int K = t.top_k;
  if (n > capacity) {
    return absl::InternalError(absl::StrCat(where, ": ", n, " tokens past the step's capacity ",
                                            capacity, " (one step, one token count)"));
  }
  const kernels::MoeRecordLayout layout =
      kernels::MakeMoeRecordLayout(fp8_ ? d : 2 * d, fp8_ ? d / 128 : 0, K);
  const int64_t rb = layout.record_bytes;
  RETURN_IF_ERROR(EnsureFixedBuffers(capacity, K, stream_ptr, where));
  Buffers::Fixed& f = buffers_->fixed;
  EpExchangeStats stats;
  stats.layer = layer;
  stats.capacity_rows = capacity;
  // (Not counted in exchanges_: a replayed graph runs this layer without the host, and a
  // captured one without running it. The step's agreement, made on every rank, checks drift.)

  // Plan and pack: destination p's rows at p·capacity, the rest of each block empty.
  const absl::Time t1 = absl::Now();
  const SendBuffers send{f.send_offsets, f.send_token, f.token_slot, f.send_records, f.back};
  const RecvBuffers recv{f.recv_records, f.recv_scale, f.recv_ids, f.recv_weights, f.sums};
  const kernels::MoeDispatchPlanParams plan = PlanParams(
      t, n_experts_, expert_rank_ + static_cast<int64_t>(layer) * n_experts_, W, send, capacity);
  RETURN_IF_ERROR(kernels::LaunchMoeDispatchPlan(plan, stream));
  RETURN_IF_ERROR(LaunchPack(t, fp8_, d, plan,
                             expert_local_ + static_cast<int64_t>(layer) * n_experts_, R, layout,
                             send, stream));
  const std::vector<int64_t> record_bytes(W, capacity * rb), row_values(W, capacity * d);
  RETURN_IF_ERROR(comm_->AllToAllVOnStream<uint8_t>(
      absl::MakeConstSpan(f.send_records, R * rb), record_bytes,
      absl::MakeSpan(f.recv_records, R * rb), record_bytes, stream, options_.timeout));
  stats.dispatch_seconds = SecondsSince(t1);

  // This rank's experts on every record; empty ones carry no local id and cost no expert work.
  const absl::Time t2 = absl::Now();
  RETURN_IF_ERROR(RunReceived(layer, R, fp8_, K, layout, recv, experts, stream));
  stats.experts_seconds = SecondsSince(t2);

  // Combine: every record's sum goes back; the scatter reads only the tokens' own rows.
  const absl::Time t3 = absl::Now();
  RETURN_IF_ERROR(comm_->AllToAllVOnStream<uint16_t>(absl::MakeConstSpan(f.sums, R * d), row_values,
                                                     absl::MakeSpan(f.back, R * d), row_values,
                                                     stream, options_.timeout));
  RETURN_IF_ERROR(LaunchScatter(t, send, R, W, d, stream));
  stats.combine_seconds = SecondsSince(t3);
  stats_ = std::move(stats);
  return absl::OkStatus();
}

absl::Status CudaEpMoe::EnsureFixedBuffers(int64_t capacity, int top_k, void* stream_ptr,
                                           const std::string& where) {
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  Buffers::Fixed& f = buffers_->fixed;
  if (capacity <= f.capacity && top_k <= f.top_k) return absl::OkStatus();
  capacity = std::max(capacity, f.capacity);
  const int W = comm_->size(), K = std::max(top_k, f.top_k);
  const int64_t d = hidden_, R = W * capacity;
  const int64_t rb =
      kernels::MakeMoeRecordLayout(fp8_ ? d : 2 * d, fp8_ ? d / 128 : 0, K).record_bytes;
  // Grows once per new capacity; queued kernels may read the old buffers.
  RETURN_IF_ERROR(WaitForStreamWithPeers(stream, *comm_, absl::Now() + options_.timeout,
                                         absl::StrCat(where, ": resize")));
  f.arena = std::make_unique<DeviceArena>();
  DeviceArena& a = *f.arena;
  ASSIGN_OR_RETURN(f.send_offsets, a.AllocArray<int32_t>(W + 1));
  ASSIGN_OR_RETURN(f.send_token, a.AllocArray<int32_t>(R));
  ASSIGN_OR_RETURN(f.token_slot, a.AllocArray<int32_t>(capacity * W));
  ASSIGN_OR_RETURN(f.send_records, a.AllocArray<uint8_t>(R * rb));
  ASSIGN_OR_RETURN(f.back, a.AllocArray<uint16_t>(R * d));
  ASSIGN_OR_RETURN(f.recv_records, a.AllocArray<uint8_t>(R * rb));
  ASSIGN_OR_RETURN(f.recv_scale, a.AllocArray<float>(R * (d / 128)));
  ASSIGN_OR_RETURN(f.recv_ids, a.AllocArray<int32_t>(R * K));
  ASSIGN_OR_RETURN(f.recv_weights, a.AllocArray<float>(R * K));
  ASSIGN_OR_RETURN(f.sums, a.AllocArray<uint16_t>(R * d));
  f.capacity = capacity;
  f.top_k = K;
  ++fixed_generation_;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> CudaEpMoe::BeginGraphStep(int64_t tokens, void* stream) {
  if (!comm_->stream_ordered() || options_.fixed_capacity_max_tokens <= 0) return 0;
  const std::string where = absl::StrCat("expert-parallel MoE, graph step, rank ", comm_->rank());
  absl::Status st = step_capacity_ >= 0 ? absl::FailedPreconditionError(absl::StrCat(
                                              where, ": the step's terms were already agreed"))
                                        : AgreeStepCapacity(tokens, where);
  if (st.ok() && step_capacity_ > 0) st = EnsureFixedBuffers(step_capacity_, top_k_, stream, where);
  if (!st.ok()) {
    comm_->Abort();
    return st;
  }
  return step_capacity_;
}

}  // namespace r1
