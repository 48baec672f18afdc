#include "worker/backend/dense_cuda_weights.h"

#include <cuda_runtime.h>

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/numeric.h"
#include "common/status_macros.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/random_fill/random_fill_cuda.h"
#include "worker/model/dense_tensor_reader.h"
#include "worker/model/dense_weight_plan.h"

namespace r1 {
namespace {

using kernels::internal::CudaStatus;

// Fetches planned tensors by name as bf16 (BF16 as stored, F32 rounded to nearest even).
class Bf16Reader {
 public:
  Bf16Reader(const DenseModelConfig& c, const Checkpoint& ck) : reader_(c, ck) {}

  // Appends the tensor's values to `out`, each row of `cols` values followed by `pad` zeros.
  absl::Status Append(const std::string& name, int64_t pad, std::vector<uint16_t>* out) const {
    ASSIGN_OR_RETURN(DenseTensorReader::Checked checked, reader_.Get(name));
    const DenseTensor& t = *checked.planned;
    const TensorView& v = checked.view;
    const int64_t cols = t.shape.back();
    const int64_t rows = static_cast<int64_t>(t.numel()) / cols;
    const size_t at = out->size();
    out->resize(at + rows * (cols + pad), 0);
    uint16_t* dst = out->data() + at;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const uint64_t i = r * cols + c;
        uint16_t h;
        if (v.dtype() == DType::kBF16) {
          std::memcpy(&h, v.data + 2 * i, 2);
        } else {
          float f;
          std::memcpy(&f, v.data + 4 * i, 4);
          h = FloatToBf16(f);
        }
        dst[r * (cols + pad) + c] = h;
      }
    }
    return absl::OkStatus();
  }

  // A bias vector into column `col` of the rows [row0, row0 + n) of a [..][ld] matrix.
  absl::Status BiasColumn(const std::string& name, int64_t row0, int64_t col, int64_t ld,
                          std::vector<uint16_t>* m) const {
    std::vector<uint16_t> b;
    RETURN_IF_ERROR(Append(name, 0, &b));
    for (size_t i = 0; i < b.size(); ++i) (*m)[(row0 + i) * ld + col] = b[i];
    return absl::OkStatus();
  }

 private:
  DenseTensorReader reader_;
};

void SetWidths(DenseCudaWeights* w) {
  const DenseModelConfig& c = w->config;
  w->qkv_k = c.hidden_size + (c.qkv_bias ? kDenseBiasColumns : 0);
  w->o_k = c.q_width() + (c.o_bias ? kDenseBiasColumns : 0);
  w->layers.assign(c.num_hidden_layers, {});
}

absl::StatusOr<const uint16_t*> Put(DeviceArena& arena, const std::vector<uint16_t>& v) {
  ASSIGN_OR_RETURN(uint16_t * p, arena.UploadVector(v));
  return p;
}

}  // namespace

int64_t DenseCudaWeights::StepWeightBytes() const {
  const DenseModelConfig& c = config;
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  const int64_t qkv_rows = c.q_width() + 2 * c.kv_width();
  const int64_t per_layer = qkv_rows * qkv_k + d * o_k + 3 * d * f + 2 * d;
  return 2 * (c.num_hidden_layers * per_layer + c.vocab_size * d + d);
}

