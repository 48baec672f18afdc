#include "worker/model/cpu_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/model/cpu_ops.h"

namespace r1 {
namespace {

// MLA dimensions: heads, no-RoPE q/k, RoPE q/k, value, latent, and q/k head size.
struct MlaDims {
  int64_t heads, nope, rope, v, latent, qk;
  static MlaDims Of(const ModelConfig& c) {
    return {c.num_attention_heads, c.qk_nope_head_dim, c.qk_rope_head_dim,
            c.v_head_dim,          c.kv_lora_rank,     c.qk_head_dim()};
  }
};

}  // namespace

absl::Status ValidateForwardItems(const std::vector<ForwardItem>& items, const ModelConfig& c) {
  for (size_t i = 0; i < items.size(); ++i) {
    const ForwardItem& it = items[i];
    if (it.kv == nullptr || it.tokens.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("forward item ", i, ": empty"));
    }
    const int64_t end = it.start + static_cast<int64_t>(it.tokens.size());
    if (it.start != it.kv->length || end > it.kv->capacity() || end > c.max_position_embeddings) {
      return absl::InvalidArgumentError(absl::StrCat("forward item ", i, ": positions [", it.start,
                                                     ", ", end, ") do not follow the cached ",
                                                     it.kv->length, " or exceed capacity"));
    }
    for (int tok : it.tokens) {
      if (tok < 0 || tok >= c.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("forward item ", i, ": token id ", tok, " out of range"));
      }
    }
  }
  return absl::OkStatus();
}

CpuModel::CpuModel(std::shared_ptr<const ModelWeights> weights, ModelOptions options)
    : weights_(std::move(weights)),
      options_(options),
      rope_(weights_->config),
      softmax_scale_(static_cast<float>(SoftmaxScale(weights_->config))) {}

int CpuModel::row_size() const {
  return static_cast<int>(config().kv_lora_rank + config().qk_rope_head_dim);
}

void CpuModel::Linear(const LinearWeight& w, const float* x, int64_t m, float* y) const {
  if (options_.precision == Precision::kFp8Activations && w.fp8) {
    std::vector<float> xq(x, x + m * w.in);
    cpu::Fp8ActQuantDequant(xq.data(), m, w.in);
    cpu::MatMulNT(xq.data(), w.w.data(), y, m, w.out, w.in);
    cpu::RoundBf16(y, m * w.out);
    return;
  }
  cpu::MatMulNT(x, w.w.data(), y, m, w.out, w.in);
}

void CpuModel::Ffn(const FfnWeights& f, const float* x, int64_t m, float* y) const {
  std::vector<float> g(m * f.gate.out), u(m * f.up.out);
  Linear(f.gate, x, m, g.data());
  Linear(f.up, x, m, u.data());
  cpu::SiluMul(g.data(), u.data(), m * f.gate.out);
  Linear(f.down, g.data(), m, y);
}

absl::Status CpuModel::Moe(int layer, const float* h, int64_t n, float* out) const {
  const ModelConfig& c = config();
  const LayerWeights& L = LayerAt(layer);
  const int64_t d = c.hidden_size, e = c.n_routed_experts;
  std::vector<float> logits(n * e);
  cpu::MatMulNT(h, L.router.data(), logits.data(), n, e, d);  // router in fp32 (spec §7)
  GatingParams gp{static_cast<int>(e),
                  static_cast<int>(c.n_group),
                  static_cast<int>(c.topk_group),
                  static_cast<int>(c.num_experts_per_tok),
                  c.norm_topk_prob,
                  static_cast<float>(c.routed_scaling_factor)};
  std::vector<ExpertChoice> choices(n);
  for (int64_t t = 0; t < n; ++t)
    choices[t] = NoauxTcGate(&logits[t * e], L.router_bias.data(), gp);
  if (routing_hook_) routing_hook_(layer, logits.data(), n, &choices);
  std::vector<std::vector<std::pair<int64_t, float>>> by_expert(e);
  for (int64_t t = 0; t < n; ++t) {
    for (size_t j = 0; j < choices[t].experts.size(); ++j) {
      by_expert[choices[t].experts[j]].push_back({t, choices[t].weights[j]});
    }
  }

  if (c.n_shared_experts > 0) {
    Ffn(L.shared, h, n, out);
  } else {
    std::fill(out, out + n * d, 0.0f);
  }
  if (options_.expert_executor != nullptr) {
    auto ffn = [&](int x, const float* in, int64_t m, float* y) -> absl::Status {
      if (x < 0 || x >= e || L.experts[x].gate.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("layer ", layer, ": routed expert ", x, " is not loaded here"));
      }
      Ffn(L.experts[x], in, m, y);
      return absl::OkStatus();
    };
    return options_.expert_executor->Run(layer, h, n, choices, ffn, out);
  }
  std::vector<float> xs, ys;
  for (int64_t x = 0; x < e; ++x) {
    const auto& rows = by_expert[x];
    if (rows.empty()) continue;
    const int64_t m = static_cast<int64_t>(rows.size());
    xs.resize(m * d);
    ys.resize(m * d);
    for (int64_t r = 0; r < m; ++r) std::memcpy(&xs[r * d], h + rows[r].first * d, d * 4);
    Ffn(L.experts[x], xs.data(), m, ys.data());
    for (int64_t r = 0; r < m; ++r) {
      float* o = out + rows[r].first * d;
      const float w = rows[r].second;
      for (int64_t i = 0; i < d; ++i) o[i] += w * ys[r * d + i];
    }
  }
  return absl::OkStatus();
}

