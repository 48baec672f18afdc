// DenseTensorReader: a dense (Qwen2 / Llama, R1-Distill) checkpoint's tensors by name, each
// checked against PlanDenseTensors as it is read: planned, with the planned shape, and BF16 or F32
// (errors name the file and the tensor). The one check behind both dense loaders — DenseWeights
// (float32, the CPU) and DenseCudaWeights (bf16, the GPU).
//
// Borrows the checkpoint, which must outlive the reader and the views it returns.
// Thread-compatible.
#ifndef R1_WORKER_MODEL_DENSE_TENSOR_READER_H_
#define R1_WORKER_MODEL_DENSE_TENSOR_READER_H_

#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "common/dense_model_config.h"
#include "common/safetensors.h"
#include "worker/model/dense_weight_plan.h"

namespace r1 {

class DenseTensorReader {
 public:
  DenseTensorReader(const DenseModelConfig& config, const Checkpoint& checkpoint);

  struct Checked {
    TensorView view;             // BF16 or F32, the planned shape
    const DenseTensor* planned;  // the plan's entry (owned by the reader)
  };
  // InternalError for a name the plan does not have; InvalidArgument for a shape or dtype other
  // than planned; the checkpoint's error for a missing tensor.
  absl::StatusOr<Checked> Get(const std::string& name) const;

 private:
  const Checkpoint& checkpoint_;
  std::unordered_map<std::string, DenseTensor> planned_;
};

}  // namespace r1

#endif  // R1_WORKER_MODEL_DENSE_TENSOR_READER_H_