absl::Status CheckDenseCudaShapes(const DenseModelConfig& c) {
  const int64_t hd = c.head_dim;
  if (hd != 16 && hd != 32 && hd != 64 && hd != 128 && hd != 256) {
    return absl::UnimplementedError(absl::StrCat(
        "dense CUDA model: head_dim ", hd, " (the GPU attention has 16, 32, 64, 128 and 256)"));
  }
  if (c.hidden_size % 8 != 0 || c.intermediate_size % 8 != 0 || c.q_width() % 8 != 0 ||
      c.kv_width() % 8 != 0) {
    return absl::UnimplementedError(absl::StrCat("dense CUDA model: hidden ", c.hidden_size,
                                                 ", intermediate ", c.intermediate_size,
                                                 " and the q/kv widths must be multiples of 8"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DenseCudaWeights>> LoadDenseCudaWeights(
    const DenseModelConfig& c, const Checkpoint& checkpoint) {
  RETURN_IF_ERROR(CheckDenseCudaShapes(c));
  auto w = std::make_unique<DenseCudaWeights>();
  w->config = c;
  SetWidths(w.get());
  Bf16Reader rd(c, checkpoint);
  DeviceArena& a = w->arena;
  const int64_t d = c.hidden_size, qw = c.q_width(), kvw = c.kv_width();
  std::vector<uint16_t> buf;
  auto load = [&](const std::string& name) -> absl::StatusOr<const uint16_t*> {
    buf.clear();
    RETURN_IF_ERROR(rd.Append(name, 0, &buf));
    return Put(a, buf);
  };
  ASSIGN_OR_RETURN(w->embed, load("model.embed_tokens.weight"));
  ASSIGN_OR_RETURN(w->final_norm, load("model.norm.weight"));
  if (c.tie_word_embeddings) {
    w->lm_head = w->embed;
  } else {
    ASSIGN_OR_RETURN(w->lm_head, load("lm_head.weight"));
  }
  const int64_t qkv_pad = w->qkv_k - d, o_pad = w->o_k - qw;
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    DenseDeviceLayer& L = w->layers[i];
    const std::string p = LayerPrefix(i);
    ASSIGN_OR_RETURN(L.input_norm, load(p + "input_layernorm.weight"));
    ASSIGN_OR_RETURN(L.post_norm, load(p + "post_attention_layernorm.weight"));
    buf.clear();
    RETURN_IF_ERROR(rd.Append(p + "self_attn.q_proj.weight", qkv_pad, &buf));
    RETURN_IF_ERROR(rd.Append(p + "self_attn.k_proj.weight", qkv_pad, &buf));
    RETURN_IF_ERROR(rd.Append(p + "self_attn.v_proj.weight", qkv_pad, &buf));
    if (c.qkv_bias) {
      RETURN_IF_ERROR(rd.BiasColumn(p + "self_attn.q_proj.bias", 0, d, w->qkv_k, &buf));
      RETURN_IF_ERROR(rd.BiasColumn(p + "self_attn.k_proj.bias", qw, d, w->qkv_k, &buf));
      RETURN_IF_ERROR(rd.BiasColumn(p + "self_attn.v_proj.bias", qw + kvw, d, w->qkv_k, &buf));
    }
    ASSIGN_OR_RETURN(L.qkv, Put(a, buf));
    buf.clear();
    RETURN_IF_ERROR(rd.Append(p + "self_attn.o_proj.weight", o_pad, &buf));
    if (c.o_bias) {
      RETURN_IF_ERROR(rd.BiasColumn(p + "self_attn.o_proj.bias", 0, qw, w->o_k, &buf));
    }
    ASSIGN_OR_RETURN(L.o, Put(a, buf));
    buf.clear();
    RETURN_IF_ERROR(rd.Append(p + "mlp.gate_proj.weight", 0, &buf));
    RETURN_IF_ERROR(rd.Append(p + "mlp.up_proj.weight", 0, &buf));
    ASSIGN_OR_RETURN(L.gate_up, Put(a, buf));
    ASSIGN_OR_RETURN(L.down, load(p + "mlp.down_proj.weight"));
  }
  return w;
}

absl::StatusOr<std::unique_ptr<DenseCudaWeights>> SynthesizeDenseCudaWeights(
    const DenseModelConfig& c, uint64_t seed) {
  RETURN_IF_ERROR(CheckDenseCudaShapes(c));
  auto w = std::make_unique<DenseCudaWeights>();
  w->config = c;
  SetWidths(w.get());
  DeviceArena& a = w->arena;
  uint64_t next_seed = seed;
  // [rows][ld] bf16: columns [0, valid_cols) uniform in ±amplitude around `offset`, the rest 0.
  auto fill = [&](int64_t rows, int64_t ld, int64_t valid_cols, float amplitude,
                  float offset) -> absl::StatusOr<uint16_t*> {
    ASSIGN_OR_RETURN(uint16_t * p, a.AllocArray<uint16_t>(rows * ld));
    kernels::RandomFillParams rp;
    rp.out = p;
    rp.rows = rows;
    rp.cols = ld;
    rp.ld = ld;
    rp.valid_cols = valid_cols;
    rp.seed = next_seed++;
    rp.amplitude = amplitude;
    rp.offset = offset;
    RETURN_IF_ERROR(kernels::LaunchRandomFill(rp, nullptr));
    return p;
  };
  // Column `col` of a [rows][ld] matrix: biases of ±0.02.
  auto bias = [&](uint16_t* m, int64_t rows, int64_t col, int64_t ld) -> absl::Status {
    kernels::RandomFillParams rp;
    rp.out = m + col;
    rp.rows = rows;
    rp.cols = 1;
    rp.ld = ld;
    rp.seed = next_seed++;
    rp.amplitude = 0.02f;
    return kernels::LaunchRandomFill(rp, nullptr);
  };
  const int64_t d = c.hidden_size, f = c.intermediate_size, qw = c.q_width();
  const int64_t qkv_rows = qw + 2 * c.kv_width();
  const float in_d = 1.0f / std::sqrt(static_cast<float>(d));
  ASSIGN_OR_RETURN(uint16_t * embed, fill(c.vocab_size, d, d, 1.0f, 0.0f));
  w->embed = embed;
  ASSIGN_OR_RETURN(uint16_t * fnorm, fill(1, d, d, 0.0f, 1.0f));
  w->final_norm = fnorm;
  if (c.tie_word_embeddings) {
    w->lm_head = w->embed;
  } else {
    ASSIGN_OR_RETURN(uint16_t * head, fill(c.vocab_size, d, d, in_d, 0.0f));
    w->lm_head = head;
  }
  for (DenseDeviceLayer& L : w->layers) {
    ASSIGN_OR_RETURN(uint16_t * n1, fill(1, d, d, 0.0f, 1.0f));
    ASSIGN_OR_RETURN(uint16_t * n2, fill(1, d, d, 0.0f, 1.0f));
    ASSIGN_OR_RETURN(uint16_t * qkv, fill(qkv_rows, w->qkv_k, d, in_d, 0.0f));
    if (c.qkv_bias) RETURN_IF_ERROR(bias(qkv, qkv_rows, d, w->qkv_k));
    ASSIGN_OR_RETURN(uint16_t * o, fill(d, w->o_k, qw, 1.0f / std::sqrt(float(qw)), 0.0f));
    if (c.o_bias) RETURN_IF_ERROR(bias(o, d, qw, w->o_k));
    ASSIGN_OR_RETURN(uint16_t * gu, fill(2 * f, d, d, in_d, 0.0f));
    ASSIGN_OR_RETURN(uint16_t * down, fill(d, f, f, 1.0f / std::sqrt(float(f)), 0.0f));
    L = {n1, n2, qkv, o, gu, down};
  }
  RETURN_IF_ERROR(CudaStatus(cudaDeviceSynchronize(), "synthetic dense weights"));
  return w;
}

}  // namespace r1
