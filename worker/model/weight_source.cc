#include "worker/model/weight_source.h"

#include <cmath>
#include <cstring>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/numeric.h"
#include "common/status_macros.h"

namespace r1 {

absl::StatusOr<std::unique_ptr<CheckpointWeightSource>> CheckpointWeightSource::Open(
    const std::string& dir) {
  auto src = std::unique_ptr<CheckpointWeightSource>(new CheckpointWeightSource());
  ASSIGN_OR_RETURN(src->checkpoint_, Checkpoint::Open(dir));
  return src;
}

absl::StatusOr<TensorBytes> CheckpointWeightSource::Fetch(const PlannedTensor& t) const {
  ASSIGN_OR_RETURN(TensorView v, checkpoint_->GetChecked(t.name, t.dtype, t.shape));
  TensorBytes b;
  b.data = v.data;
  b.size = v.nbytes();
  b.origin = std::string(v.file);
  return b;
}

std::string CheckpointWeightSource::Describe() const {
  return absl::StrCat("checkpoint:", checkpoint_->dir());
}

namespace {

uint64_t Fnv1a(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool IsNormName(const std::string& name) { return absl::EndsWith(name, "norm.weight"); }

// Random floats for a tensor, in its logical shape.
std::vector<float> RandomValues(const PlannedTensor& t, uint64_t seed) {
  std::mt19937_64 rng(Fnv1a(t.name, seed));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const uint64_t n = t.bytes() / DTypeSize(t.dtype);
  std::vector<float> v(n);
  if (IsNormName(t.name)) {
    for (float& x : v) x = 1.0f + 0.1f * normal(rng);
  } else if (absl::EndsWith(t.name, "e_score_correction_bias")) {
    for (float& x : v) x = 0.05f * normal(rng);
  } else if (t.role == TensorRole::kEmbedding || absl::EndsWith(t.name, "embed_tokens.weight")) {
    for (float& x : v) x = normal(rng);
  } else {
    const float std = 1.0f / std::sqrt(static_cast<float>(t.shape.back()));
    for (float& x : v) x = std * normal(rng);
  }
  return v;
}

// Block-quantises an [out × in] matrix: returns e4m3 bytes and [⌈out/128⌉][⌈in/128⌉] scales.
void QuantizeBlocks(const std::vector<float>& w, int64_t out, int64_t in, std::string* q,
                    std::vector<float>* scales) {
  const int64_t br = (out + 127) / 128, bc = (in + 127) / 128;
  scales->assign(br * bc, 0.0f);
  for (int64_t i = 0; i < out; ++i) {
    for (int64_t j = 0; j < in; ++j) {
      float& s = (*scales)[(i / 128) * bc + j / 128];
      s = std::max(s, std::fabs(w[i * in + j]));
    }
  }
  for (float& s : *scales) s = std::max(s, 1e-12f) / 448.0f;
  q->resize(out * in);
  for (int64_t i = 0; i < out; ++i) {
    for (int64_t j = 0; j < in; ++j) {
      (*q)[i * in + j] =
          static_cast<char>(FloatToFp8E4m3(w[i * in + j] / (*scales)[(i / 128) * bc + j / 128]));
    }
  }
}

}  // namespace

std::shared_ptr<SyntheticWeightSource::Quantized> SyntheticWeightSource::QuantizedFor(
    const PlannedTensor& weight) const {
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, pair] : pending_) {
      if (name == weight.name) return pair;
    }
  }
  // Generated outside the lock (seconds for a large matrix); two threads asking for the same
  // weight at once both generate it, identically, and the first one kept serves later calls.
  auto pair = std::make_shared<Quantized>();
  QuantizeBlocks(RandomValues(weight, seed_), weight.shape[0], weight.shape[1], &pair->codes,
                 &pair->scales);
  absl::MutexLock lock(&mu_);
  for (const auto& [name, kept] : pending_) {
    if (name == weight.name) return kept;
  }
  pending_.emplace_back(weight.name, pair);
  if (pending_.size() > kMaxPending) pending_.pop_front();
  return pair;
}

absl::StatusOr<TensorBytes> SyntheticWeightSource::Fetch(const PlannedTensor& t) const {
  TensorBytes b;
  b.origin = "synthetic";
  if (t.quantized_linear || t.is_scale) {
    PlannedTensor weight = t;
    if (t.is_scale) {
      weight.name = t.name.substr(0, t.name.size() - std::string("_scale_inv").size());
      weight.shape = t.weight_shape;
      weight.dtype = DType::kF8E4M3;
    }
    if (weight.shape.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("synthetic: tensor '", t.name, "': FP8 weights must be 2-D"));
    }
    const std::shared_ptr<Quantized> pair = QuantizedFor(weight);
    {
      absl::MutexLock lock(&mu_);
      if (t.is_scale) {
        b.owned.assign(reinterpret_cast<const char*>(pair->scales.data()), pair->scales.size() * 4);
        pair->scales_served = true;
      } else {
        b.owned = pair->codes;
        pair->codes_served = true;
      }
      if (pair->codes_served && pair->scales_served) {
        for (auto it = pending_.begin(); it != pending_.end(); ++it) {
          if (it->second == pair) {
            pending_.erase(it);
            break;
          }
        }
      }
    }
    b.data = reinterpret_cast<const uint8_t*>(b.owned.data());
    b.size = b.owned.size();
    return b;
  }
  std::vector<float> v = RandomValues(t, seed_);
  switch (t.dtype) {
    case DType::kBF16: {
      b.owned.resize(v.size() * 2);
      for (size_t i = 0; i < v.size(); ++i) {
        uint16_t h = FloatToBf16(v[i]);
        std::memcpy(&b.owned[2 * i], &h, 2);
      }
      break;
    }
    case DType::kF32:
      b.owned.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("synthetic: tensor '", t.name, "': unsupported dtype ", DTypeName(t.dtype)));
  }
  b.data = reinterpret_cast<const uint8_t*>(b.owned.data());
  b.size = b.owned.size();
  return b;
}

std::string SyntheticWeightSource::Describe() const { return absl::StrCat("synthetic:", seed_); }

}  // namespace r1
