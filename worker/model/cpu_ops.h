// CPU reference ops on float32 host arrays (the CPU backend). GEMMs go through OpenBLAS; the rest
// is plain loops. Pure functions; thread-safe (OpenBLAS may use its own threads).
#ifndef R1_WORKER_MODEL_CPU_OPS_H_
#define R1_WORKER_MODEL_CPU_OPS_H_

#include <cstdint>
#include <vector>

namespace r1::cpu {

// y[m][n] = Σ_k x[m][k] · w[n][k]  (x: [m][k] row-major, w: [n][k] row-major, y: [m][n]).
void MatMulNT(const float* x, const float* w, float* y, int64_t m, int64_t n, int64_t k);

// y = γ ⊙ x / sqrt(mean(x²) + eps), computed in fp32, for `rows` rows of length n.
void RmsNorm(const float* x, const float* gamma, float* y, int64_t rows, int64_t n, float eps);

// In place: a[i] = silu(a[i]) * b[i].
void SiluMul(float* a, const float* b, int64_t n);

// Quantise-dequantise each row in groups of 128 along the row (spec §9): amax = max(|x|, 1e-4),
// s = amax/448, x ← e4m3(x/s)·s. The last group may be shorter than 128.
void Fp8ActQuantDequant(float* x, int64_t rows, int64_t k);

// Rounds every value to the nearest bf16 (what a BF16 store does).
void RoundBf16(float* x, int64_t n);

// Numerically stable softmax over n values in place.
void Softmax(float* x, int64_t n);

}  // namespace r1::cpu

#endif  // R1_WORKER_MODEL_CPU_OPS_H_
