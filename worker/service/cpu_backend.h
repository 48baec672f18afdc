// CpuBackend: the Backend of `r1-worker --device=cpu` — Gloo over TCP for the group, CpuModel
// (OpenBLAS) with EpMoe as its expert executor, the latent KV cache in host memory.
//
// KV cache: Assign.kv_cache_fraction of the worker's host budget (`kv_cache_bytes`); rows are
// f32, or rounded to bf16 with KV_DTYPE_BF16; FP8 is refused. Routed experts run as stored in
// the checkpoint (FP8 dequantised to f32); INT4 is refused (the CUDA backend converts to INT4).
//
// Dense models (ShardSpec::dense: Qwen2 / Llama, groups of one rank): DenseCpuModel over the
// checkpoint's weights (BF16 or F32, widened to f32), the cache sized by its [K ; V] rows.
//
// Thread-compatible (one Connect or Build at a time).
#ifndef R1_WORKER_SERVICE_CPU_BACKEND_H_
#define R1_WORKER_SERVICE_CPU_BACKEND_H_

#include <cstdint>
#include <string>

#include "worker/service/backend.h"

namespace r1 {

struct CpuBackendOptions {
  int64_t kv_cache_bytes = 256ll << 20;  // host memory budget of the KV cache
  std::string host = "127.0.0.1";        // address bound and advertised for the group's traffic
  std::string iface;                     // a network interface name; wins over `host`
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(CpuBackendOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "cpu"; }
  r1::v1::DeviceKind kind() const override { return r1::v1::DEVICE_KIND_CPU; }
  absl::StatusOr<std::unique_ptr<Communicator>> Connect(const GroupSpec& group,
                                                        KeyValueStore* store) override;
  absl::StatusOr<ShardModel> Build(const ShardSpec& spec, Communicator* comm,
                                   absl::Duration collective_timeout) override;

 private:
  absl::StatusOr<ShardModel> BuildDense(const ShardSpec& spec, bool bf16_kv,
                                        int64_t kv_budget_bytes);

  CpuBackendOptions options_;
};

}  // namespace r1

#endif  // R1_WORKER_SERVICE_CPU_BACKEND_H_
