#include "kernels/internal/cublaslt.h"

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace r1::kernels::internal {
namespace {

// Process-wide state: per-device handles and the algorithm cache. Never destroyed (handles live
// as long as the process, like the CUDA context).
class LtState {
 public:
  static LtState& Get() {
    static LtState* s = new LtState();
    return *s;
  }

  absl::Status Handle(int device, cublasLtHandle_t* out) {
    absl::MutexLock lock(&mu_);
    auto it = handles_.find(device);
    if (it != handles_.end()) {
      *out = it->second;
      return absl::OkStatus();
    }
    cublasLtHandle_t h = nullptr;
    if (cublasStatus_t st = cublasLtCreate(&h); st != CUBLAS_STATUS_SUCCESS) {
      return absl::InternalError(absl::StrCat("cublasLtCreate: ", cublasGetStatusString(st)));
    }
    handles_[device] = h;
    *out = h;
    return absl::OkStatus();
  }

  bool Lookup(const std::string& key, cublasLtMatmulAlgo_t* algo, bool* found) {
    absl::MutexLock lock(&mu_);
    auto it = algos_.find(key);
    if (it == algos_.end()) return false;
    *found = it->second.found;
    *algo = it->second.algo;
    return true;
  }

  void Store(const std::string& key, const cublasLtMatmulAlgo_t& algo, bool found) {
    absl::MutexLock lock(&mu_);
    algos_[key] = Entry{algo, found};
  }

 private:
  struct Entry {
    cublasLtMatmulAlgo_t algo;
    bool found;
  };
  absl::Mutex mu_;
  absl::flat_hash_map<int, cublasLtHandle_t> handles_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Entry> algos_ ABSL_GUARDED_BY(mu_);
};

absl::Status Check(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cublasGetStatusString(st)));
}

// Owns the descriptors of one call.
struct Descs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~Descs() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

}  // namespace

namespace {

// Creates the descriptors of `g` and computes its cache key.
absl::Status Build(const LtGemm& g, size_t workspace_bytes, int device, Descs& ds,
                   std::string* key) {
  if (auto st = Check(cublasLtMatmulDescCreate(&ds.op, g.compute, CUDA_R_32F), "desc"); !st.ok()) {
    return st;
  }
  auto set = [&](cublasLtMatmulDescAttributes_t attr, const void* v, size_t n) {
    return Check(cublasLtMatmulDescSetAttribute(ds.op, attr, v, n), "desc attribute");
  };
  if (auto st = set(CUBLASLT_MATMUL_DESC_TRANSA, &g.trans_a, sizeof g.trans_a); !st.ok()) return st;
  if (auto st = set(CUBLASLT_MATMUL_DESC_TRANSB, &g.trans_b, sizeof g.trans_b); !st.ok()) return st;
  if (g.a_scale_mode >= 0) {
    const auto mode = static_cast<cublasLtMatmulMatrixScale_t>(g.a_scale_mode);
    if (auto st = set(CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof mode); !st.ok()) return st;
    if (auto st = set(CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &g.a_scale, sizeof g.a_scale);
        !st.ok()) {
      return st;
    }
  }
  if (g.b_scale_mode >= 0) {
    const auto mode = static_cast<cublasLtMatmulMatrixScale_t>(g.b_scale_mode);
    if (auto st = set(CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof mode); !st.ok()) return st;
    if (auto st = set(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &g.b_scale, sizeof g.b_scale);
        !st.ok()) {
      return st;
    }
  }
  const bool ta = g.trans_a != CUBLAS_OP_N, tb = g.trans_b != CUBLAS_OP_N;
  if (auto st =
          Check(cublasLtMatrixLayoutCreate(&ds.a, g.a_type, ta ? g.k : g.m, ta ? g.m : g.k, g.lda),
                "layout A");
      !st.ok()) {
    return st;
  }
  if (auto st =
          Check(cublasLtMatrixLayoutCreate(&ds.b, g.b_type, tb ? g.n : g.k, tb ? g.k : g.n, g.ldb),
                "layout B");
      !st.ok()) {
    return st;
  }
  if (auto st = Check(cublasLtMatrixLayoutCreate(&ds.d, g.d_type, g.m, g.n, g.ldd), "layout D");
      !st.ok()) {
    return st;
  }
  *key =
      absl::StrCat(device, ":", g.a_type, ",", g.b_type, ",", g.d_type, ",", g.compute, ",",
                   g.trans_a, ",", g.trans_b, ",", g.m, ",", g.n, ",", g.k, ",", g.lda, ",", g.ldb,
                   ",", g.ldd, ",", g.a_scale_mode, ",", g.b_scale_mode, ",", workspace_bytes);
  return absl::OkStatus();
}

// Up to `want` heuristic candidates (best first).
absl::Status Heuristics(cublasLtHandle_t handle, Descs& ds, size_t workspace_bytes, int want,
                        std::vector<cublasLtMatmulHeuristicResult_t>* out) {
  if (auto st = Check(cublasLtMatmulPreferenceCreate(&ds.pref), "preference"); !st.ok()) return st;
  const uint64_t ws = workspace_bytes;
  if (auto st = Check(cublasLtMatmulPreferenceSetAttribute(
                          ds.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
                      "preference workspace");
      !st.ok()) {
    return st;
  }
  out->assign(want, cublasLtMatmulHeuristicResult_t{});
  int count = 0;
  const cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(handle, ds.op, ds.a, ds.b, ds.d, ds.d,
                                                           ds.pref, want, out->data(), &count);
  if (hs != CUBLAS_STATUS_SUCCESS) count = 0;
  out->resize(count);
  return absl::OkStatus();
}

}  // namespace

absl::Status LtMatmul(const LtGemm& g, const void* a, const void* b, void* d, void* workspace,
                      size_t workspace_bytes, cudaStream_t stream) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return absl::InternalError("cudaGetDevice failed");
  cublasLtHandle_t handle = nullptr;
  if (auto st = LtState::Get().Handle(device, &handle); !st.ok()) return st;
  if (workspace == nullptr) workspace_bytes = 0;
  Descs ds;
  std::string key;
  if (auto st = Build(g, workspace_bytes, device, ds, &key); !st.ok()) return st;
  cublasLtMatmulAlgo_t algo{};
  bool found = false;
  if (!LtState::Get().Lookup(key, &algo, &found)) {
    std::vector<cublasLtMatmulHeuristicResult_t> cands;
    if (auto st = Heuristics(handle, ds, workspace_bytes, 1, &cands); !st.ok()) return st;
    found = !cands.empty();
    if (found) algo = cands[0].algo;
    LtState::Get().Store(key, algo, found);
  }
  if (!found) return absl::NotFoundError("cuBLASLt: no algorithm for this problem");
  const float alpha = 1.0f, beta = 0.0f;
  return Check(cublasLtMatmul(handle, ds.op, &alpha, a, ds.a, b, ds.b, &beta, d, ds.d, d, ds.d,
                              &algo, workspace, workspace_bytes, stream),
               "cublasLtMatmul");
}

