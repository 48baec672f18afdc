#include "worker/backend/cuda_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <unordered_map>

#include <cuda_runtime.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/numeric.h"
#include "common/status_macros.h"
#include "kernels/fp8_gemm/fp8_gemm.h"
#include "kernels/int4_quant/int4_quant_cuda.h"
#include "kernels/random_fill/random_fill_cuda.h"
#include "worker/model/weight_plan.h"

namespace r1 {
namespace {

int64_t RoundUp128(int64_t v) { return (v + 127) / 128 * 128; }

// Host staging of one (possibly stacked) FP8 linear before upload.
struct HostFp8 {
  DeviceFp8Linear shape;
  std::vector<uint8_t> w;
  std::vector<float> scale;
  HostFp8(int64_t n, int64_t k, int64_t count) {
    shape.n = n;
    shape.k = k;
    shape.k_pad = RoundUp128(k);
    shape.scale_ld = kernels::Fp8GemmWeightScaleLd(shape.k_pad);
    shape.count = count;
    w.assign(static_cast<size_t>(count * n * shape.k_pad), 0);
    scale.assign(static_cast<size_t>(count * ((n + 127) / 128) * shape.scale_ld), 0.0f);
  }
  int64_t scale_rows() const { return (shape.n + 127) / 128; }
};

// Reads tensors from a WeightSource through host staging, or — with a synthetic seed — fills
// them on the device (SyntheticFill), in the same layouts.
class Loader {
 public:
  Loader(const ModelConfig& c, const WeightSource* src, std::optional<uint64_t> synthetic_seed,
         DeviceArena* arena)
      : src_(src), synthetic_seed_(synthetic_seed), plan_(PlanWeights(c)), arena_(arena) {
    for (const PlannedTensor& t : plan_.tensors) by_name_[t.name] = &t;
  }
  bool synthetic() const { return synthetic_seed_.has_value(); }

  absl::StatusOr<const PlannedTensor*> Planned(const std::string& name) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return absl::InternalError(absl::StrCat("unplanned tensor ", name));
    return it->second;
  }

