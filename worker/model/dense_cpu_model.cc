#include "worker/model/dense_cpu_model.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/model/cpu_model.h"  // ValidateForwardItems
#include "worker/model/cpu_ops.h"

namespace r1 {
namespace {

// y[m][out] = x[m][in] · Wᵀ (+ bias when non-empty).
void Linear(const LinearWeight& w, const std::vector<float>& bias, const float* x, int64_t m,
            float* y) {
  cpu::MatMulNT(x, w.w.data(), y, m, w.out, w.in);
  if (bias.empty()) return;
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t j = 0; j < w.out; ++j) y[r * w.out + j] += bias[j];
  }
}

}  // namespace

DenseCpuModel::DenseCpuModel(std::shared_ptr<const DenseWeights> weights)
    : weights_(std::move(weights)),
      engine_config_(weights_->config.ToModelConfig()),
      rope_(weights_->config),
      softmax_scale_(
          static_cast<float>(1.0 / std::sqrt(static_cast<double>(weights_->config.head_dim)))) {}

int DenseCpuModel::row_size() const { return static_cast<int>(dense_config().kv_row()); }

void DenseCpuModel::Attend(int layer, const ForwardItem& item, const float* q,
                           const PagedKvCache& cache, float* o) const {
  const DenseModelConfig& c = dense_config();
  const int64_t H = c.num_attention_heads, D = c.head_dim, group = c.group_size();
  const int64_t kvw = c.kv_width();
  const int64_t T = static_cast<int64_t>(item.tokens.size());
  const int64_t S = item.start + T;
  std::vector<const float*> rows(S);
  for (int64_t s = 0; s < S; ++s) rows[s] = cache.Row(layer, *item.kv, s);
  std::vector<float> p(S);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t visible = item.start + t + 1;
    for (int64_t h = 0; h < H; ++h) {
      const int64_t kh = h / group;
      const float* qh = q + (t * H + h) * D;
      for (int64_t s = 0; s < visible; ++s) {
        const float* k = rows[s] + kh * D;
        float dot = 0.0f;
        for (int64_t j = 0; j < D; ++j) dot += qh[j] * k[j];
        p[s] = dot * softmax_scale_;
      }
      cpu::Softmax(p.data(), visible);
      float* oh = o + (t * H + h) * D;
      std::fill(oh, oh + D, 0.0f);
      for (int64_t s = 0; s < visible; ++s) {
        const float* v = rows[s] + kvw + kh * D;
        for (int64_t j = 0; j < D; ++j) oh[j] += p[s] * v[j];
      }
    }
  }
}

void DenseCpuModel::Attention(int layer, const float* h, const std::vector<ForwardItem>& items,
                              const std::vector<TokenRef>& refs, PagedKvCache& cache,
                              float* out) const {
  const DenseModelConfig& c = dense_config();
  const DenseLayerWeights& L = weights_->layers[layer];
  const int64_t n = static_cast<int64_t>(refs.size());
  const int64_t H = c.num_attention_heads, KH = c.num_key_value_heads, D = c.head_dim;
  const int64_t qw = c.q_width(), kvw = c.kv_width();
  std::vector<float> q(n * qw), k(n * kvw), v(n * kvw);
  Linear(L.q, L.q_bias, h, n, q.data());
  Linear(L.k, L.k_bias, h, n, k.data());
  Linear(L.v, L.v_bias, h, n, v.data());
  std::vector<float> row(2 * kvw);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t hh = 0; hh < H; ++hh) rope_.Apply(&q[t * qw + hh * D], refs[t].pos);
    for (int64_t hh = 0; hh < KH; ++hh) rope_.Apply(&k[t * kvw + hh * D], refs[t].pos);
    std::memcpy(row.data(), &k[t * kvw], kvw * 4);
    std::memcpy(row.data() + kvw, &v[t * kvw], kvw * 4);
    cache.Write(layer, *items[refs[t].item].kv, refs[t].pos, row.data());
  }
  std::vector<float> attn(n * qw);
  int64_t offset = 0;
  for (const ForwardItem& item : items) {
    Attend(layer, item, &q[offset * qw], cache, &attn[offset * qw]);
    offset += static_cast<int64_t>(item.tokens.size());
  }
  Linear(L.o, L.o_bias, attn.data(), n, out);
}

absl::Status DenseCpuModel::Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                                    std::vector<std::vector<float>>* logits) {
  const DenseModelConfig& c = dense_config();
  const int64_t d = c.hidden_size, V = c.vocab_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  RETURN_IF_ERROR(ValidateForwardItems(items, engine_config_));
  if (cache.row_size() != row_size()) {
    return absl::InvalidArgumentError(absl::StrCat("KV cache rows hold ", cache.row_size(),
                                                   " values; this model needs ", row_size()));
  }
  std::vector<TokenRef> refs;
  for (size_t i = 0; i < items.size(); ++i) {
    for (size_t t = 0; t < items[i].tokens.size(); ++t) {
      refs.push_back({static_cast<int>(i), items[i].start + static_cast<int64_t>(t)});
    }
  }
  const int64_t n = static_cast<int64_t>(refs.size());
  std::vector<float> x(n * d), hn(n * d), y(n * d);
  for (int64_t t = 0; t < n; ++t) {
    const ForwardItem& it = items[refs[t].item];
    const int tok = it.tokens[refs[t].pos - it.start];
    std::memcpy(&x[t * d], &weights_->embed[static_cast<int64_t>(tok) * d], d * 4);
  }
  const int64_t f = c.intermediate_size;
  std::vector<float> gate(n * f), up(n * f);
  static const std::vector<float> kNoBias;
  for (int layer = 0; layer < c.num_hidden_layers; ++layer) {
    const DenseLayerWeights& L = weights_->layers[layer];
    cpu::RmsNorm(x.data(), L.input_norm.data(), hn.data(), n, d, eps);
    Attention(layer, hn.data(), items, refs, cache, y.data());
    for (int64_t i = 0; i < n * d; ++i) x[i] += y[i];
    cpu::RmsNorm(x.data(), L.post_attention_norm.data(), hn.data(), n, d, eps);
    Linear(L.mlp.gate, kNoBias, hn.data(), n, gate.data());
    Linear(L.mlp.up, kNoBias, hn.data(), n, up.data());
    cpu::SiluMul(gate.data(), up.data(), n * f);
    Linear(L.mlp.down, kNoBias, gate.data(), n, y.data());
    for (int64_t i = 0; i < n * d; ++i) x[i] += y[i];
  }
  for (ForwardItem& it : items) it.kv->length = it.start + static_cast<int64_t>(it.tokens.size());

  CpuHeadLogits(items, x.data(), d, weights_->final_norm.data(), eps, weights_->lm_head_rows(), V,
                /*fill_hidden=*/false, logits);
  return absl::OkStatus();
}

}  // namespace r1
