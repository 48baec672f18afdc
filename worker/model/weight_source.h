// WeightSource: where a model's tensors come from.
//   CheckpointWeightSource — a Hugging Face safetensors checkpoint directory (borrowed views into
//                            the mapped shards);
//   SyntheticWeightSource  — random weights of any config, generated deterministically per tensor
//                            from (seed, name) in the checkpoint's own formats (FP8 e4m3 with
//                            128×128 block scales, BF16, F32).
// Both validate dtype and shape against the WeightPlan; errors name the tensor and the file.
// Fetch may be called from several threads on the same source.
#ifndef R1_WORKER_MODEL_WEIGHT_SOURCE_H_
#define R1_WORKER_MODEL_WEIGHT_SOURCE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/safetensors.h"
#include "worker/model/weight_plan.h"

namespace r1 {

// Bytes of one tensor: either borrowed (`data` points into a mapped file that outlives the
// source) or owned (`owned` holds them and `data` points into it). Copies and moves keep an owned
// `data` pointing into their own `owned`: a short string's bytes live inside the object, so a
// pointer into the source object would dangle once it is gone (a TensorBytes returned from a
// function is moved).
struct TensorBytes {
  const uint8_t* data = nullptr;
  uint64_t size = 0;
  std::string owned;
  std::string origin;  // file (or "synthetic") for error messages

  TensorBytes() = default;
  TensorBytes(const TensorBytes& other) { *this = other; }
  TensorBytes(TensorBytes&& other) noexcept { *this = std::move(other); }
  TensorBytes& operator=(const TensorBytes& other) {
    if (this == &other) return *this;
    const bool in_owned = other.OwnsData();
    owned = other.owned;
    origin = other.origin;
    size = other.size;
    data = in_owned ? reinterpret_cast<const uint8_t*>(owned.data()) : other.data;
    return *this;
  }
  TensorBytes& operator=(TensorBytes&& other) noexcept {
    if (this == &other) return *this;
    const bool in_owned = other.OwnsData();
    owned = std::move(other.owned);
    origin = std::move(other.origin);
    size = other.size;
    data = in_owned ? reinterpret_cast<const uint8_t*>(owned.data()) : other.data;
    other.data = nullptr;
    other.size = 0;
    return *this;
  }

 private:
  bool OwnsData() const {
    const auto* begin = reinterpret_cast<const uint8_t*>(owned.data());
    const std::less_equal<const uint8_t*> le;  // a total order, also for unrelated pointers
    return data != nullptr && le(begin, data) && le(data, begin + owned.size());
  }
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // Returns the bytes of `t`, checked against its planned dtype and shape.
  virtual absl::StatusOr<TensorBytes> Fetch(const PlannedTensor& t) const = 0;
  virtual std::string Describe() const = 0;
};

class CheckpointWeightSource : public WeightSource {
 public:
  static absl::StatusOr<std::unique_ptr<CheckpointWeightSource>> Open(const std::string& dir);
  absl::StatusOr<TensorBytes> Fetch(const PlannedTensor& t) const override;
  std::string Describe() const override;

 private:
  std::unique_ptr<Checkpoint> checkpoint_;
};

class SyntheticWeightSource : public WeightSource {
 public:
  explicit SyntheticWeightSource(uint64_t seed) : seed_(seed) {}
  absl::StatusOr<TensorBytes> Fetch(const PlannedTensor& t) const override;
  std::string Describe() const override;

 private:
  // An FP8 weight and its block scales come from one random matrix; a loader fetches them one
  // after the other, so the quantised pair is kept until both have been served (at most
  // kMaxPending pairs, oldest dropped first; a dropped pair is generated again if asked for).
  struct Quantized {
    std::string codes;
    std::vector<float> scales;
    bool codes_served = false, scales_served = false;
  };
  static constexpr size_t kMaxPending = 16;
  std::shared_ptr<Quantized> QuantizedFor(const PlannedTensor& weight) const;

  uint64_t seed_;
  mutable absl::Mutex mu_;
  mutable std::deque<std::pair<std::string, std::shared_ptr<Quantized>>> pending_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace r1

#endif  // R1_WORKER_MODEL_WEIGHT_SOURCE_H_