  // A BF16 tensor as is, or an F32 one (router bias) as f32.
  absl::StatusOr<uint16_t*> Bf16(const std::string& name) const {
    ASSIGN_OR_RETURN(const PlannedTensor* t, Planned(name));
    if (t->dtype != DType::kBF16) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", name, "': expected BF16, planned ", DTypeName(t->dtype)));
    }
    if (synthetic()) {
      ASSIGN_OR_RETURN(uint16_t * p, arena_->AllocArray<uint16_t>(Elements(*t)));
      RETURN_IF_ERROR(Fill(*t, p, kernels::FillDtype::kBf16, Rows(*t), Cols(*t), Cols(*t)));
      return p;
    }
    ASSIGN_OR_RETURN(TensorBytes b, src_->Fetch(*t));
    ASSIGN_OR_RETURN(void* p, arena_->Upload(b.data, b.size));
    return static_cast<uint16_t*>(p);
  }
  absl::StatusOr<float*> F32(const std::string& name) const {
    ASSIGN_OR_RETURN(const PlannedTensor* t, Planned(name));
    if (t->dtype != DType::kF32) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", name, "': expected F32, planned ", DTypeName(t->dtype)));
    }
    if (synthetic()) {
      ASSIGN_OR_RETURN(float* p, arena_->AllocArray<float>(Elements(*t)));
      RETURN_IF_ERROR(Fill(*t, p, kernels::FillDtype::kF32, Rows(*t), Cols(*t), Cols(*t)));
      return p;
    }
    ASSIGN_OR_RETURN(TensorBytes b, src_->Fetch(*t));
    ASSIGN_OR_RETURN(void* p, arena_->Upload(b.data, b.size));
    return static_cast<float*>(p);
  }

  // Copies FP8 weight `name` ([rows][k]) into matrix `index` of `dst` starting at output row
  // `row0` (a multiple of 128), with its block scales.
  absl::Status PutFp8(const std::string& name, HostFp8* dst, int64_t index, int64_t row0) const {
    ASSIGN_OR_RETURN(const PlannedTensor* t, Planned(name));
    if (!t->quantized_linear) {
      return absl::UnimplementedError(
          absl::StrCat("tensor '", name, "': the CUDA backend needs FP8 linear weights"));
    }
    const int64_t rows = t->shape[0], k = t->shape[1];
    if (k != dst->shape.k || row0 + rows > dst->shape.n || row0 % 128 != 0) {
      return absl::InternalError(absl::StrCat("tensor '", name, "': does not fit its stack"));
    }
    ASSIGN_OR_RETURN(TensorBytes q, src_->Fetch(*t));
    ASSIGN_OR_RETURN(const PlannedTensor* st, Planned(ScaleName(name)));
    ASSIGN_OR_RETURN(TensorBytes s, src_->Fetch(*st));
    const int64_t kp = dst->shape.k_pad;
    uint8_t* w = dst->w.data() + index * dst->shape.n * kp;
    for (int64_t r = 0; r < rows; ++r) std::memcpy(w + (row0 + r) * kp, q.data + r * k, k);
    const int64_t sr = st->shape[0], sc = st->shape[1];
    float* scale = dst->scale.data() + index * dst->scale_rows() * dst->shape.scale_ld;
    for (int64_t i = 0; i < sr; ++i) {
      for (int64_t j = 0; j < sc; ++j) {
        float v;
        std::memcpy(&v, s.data + (i * sc + j) * 4, 4);
        if (!std::isfinite(v)) {
          return absl::InvalidArgumentError(absl::StrCat(s.origin, ": tensor '", ScaleName(name),
                                                         "': non-finite scale at index ",
                                                         i * sc + j));
        }
        scale[(row0 / 128 + i) * dst->shape.scale_ld + j] = v;
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<DeviceFp8Linear> Upload(HostFp8& h, DeviceArena* arena = nullptr) const {
    if (arena == nullptr) arena = arena_;
    DeviceFp8Linear d = h.shape;
    ASSIGN_OR_RETURN(d.w, arena->UploadVector(h.w));
    ASSIGN_OR_RETURN(d.scale, arena->UploadVector(h.scale));
    h.w = {};
    h.scale = {};
    return d;
  }

  absl::StatusOr<DeviceFp8Linear> Linear(const std::string& name) const {
    ASSIGN_OR_RETURN(const PlannedTensor* t, Planned(name));
    if (synthetic()) {
      ASSIGN_OR_RETURN(DeviceFp8Linear d, AllocFp8(t->shape[0], t->shape[1], 1));
      RETURN_IF_ERROR(FillFp8(name, d, 0, 0));
      return d;
    }
    HostFp8 h(t->shape[0], t->shape[1], 1);
    RETURN_IF_ERROR(PutFp8(name, &h, 0, 0));
    return Upload(h);
  }

  // INT4 copy of a stacked FP8 linear, converted on the device.
  absl::StatusOr<DeviceInt4Linear> ToInt4(const DeviceFp8Linear& f) const {
    DeviceInt4Linear q;
    q.n = f.n;
    q.k_pad = f.k_pad;
    q.count = f.count;
    ASSIGN_OR_RETURN(q.w, arena_->AllocArray<uint8_t>(f.count * f.n * f.k_pad / 2));
    ASSIGN_OR_RETURN(q.scale, arena_->AllocArray<uint16_t>(f.count * (f.k_pad / 128) * f.n));
    const int64_t scale_rows = (f.n + 127) / 128;
    for (int64_t e = 0; e < f.count; ++e) {
      kernels::Int4FromFp8Params p;
      p.w = f.w + e * f.n * f.k_pad;
      p.w_scale = f.scale + e * scale_rows * f.scale_ld;
      p.w_scale_ld = f.scale_ld;
      p.out = q.w + e * f.n * f.k_pad / 2;
      p.out_scale = q.scale + e * (f.k_pad / 128) * f.n;
      p.n = f.n;
      p.k = f.k_pad;
      RETURN_IF_ERROR(kernels::LaunchInt4FromFp8(p, nullptr));
    }
    if (cudaError_t err = cudaDeviceSynchronize(); err != cudaSuccess) {
      return absl::InternalError(absl::StrCat("INT4 conversion: ", cudaGetErrorString(err)));
    }
    return q;
  }

  // One FFN, or `prefixes.size()` stacked ones (routed experts), of width `inter`; with `int4`
  // only the INT4 conversion is kept (the FP8 stack lives in a scratch arena meanwhile).
  absl::StatusOr<DeviceFfn> Ffn(const std::vector<std::string>& prefixes, int64_t inter,
                                int64_t hidden, bool int4 = false) const {
    DeviceFfn f;
    f.inter = inter;
    f.inter_pad = RoundUp128(inter);
    const int64_t count = static_cast<int64_t>(prefixes.size());
    if (count == 0) {  // a rank holding no expert of this layer
      f.int4 = int4;
      return f;
    }
    if (synthetic()) {
      DeviceArena staging;
      DeviceArena* arena = int4 ? &staging : arena_;
      ASSIGN_OR_RETURN(DeviceFp8Linear gu, AllocFp8(2 * f.inter_pad, hidden, count, arena));
      ASSIGN_OR_RETURN(DeviceFp8Linear down, AllocFp8(hidden, inter, count, arena));
      for (int64_t e = 0; e < count; ++e) {
        RETURN_IF_ERROR(FillFp8(prefixes[e] + "gate_proj.weight", gu, e, 0));
        RETURN_IF_ERROR(FillFp8(prefixes[e] + "up_proj.weight", gu, e, f.inter_pad));
        RETURN_IF_ERROR(FillFp8(prefixes[e] + "down_proj.weight", down, e, 0));
      }
      if (!int4) {
        f.gate_up = gu;
        f.down = down;
        return f;
      }
      f.int4 = true;
      ASSIGN_OR_RETURN(f.gate_up4, ToInt4(gu));
      ASSIGN_OR_RETURN(f.down4, ToInt4(down));
      return f;
    }
    HostFp8 gu(2 * f.inter_pad, hidden, count), down(hidden, inter, count);
    for (int64_t e = 0; e < count; ++e) {
      RETURN_IF_ERROR(PutFp8(prefixes[e] + "gate_proj.weight", &gu, e, 0));
      RETURN_IF_ERROR(PutFp8(prefixes[e] + "up_proj.weight", &gu, e, f.inter_pad));
      RETURN_IF_ERROR(PutFp8(prefixes[e] + "down_proj.weight", &down, e, 0));
    }
    if (!int4) {
      ASSIGN_OR_RETURN(f.gate_up, Upload(gu));
      ASSIGN_OR_RETURN(f.down, Upload(down));
      return f;
    }
    DeviceArena staging;
    f.int4 = true;
    ASSIGN_OR_RETURN(DeviceFp8Linear gu8, Upload(gu, &staging));
    ASSIGN_OR_RETURN(f.gate_up4, ToInt4(gu8));
    ASSIGN_OR_RETURN(DeviceFp8Linear down8, Upload(down, &staging));
    ASSIGN_OR_RETURN(f.down4, ToInt4(down8));
    return f;
  }

  // kv_b_proj dequantised (spec §3.3: W = e4m3(Q) · S per 128×128 block) to bf16.
  absl::StatusOr<uint16_t*> DequantBf16(const std::string& name) const {
    ASSIGN_OR_RETURN(const PlannedTensor* t, Planned(name));
    const int64_t rows = t->shape[0], k = t->shape[1];
    if (synthetic()) {  // already "dequantised": bf16 values of the weights' distribution
      ASSIGN_OR_RETURN(uint16_t * p, arena_->AllocArray<uint16_t>(rows * k));
      RETURN_IF_ERROR(Fill(*t, p, kernels::FillDtype::kBf16, rows, k, k));
      return p;
    }
    HostFp8 h(rows, k, 1);
    RETURN_IF_ERROR(PutFp8(name, &h, 0, 0));
    std::vector<uint16_t> out(rows * k);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < k; ++j) {
        const float s = h.scale[(r / 128) * h.shape.scale_ld + j / 128];
        out[r * k + j] = FloatToBf16(Fp8E4m3ToFloat(h.w[r * h.shape.k_pad + j]) * s);
      }
    }
    return arena_->UploadVector(out);
  }

 private:
  static int64_t Elements(const PlannedTensor& t) {
    int64_t n = 1;
    for (int64_t v : t.shape) n *= v;
    return n;
  }
  static int64_t Rows(const PlannedTensor& t) { return t.shape.empty() ? 1 : t.shape[0]; }
  static int64_t Cols(const PlannedTensor& t) {
    return Elements(t) / std::max<int64_t>(Rows(t), 1);
  }

  // A stack of `count` FP8 linears [n][k] (zero-filled: pads stay zero).
  absl::StatusOr<DeviceFp8Linear> AllocFp8(int64_t n, int64_t k, int64_t count,
                                           DeviceArena* arena = nullptr) const {
    if (arena == nullptr) arena = arena_;
    DeviceFp8Linear d;
    d.n = n;
    d.k = k;
    d.k_pad = RoundUp128(k);
    d.scale_ld = kernels::Fp8GemmWeightScaleLd(d.k_pad);
    d.count = count;
    ASSIGN_OR_RETURN(d.w, arena->AllocArray<uint8_t>(count * n * d.k_pad));
    ASSIGN_OR_RETURN(d.scale, arena->AllocArray<float>(count * ((n + 127) / 128) * d.scale_ld));
    return d;
  }

  // Synthetic values of a tensor: norm weights near 1, biases 0, other weights uniform with
  // unit-variance-preserving amplitude √(3 / fan-in) (so activations stay in range through 61
  // layers and the router spreads tokens over experts). Seeded by the tensor's name.
  absl::Status Fill(const PlannedTensor& t, void* out, kernels::FillDtype dtype, int64_t rows,
                    int64_t cols, int64_t ld) const {
    kernels::RandomFillParams p;
    p.out = out;
    p.dtype = dtype;
    p.rows = rows;
    p.cols = cols;
    p.ld = ld;
    p.seed = TensorSeed(t.name);
    if (absl::EndsWith(t.name, "norm.weight")) {
      p.amplitude = 0.1f;
      p.offset = 1.0f;
    } else if (absl::EndsWith(t.name, "e_score_correction_bias")) {
      p.amplitude = 0.0f;
    } else if (absl::StrContains(t.name, "embed_tokens")) {
      p.amplitude = 1.0f;
    } else {
      p.amplitude = static_cast<float>(std::sqrt(3.0 / static_cast<double>(Cols(t))));
    }
    return kernels::LaunchRandomFill(p, nullptr);
  }

  // Matrix `index` of stack `d`, output rows [row0, row0 + rows of `name`): e4m3 codes uniform
  // in ±240 and one block scale √3 / (240 √k), i.e. weights uniform in ±√(3/k).
  absl::Status FillFp8(const std::string& name, const DeviceFp8Linear& d, int64_t index,
                       int64_t row0) const {
    ASSIGN_OR_RETURN(const PlannedTensor* t, Planned(name));
    const int64_t rows = t->shape[0], k = t->shape[1];
    if (k != d.k || row0 + rows > d.n || row0 % 128 != 0) {
      return absl::InternalError(absl::StrCat("tensor '", name, "': does not fit its stack"));
    }
    kernels::RandomFillParams w;
    w.out = d.w + (index * d.n + row0) * d.k_pad;
    w.dtype = kernels::FillDtype::kE4m3;
    w.rows = rows;
    w.cols = k;
    w.ld = d.k_pad;
    w.seed = TensorSeed(name);
    w.amplitude = 240.0f;
    RETURN_IF_ERROR(kernels::LaunchRandomFill(w, nullptr));
    const int64_t scale_rows = (d.n + 127) / 128;
    kernels::RandomFillParams sc;
    sc.out = d.scale + (index * scale_rows + row0 / 128) * d.scale_ld;
    sc.dtype = kernels::FillDtype::kF32;
    sc.rows = (rows + 127) / 128;
    sc.cols = (k + 127) / 128;
    sc.ld = d.scale_ld;
    sc.amplitude = 0.0f;
    sc.offset = static_cast<float>(std::sqrt(3.0) / (240.0 * std::sqrt(static_cast<double>(k))));
    return kernels::LaunchRandomFill(sc, nullptr);
  }

  uint64_t TensorSeed(const std::string& name) const {
    uint64_t h = 1469598103934665603ull ^ *synthetic_seed_;  // FNV-1a over the name
    for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
    return h;
  }

  const WeightSource* src_;  // null in the synthetic mode
  std::optional<uint64_t> synthetic_seed_;
  WeightPlan plan_;
  DeviceArena* arena_;
  std::unordered_map<std::string, const PlannedTensor*> by_name_;
};

}  // namespace