void CpuModel::AttendNaive(int layer, const ForwardItem& item, const float* q,
                           const PagedKvCache& cache, float* o) const {
  const LayerWeights& L = LayerAt(layer);
  const auto [H, dn, dr, dv, dc, dqk] = MlaDims::Of(config());
  const int64_t T = static_cast<int64_t>(item.tokens.size());
  const int64_t S = item.start + T;
  std::vector<float> ckv(S * dc), kr(S * dr);
  for (int64_t s = 0; s < S; ++s) {
    const float* row = cache.Row(layer, *item.kv, s);
    std::memcpy(&ckv[s * dc], row, dc * 4);
    std::memcpy(&kr[s * dr], row + dc, dr * 4);
  }
  std::vector<float> kv(S * H * (dn + dv));  // per position, per head: k_nope then v
  Linear(L.kv_b, ckv.data(), S, kv.data());
  std::vector<float> p(S);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t visible = item.start + t + 1;
    for (int64_t h = 0; h < H; ++h) {
      const float* qn = q + t * H * dqk + h * dqk;
      const float* qr = qn + dn;
      for (int64_t s = 0; s < visible; ++s) {
        const float* kn = &kv[(s * H + h) * (dn + dv)];
        float dot = 0.0f;
        for (int64_t j = 0; j < dn; ++j) dot += qn[j] * kn[j];
        for (int64_t j = 0; j < dr; ++j) dot += qr[j] * kr[s * dr + j];
        p[s] = dot * softmax_scale_;
      }
      cpu::Softmax(p.data(), visible);
      float* oh = o + t * H * dv + h * dv;
      std::fill(oh, oh + dv, 0.0f);
      for (int64_t s = 0; s < visible; ++s) {
        const float* v = &kv[(s * H + h) * (dn + dv) + dn];
        for (int64_t j = 0; j < dv; ++j) oh[j] += p[s] * v[j];
      }
    }
  }
}

void CpuModel::AttendAbsorbed(int layer, const ForwardItem& item, const float* q,
                              const PagedKvCache& cache, float* o) const {
  const LayerWeights& L = LayerAt(layer);
  const auto [H, dn, dr, dv, dc, dqk] = MlaDims::Of(config());
  const int64_t T = static_cast<int64_t>(item.tokens.size());
  std::vector<float> qt(dc), acc(dc), p(item.start + T);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t visible = item.start + t + 1;
    for (int64_t h = 0; h < H; ++h) {
      const float* w_uk = &L.kv_b.w[(h * (dn + dv)) * dc];       // [dn][dc]
      const float* w_uv = &L.kv_b.w[(h * (dn + dv) + dn) * dc];  // [dv][dc]
      const float* qn = q + t * H * dqk + h * dqk;
      const float* qr = qn + dn;
      std::fill(qt.begin(), qt.end(), 0.0f);
      for (int64_t j = 0; j < dn; ++j) {
        for (int64_t x = 0; x < dc; ++x) qt[x] += qn[j] * w_uk[j * dc + x];
      }
      for (int64_t s = 0; s < visible; ++s) {
        const float* row = cache.Row(layer, *item.kv, s);
        float dot = 0.0f;
        for (int64_t x = 0; x < dc; ++x) dot += qt[x] * row[x];
        for (int64_t j = 0; j < dr; ++j) dot += qr[j] * row[dc + j];
        p[s] = dot * softmax_scale_;
      }
      cpu::Softmax(p.data(), visible);
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t s = 0; s < visible; ++s) {
        const float* row = cache.Row(layer, *item.kv, s);
        for (int64_t x = 0; x < dc; ++x) acc[x] += p[s] * row[x];
      }
      float* oh = o + t * H * dv + h * dv;
      for (int64_t j = 0; j < dv; ++j) {
        float v = 0.0f;
        for (int64_t x = 0; x < dc; ++x) v += w_uv[j * dc + x] * acc[x];
        oh[j] = v;
      }
    }
  }
}

