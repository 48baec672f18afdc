#include "worker/model/dense_tensor_reader.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace r1 {

DenseTensorReader::DenseTensorReader(const DenseModelConfig& config, const Checkpoint& checkpoint)
    : checkpoint_(checkpoint) {
  for (DenseTensor& t : PlanDenseTensors(config)) {
    std::string name = t.name;
    planned_.emplace(std::move(name), std::move(t));
  }
}

absl::StatusOr<DenseTensorReader::Checked> DenseTensorReader::Get(const std::string& name) const {
  auto it = planned_.find(name);
  if (it == planned_.end()) return absl::InternalError(absl::StrCat("unplanned tensor ", name));
  const DenseTensor& t = it->second;
  ASSIGN_OR_RETURN(TensorView v, checkpoint_.Get(name));
  if (v.shape() != t.shape) {
    return absl::InvalidArgumentError(absl::StrCat(v.file, ": tensor '", name, "': shape [",
                                                   absl::StrJoin(v.shape(), ", "), "], expected [",
                                                   absl::StrJoin(t.shape, ", "), "]"));
  }
  if (v.dtype() != DType::kBF16 && v.dtype() != DType::kF32) {
    return absl::InvalidArgumentError(absl::StrCat(v.file, ": tensor '", name, "': dtype ",
                                                   DTypeName(v.dtype()),
                                                   " is not supported (want BF16 or F32)"));
  }
  return Checked{v, &t};
}

}  // namespace r1