namespace {

// Decoder layer `i` (a main layer, or the MTP module's at num_hidden_layers): attention, and a
// dense FFN or the MoE with the routed experts options.want_expert selects.
absl::Status LoadLayer(const Loader& ld, const ModelConfig& c, int i,
                       const CudaLoadOptions& options, DeviceLayer* out) {
  DeviceLayer& L = *out;
  const int64_t d = c.hidden_size;
  const std::string p = LayerPrefix(i);
  ASSIGN_OR_RETURN(L.input_norm, ld.Bf16(p + "input_layernorm.weight"));
  ASSIGN_OR_RETURN(L.post_attention_norm, ld.Bf16(p + "post_attention_layernorm.weight"));
  ASSIGN_OR_RETURN(L.q_a_norm, ld.Bf16(p + "self_attn.q_a_layernorm.weight"));
  ASSIGN_OR_RETURN(L.kv_a_norm, ld.Bf16(p + "self_attn.kv_a_layernorm.weight"));
  ASSIGN_OR_RETURN(L.q_a, ld.Linear(p + "self_attn.q_a_proj.weight"));
  ASSIGN_OR_RETURN(L.q_b, ld.Linear(p + "self_attn.q_b_proj.weight"));
  ASSIGN_OR_RETURN(L.kv_a, ld.Linear(p + "self_attn.kv_a_proj_with_mqa.weight"));
  ASSIGN_OR_RETURN(L.kv_b_bf16, ld.DequantBf16(p + "self_attn.kv_b_proj.weight"));
  ASSIGN_OR_RETURN(L.o, ld.Linear(p + "self_attn.o_proj.weight"));
  L.moe = c.is_moe_layer(i);
  if (!L.moe) {
    ASSIGN_OR_RETURN(L.dense, ld.Ffn({p + "mlp."}, c.intermediate_size, d));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(L.router, ld.Bf16(p + "mlp.gate.weight"));
  ASSIGN_OR_RETURN(L.router_bias, ld.F32(p + "mlp.gate.e_score_correction_bias"));
  std::vector<std::string> experts;
  for (int e = 0; e < c.n_routed_experts; ++e) {
    if (options.want_expert && !options.want_expert(i, e)) continue;
    L.held_experts.push_back(e);
    experts.push_back(absl::StrCat(p, "mlp.experts.", e, "."));
  }
  ASSIGN_OR_RETURN(L.experts, ld.Ffn(experts, c.moe_intermediate_size, d, options.int4_experts));
  if (c.n_shared_experts > 0) {
    L.has_shared = true;
    ASSIGN_OR_RETURN(L.shared, ld.Ffn({p + "mlp.shared_experts."}, c.shared_expert_width(), d));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CudaWeights>> BuildCudaWeights(
    const ModelConfig& c, const WeightSource* source, std::optional<uint64_t> synthetic_seed,
    const CudaLoadOptions& options) {
  if (!c.is_fp8()) {
    return absl::UnimplementedError("CUDA backend: only FP8 block-quantised checkpoints");
  }
  if (c.hidden_size % 128 != 0 || c.q_lora_rank % 128 != 0) {
    return absl::UnimplementedError(absl::StrCat("CUDA backend: hidden_size (", c.hidden_size,
                                                 ") and q_lora_rank (", c.q_lora_rank,
                                                 ") must be multiples of 128"));
  }
  if (c.kv_lora_rank % 8 != 0 || c.qk_rope_head_dim % 8 != 0) {
    return absl::UnimplementedError(
        "CUDA backend: kv_lora_rank and qk_rope_head_dim must be multiples of 8");
  }
  auto m = std::make_unique<CudaWeights>();
  m->config = c;
  Loader ld(c, source, synthetic_seed, &m->arena);
  ASSIGN_OR_RETURN(m->embed, ld.Bf16("model.embed_tokens.weight"));
  ASSIGN_OR_RETURN(m->final_norm, ld.Bf16("model.norm.weight"));
  ASSIGN_OR_RETURN(m->lm_head, ld.Bf16("lm_head.weight"));
  m->layers.resize(c.num_hidden_layers);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    RETURN_IF_ERROR(LoadLayer(ld, c, i, options, &m->layers[i]));
  }
  if (options.load_mtp) {
    if (c.num_nextn_predict_layers < 1) {
      return absl::InvalidArgumentError("load_mtp: the config has no MTP layer");
    }
    // The first MTP module; the checkpoint's copies of the embedding and lm_head are not loaded.
    const int i = static_cast<int>(c.num_hidden_layers);
    const MtpTensorNames names = MtpNames(i);
    DeviceMtp& mtp = m->mtp.emplace_back();
    ASSIGN_OR_RETURN(mtp.enorm, ld.Bf16(names.enorm));
    ASSIGN_OR_RETURN(mtp.hnorm, ld.Bf16(names.hnorm));
    ASSIGN_OR_RETURN(mtp.head_norm, ld.Bf16(names.head_norm));
    ASSIGN_OR_RETURN(mtp.eh_proj, ld.Bf16(names.eh_proj));
    RETURN_IF_ERROR(LoadLayer(ld, c, i, options, &mtp.layer));
  }
  return m;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CudaWeights>> LoadCudaWeights(const ModelConfig& config,
                                                             const WeightSource& source,
                                                             const CudaLoadOptions& options) {
  return BuildCudaWeights(config, &source, std::nullopt, options);
}

absl::StatusOr<std::unique_ptr<CudaWeights>> SynthesizeCudaWeights(const ModelConfig& config,
                                                                   uint64_t seed,
                                                                   const CudaLoadOptions& options) {
  ASSIGN_OR_RETURN(auto weights, BuildCudaWeights(config, nullptr, seed, options));
  if (cudaError_t err = cudaDeviceSynchronize(); err != cudaSuccess) {
    return absl::InternalError(absl::StrCat("synthetic weights: ", cudaGetErrorString(err)));
  }
  return weights;
}

}  // namespace r1