void CpuModel::Attention(int layer, const float* h, const std::vector<ForwardItem>& items,
                         const std::vector<TokenRef>& refs, PagedKvCache& cache, float* out) const {
  const ModelConfig& c = config();
  const LayerWeights& L = LayerAt(layer);
  const int64_t n = static_cast<int64_t>(refs.size());
  const auto [H, dn, dr, dv, dc, dqk] = MlaDims::Of(c);
  const float eps = static_cast<float>(c.rms_norm_eps);

  std::vector<float> qa(n * c.q_lora_rank), q(n * H * dqk), kva(n * (dc + dr));
  Linear(L.q_a, h, n, qa.data());
  cpu::RmsNorm(qa.data(), L.q_a_norm.data(), qa.data(), n, c.q_lora_rank, eps);
  Linear(L.q_b, qa.data(), n, q.data());
  Linear(L.kv_a, h, n, kva.data());
  std::vector<float> row(dc + dr);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t hh = 0; hh < H; ++hh) rope_.Apply(&q[t * H * dqk + hh * dqk + dn], refs[t].pos);
    cpu::RmsNorm(&kva[t * (dc + dr)], L.kv_a_norm.data(), row.data(), 1, dc, eps);
    std::memcpy(&row[dc], &kva[t * (dc + dr) + dc], dr * 4);
    rope_.Apply(&row[dc], refs[t].pos);
    cache.Write(layer, *items[refs[t].item].kv, refs[t].pos, row.data());
  }
  std::vector<float> attn(n * H * dv);
  int64_t offset = 0;
  for (const ForwardItem& item : items) {
    const int64_t T = static_cast<int64_t>(item.tokens.size());
    bool absorbed =
        options_.attention == AttentionForm::kAbsorbed ||
        (options_.attention == AttentionForm::kAuto && (T == 1 || item.decode_attention));
    if (absorbed) {
      AttendAbsorbed(layer, item, &q[offset * H * dqk], cache, &attn[offset * H * dv]);
    } else {
      AttendNaive(layer, item, &q[offset * H * dqk], cache, &attn[offset * H * dv]);
    }
    offset += T;
  }
  Linear(L.o, attn.data(), n, out);
}

absl::Status CpuModel::DecoderLayer(int layer, const std::vector<ForwardItem>& items,
                                    const std::vector<TokenRef>& refs, PagedKvCache& cache,
                                    float* x) const {
  const ModelConfig& c = config();
  const LayerWeights& L = LayerAt(layer);
  const int64_t n = static_cast<int64_t>(refs.size()), d = c.hidden_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  std::vector<float> h(n * d), y(n * d);
  cpu::RmsNorm(x, L.input_norm.data(), h.data(), n, d, eps);
  Attention(layer, h.data(), items, refs, cache, y.data());
  for (int64_t i = 0; i < n * d; ++i) x[i] += y[i];
  cpu::RmsNorm(x, L.post_attention_norm.data(), h.data(), n, d, eps);
  if (L.moe) {
    RETURN_IF_ERROR(Moe(layer, h.data(), n, y.data()));
  } else {
    Ffn(L.dense, h.data(), n, y.data());
  }
  for (int64_t i = 0; i < n * d; ++i) x[i] += y[i];
  return absl::OkStatus();
}

absl::Status CpuModel::Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                               std::vector<std::vector<float>>* logits) {
  const ModelConfig& c = config();
  const int64_t d = c.hidden_size, V = c.vocab_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  RETURN_IF_ERROR(ValidateForwardItems(items, c));
  std::vector<TokenRef> refs;
  for (size_t i = 0; i < items.size(); ++i) {
    for (size_t t = 0; t < items[i].tokens.size(); ++t) {
      refs.push_back({static_cast<int>(i), items[i].start + static_cast<int64_t>(t)});
    }
  }
  const int64_t n = static_cast<int64_t>(refs.size());
  std::vector<float> x(n * d);
  for (int64_t t = 0; t < n; ++t) {
    const int tok = items[refs[t].item].tokens[refs[t].pos - items[refs[t].item].start];
    std::memcpy(&x[t * d], &weights_->embed[static_cast<int64_t>(tok) * d], d * 4);
  }
  for (int layer = 0; layer < c.num_hidden_layers; ++layer) {
    RETURN_IF_ERROR(DecoderLayer(layer, items, refs, cache, x.data()));
  }
  for (ForwardItem& it : items) it.kv->length = it.start + static_cast<int64_t>(it.tokens.size());

  CpuHeadLogits(items, x.data(), d, weights_->final_norm.data(), eps, weights_->lm_head.w.data(), V,
                mtp_layers() > 0, logits);
  return absl::OkStatus();
}

}  // namespace r1