absl::Status LtAutotune(const LtGemm& g, const void* a, const void* b, void* d, void* workspace,
                        size_t workspace_bytes, cudaStream_t stream, int candidates, int iters) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return absl::InternalError("cudaGetDevice failed");
  cublasLtHandle_t handle = nullptr;
  if (auto st = LtState::Get().Handle(device, &handle); !st.ok()) return st;
  if (workspace == nullptr) workspace_bytes = 0;
  Descs ds;
  std::string key;
  if (auto st = Build(g, workspace_bytes, device, ds, &key); !st.ok()) return st;
  std::vector<cublasLtMatmulHeuristicResult_t> cands;
  if (auto st = Heuristics(handle, ds, workspace_bytes, candidates, &cands); !st.ok()) return st;
  if (cands.empty()) {
    LtState::Get().Store(key, cublasLtMatmulAlgo_t{}, false);
    return absl::NotFoundError("cuBLASLt: no algorithm for this problem");
  }
  cudaEvent_t e0, e1;
  if (cudaEventCreate(&e0) != cudaSuccess || cudaEventCreate(&e1) != cudaSuccess) {
    return absl::InternalError("cudaEventCreate failed");
  }
  const float alpha = 1.0f, beta = 0.0f;
  // Milliseconds for `iters` runs of `algo` after one warm-up run; < 0 if it fails.
  auto time_algo = [&](const cublasLtMatmulAlgo_t& algo) -> float {
    auto run = [&] {
      return cublasLtMatmul(handle, ds.op, &alpha, a, ds.a, b, ds.b, &beta, d, ds.d, d, ds.d, &algo,
                            workspace, workspace_bytes, stream);
    };
    if (run() != CUBLAS_STATUS_SUCCESS) return -1;
    cudaEventRecord(e0, stream);
    bool ok = true;
    for (int i = 0; i < iters && ok; ++i) ok = run() == CUBLAS_STATUS_SUCCESS;
    cudaEventRecord(e1, stream);
    if (!ok || cudaEventSynchronize(e1) != cudaSuccess) return -1;
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    return ms;
  };
  float best_ms = -1;
  size_t best = 0;
  for (size_t i = 0; i < cands.size(); ++i) {
    const float ms = time_algo(cands[i].algo);
    if (ms >= 0 && (best_ms < 0 || ms < best_ms)) {
      best_ms = ms;
      best = i;
    }
  }
  // A single sweep drifts with clocks and power (seen on H200: the sweep's winner ran slower than
  // the heuristic's first pick afterwards). Confirm by timing the two alternately; the heuristic's
  // pick stays unless the other wins by more than 2% in total.
  if (best != 0) {
    float t_best = 0, t_first = 0;
    bool first_ok = true, best_ok = true;
    for (int round = 0; round < 3 && first_ok && best_ok; ++round) {
      const float f = time_algo(cands[0].algo), o = time_algo(cands[best].algo);
      first_ok = f >= 0;
      best_ok = o >= 0;
      t_first += f;
      t_best += o;
    }
    if (!best_ok || (first_ok && t_best > 0.98f * t_first)) best = 0;
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  LtState::Get().Store(key, cands[best].algo, true);
  return cudaGetLastError() == cudaSuccess ? absl::OkStatus()
                                           : absl::InternalError("cuBLASLt autotune failed");
}

}  // namespace r1::kernels::internal
