// CUTLASS's Hopper mixed-input (int4 × bf16) grouped GEMM on our params, and the weight
// preparation it needs (see moe_gemm_cutlass_int4.h). Compiled with the CUTLASS flags of
// cmake/R1Cutlass.cmake (--expt-relaxed-constexpr, C++17, CUTLASS_ENABLE_GDC_FOR_SM90=1, sm_90a).
//
// The kernel is the one CUTLASS example 69 builds for int4 × bf16 with scales and the offline
// shuffle (collective builders with a tuple<int4b_t, bf16> A operand whose stride type is the
// reordered layout, KernelPtrArrayTmaWarpSpecializedCooperative, a PtrArrayTmaWarpSpecialized-
// Cooperative epilogue, the grouped persistent scheduler); what differs is ours: two tile
// configurations, bf16 output without a C operand, our scale layout used as is, and the per-group
// arguments written on the device from expert_offsets.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/dispatch_policy.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/group_array_problem_shape.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/numeric_types.h"
#include "cutlass/util/mixed_dtype_utils.hpp"
#include "cutlass/util/packed_stride.hpp"

#include "absl/strings/str_cat.h"
#include "kernels/int4_quant/int4_quant.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/internal/cutlass_grouped.cuh"
#include "kernels/moe_gemm/moe_gemm_cutlass_int4.h"

#if !defined(CUTLASS_ARCH_MMA_SM90_SUPPORTED) || \
    !defined(CUTLASS_ARCH_MMA_MODIFIABLE_TMA_SM90_SUPPORTED)
#error "moe_gemm_cutlass_int4.cu needs CUDA ≥ 12.3 (sm_90a grouped GEMM, device-side TMA updates)"
#endif

namespace r1::kernels {
namespace {

using cute::_1;
using cute::_128;
using cute::_2;
using cute::_32;
using cute::_4;
using cute::_64;
using cute::make_shape;
using cute::Shape;

using ProblemShape = cutlass::gemm::GroupProblemShape<Shape<int, int, int>>;  // (M, N, K) per group
using Int4 = cutlass::int4b_t;
using Bf16 = cutlass::bfloat16_t;

constexpr int kGroup = 128;    // channels per weight scale (int4_quant.h: kInt4Group)
constexpr int kAtomRows = 16;  // rows of the reordering atom (one warp's slice of a 64-row wgmma)
constexpr int kAlignW = 32;    // int4 elements in 16 bytes (TMA)
constexpr int kAlignBf16 = 8;  // bf16 elements in 16 bytes

// The weights' memory layout. The plain K-major stride of CUTLASS's A in a grouped GEMM, then the
// reordering atom (one warp's 16 × 16 register fragment of a bf16 wgmma A operand, each thread's 8
// values contiguous and permuted [0,2,4,6,1,3,5,7] so that int4 → bf16 conversion works on nibble
// pairs) tiled over the (n, k, 1) weight shape, atoms in column-major order.
using StrideWPlain =
    cute::remove_pointer_t<cutlass::detail::TagToStrideA_t<cutlass::layout::RowMajor*>>;
using ValueOrder = cute::Layout<Shape<_2, _4>, cute::Stride<_4, _1>>;
using WeightAtom =
    decltype(cutlass::compute_memory_reordering_atom<Bf16, cute::Layout<Shape<_1, _1>>,
                                                     ValueOrder>());
using LayoutW = decltype(cute::tile_to_shape(
    WeightAtom{}, cute::Layout<Shape<int, int, cute::Int<1>>, StrideWPlain>{}));

LayoutW MakeLayoutW(int n, int k) {
  return cute::tile_to_shape(WeightAtom{}, make_shape(n, k, cute::Int<1>{}));
}

// One instantiation; A = weights (M = n), B = activations (N = tokens), D = outᵀ (column-major,
// ld n).
template <class TileShape_>
struct Config {
  using TileShape = TileShape_;
  using ClusterShape = Shape<_1, _1, _1>;
  using LayoutB = cutlass::layout::ColumnMajor;  // [tokens][k], k contiguous
  using LayoutD = cutlass::layout::ColumnMajor;  // outᵀ

  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, float, float, void, LayoutD*, kAlignBf16,
      Bf16, LayoutD*, kAlignBf16, cutlass::epilogue::PtrArrayTmaWarpSpecializedCooperative,
      cutlass::epilogue::fusion::LinearCombination<Bf16, float>>::CollectiveOp;

  using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, cute::tuple<Int4, Bf16>, LayoutW*,
      kAlignW, Bf16, LayoutB*, kAlignBf16, float, TileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      cutlass::gemm::KernelPtrArrayTmaWarpSpecializedCooperative>::CollectiveOp;

  using Kernel =
      cutlass::gemm::kernel::GemmUniversal<ProblemShape, CollectiveMainloop, CollectiveEpilogue>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
  using StrideB = typename Kernel::InternalStrideB;
  using StrideD = typename Kernel::InternalStrideD;
  using StrideS = typename CollectiveMainloop::StrideScale;
};

using DecodeConfig = Config<Shape<_128, _32, _64>>;
using PrefillConfig = Config<Shape<_128, _128, _64>>;

// Everything the setup kernel reads, by value.
struct SetupIn {
  const int32_t* offsets;
  int64_t experts, tokens, n, k;
  const uint16_t* x;
  const uint8_t* w;  // prepared weights
  const uint16_t* w_scale;
  uint16_t* out;
};

// The per-group arrays of one configuration (device memory owned by the Impl below).
template <class C>
struct GroupArrays {
  typename ProblemShape::UnderlyingProblemShape* shapes;
  const Int4** a;
  const Bf16** b;
  Bf16** d;
  const Bf16** s;
  LayoutW* la;
  typename C::StrideB* db;
  typename C::StrideD* dd;
  typename C::StrideS* ds;
};

// Thread i < experts writes group i's arguments (the strides and the weight layout are the same
// for every group; only the token count and the pointers differ).
template <class C>
__global__ void SetupKernel(SetupIn in, GroupArrays<C> g, LayoutW la, typename C::StrideB db,
                            typename C::StrideD dd, typename C::StrideS ds) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= in.experts) return;
  const int64_t lo = min(max(int64_t{in.offsets[i]}, int64_t{0}), in.tokens);
  const int64_t hi = min(max(int64_t{in.offsets[i + 1]}, lo), in.tokens);
  g.shapes[i] =
      make_shape(static_cast<int>(in.n), static_cast<int>(hi - lo), static_cast<int>(in.k));
  g.a[i] = reinterpret_cast<const Int4*>(in.w + i * in.n * (in.k / 2));
  g.b[i] = reinterpret_cast<const Bf16*>(in.x + lo * in.k);
  g.d[i] = reinterpret_cast<Bf16*>(in.out + lo * in.n);
  g.s[i] = reinterpret_cast<const Bf16*>(in.w_scale + i * (in.k / kGroup) * in.n);
  g.la[i] = la;
  g.db[i] = db;
  g.dd[i] = dd;
  g.ds[i] = ds;
}

// Preparation, pass 1: each thread reads one 32-bit word of our layout (8 values of one row) and
// writes each value's two's-complement nibble as one byte at its element offset in LayoutW.
__global__ void ScatterNibblesKernel(const uint32_t* w, int64_t words, int64_t words_per_row,
                                     LayoutW layout, uint8_t* nibbles) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < words;
       i += int64_t{gridDim.x} * blockDim.x) {
    const uint32_t word = w[i];
    const int row = static_cast<int>(i / words_per_row);
    const int k0 = static_cast<int>(i % words_per_row) * 8;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const uint32_t u = (word >> (4 * Int4NibbleOf(j))) & 0xfu;         // offset binary: q + 8
      nibbles[layout(row, k0 + j, 0)] = static_cast<uint8_t>(u ^ 0x8u);  // two's complement of q
    }
  }
}

// Pass 2: packs element pairs into bytes (element 2b in the low nibble, as cutlass::int4b_t
// arrays are stored), 8 bytes of nibbles into one 32-bit word per thread.
__global__ void PackNibblesKernel(const uint2* nibbles, int64_t words, uint32_t* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < words;
       i += int64_t{gridDim.x} * blockDim.x) {
    const uint2 v = nibbles[i];
    uint32_t r = 0;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      r |= ((v.x >> (8 * j)) & 0xfu) << (4 * j);
      r |= ((v.y >> (8 * j)) & 0xfu) << (16 + 4 * j);
    }
    out[i] = r;
  }
}

using cutlass_grouped::Aligned16;
using cutlass_grouped::AllocArray;

int GridFor(int64_t items, int threads) {
  return static_cast<int>(std::clamp<int64_t>((items + threads - 1) / threads, 1, 4096));
}

// One configuration: its Gemm (holding CUTLASS's prepared kernel parameters), its per-group
// arrays and its workspace.
template <class C>
class Impl {
 public:
  ~Impl() {
    void* ptrs[] = {g_.shapes, g_.a, g_.b, g_.d, g_.s, g_.la, g_.db, g_.dd, g_.ds, workspace_};
    for (void* p : ptrs) {
      if (p != nullptr) cudaFree(p);
    }
  }

  absl::Status Init(int device, int64_t max_experts) {
    hw_ = cutlass::KernelHardwareInfo::make_kernel_hardware_info<typename C::Kernel>(device);
    constexpr const char* what = "moe_gemm_cutlass_int4: group arrays";
    if (auto st = AllocArray(&g_.shapes, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.a, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.b, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.d, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.s, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.la, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.db, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.dd, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.ds, max_experts, what); !st.ok()) return st;
    workspace_bytes_ = C::Gemm::get_workspace_size(Args(static_cast<int>(max_experts)));
    if (workspace_bytes_ > 0) {
      R1_CUDA_RETURN_IF_ERROR(cudaMalloc(&workspace_, workspace_bytes_),
                              "moe_gemm_cutlass_int4: workspace");
    }
    array_bytes_ = max_experts * (sizeof(*g_.shapes) + 4 * sizeof(void*) + sizeof(*g_.la) +
                                  sizeof(*g_.db) + sizeof(*g_.dd) + sizeof(*g_.ds));
    return absl::OkStatus();
  }

  size_t device_bytes() const { return array_bytes_ + workspace_bytes_; }

  absl::Status Run(const SetupIn& in, cudaStream_t stream) {
    const int n = static_cast<int>(in.n), k = static_cast<int>(in.k);
    const auto db = cutlass::make_cute_packed_stride(typename C::StrideB{}, make_shape(1, k, 1));
    const auto dd = cutlass::make_cute_packed_stride(typename C::StrideD{}, make_shape(n, 1, 1));
    const auto ds =
        cutlass::make_cute_packed_stride(typename C::StrideS{}, make_shape(n, k / kGroup, 1));
    const int threads = 128;
    SetupKernel<C><<<GridFor(in.experts, threads), threads, 0, stream>>>(in, g_, MakeLayoutW(n, k),
                                                                         db, dd, ds);
    R1_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "moe_gemm_cutlass_int4: setup launch");

    return cutlass_grouped::PrepareAndRun(gemm_, in.experts, &prepared_experts_, workspace_, stream,
                                          "moe_gemm_cutlass_int4",
                                          [this](int groups) { return Args(groups); });
  }

 private:
  typename C::Gemm::Arguments Args(int groups) const {
    typename C::Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGrouped,
        {groups, g_.shapes, nullptr},  // device shapes only: the host never sees the group sizes
        {g_.a, g_.la, g_.b, g_.db, g_.s, g_.ds, kGroup},
        {{}, nullptr, g_.dd, g_.d, g_.dd},  // no C operand (void); its stride array unused
        hw_};
    cutlass_grouped::SetAccumulatorOnlyEpilogue(args);
    return args;
  }

  int64_t prepared_experts_ = -1;
  cutlass::KernelHardwareInfo hw_{};
  GroupArrays<C> g_{};
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  size_t array_bytes_ = 0;
  typename C::Gemm gemm_;
};

absl::Status CheckShape(int64_t experts, int64_t n, int64_t k) {
  constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
  if (experts <= 0 || n <= 0 || k <= 0 || n % kAtomRows != 0 || k % kGroup != 0 || n > kI32Max ||
      k > kI32Max) {
    return absl::InvalidArgumentError(
        absl::StrCat("moe_gemm_cutlass_int4: need experts > 0, n % 16 == 0, k % 128 == 0 (experts ",
                     experts, ", n ", n, ", k ", k, ")"));
  }
  return absl::OkStatus();
}

// Converts `chunk` experts at a time through `temp` (chunk·n·k bytes), waiting for each chunk
// before the next one overwrites the temporary.
absl::Status PrepareChunks(const uint8_t* w, int64_t experts, int64_t n, int64_t k, int64_t chunk,
                           uint8_t* temp, uint8_t* out, cudaStream_t stream) {
  const int64_t per_expert = n * k;
  const LayoutW layout = MakeLayoutW(static_cast<int>(n), static_cast<int>(k));
  const int threads = 256;
  for (int64_t e0 = 0; e0 < experts; e0 += chunk) {
    const int64_t count = std::min(chunk, experts - e0);
    for (int64_t e = 0; e < count; ++e) {
      const auto* src = reinterpret_cast<const uint32_t*>(w + (e0 + e) * per_expert / 2);
      ScatterNibblesKernel<<<GridFor(per_expert / 8, threads), threads, 0, stream>>>(
          src, per_expert / 8, k / 8, layout, temp + e * per_expert);
    }
    PackNibblesKernel<<<GridFor(count * per_expert / 8, threads), threads, 0, stream>>>(
        reinterpret_cast<const uint2*>(temp), count * per_expert / 8,
        reinterpret_cast<uint32_t*>(out + e0 * per_expert / 2));
    R1_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "moe_gemm_cutlass_int4: prepare launch");
    R1_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream), "moe_gemm_cutlass_int4: prepare");
  }
  return absl::OkStatus();
}

}  // namespace

const char* CutlassInt4TileName(CutlassInt4Tile t) {
  switch (t) {
    case CutlassInt4Tile::kDecode:
      return "decode";
    case CutlassInt4Tile::kPrefill:
      return "prefill";
  }
  return "?";
}

absl::Status PrepareCutlassMoeGemmInt4Weights(const uint8_t* w, int64_t experts, int64_t n,
                                              int64_t k, uint8_t* out, cudaStream_t stream) {
  if (auto st = CheckShape(experts, n, k); !st.ok()) return st;
  if (w == nullptr || out == nullptr || !Aligned16(w) || !Aligned16(out)) {
    return absl::InvalidArgumentError(
        "moe_gemm_cutlass_int4: prepare needs non-null, 16-byte aligned w and out");
  }
  const int64_t per_expert = n * k;  // elements (= bytes of the temporary)
  const int64_t total_bytes = experts * per_expert / 2;
  if (w < out + total_bytes && out < w + total_bytes) {
    return absl::InvalidArgumentError("moe_gemm_cutlass_int4: prepare output overlaps its input");
  }
  constexpr int64_t kTempBudget = int64_t{64} << 20;
  const int64_t chunk = std::clamp<int64_t>(kTempBudget / per_expert, 1, experts);
  uint8_t* temp = nullptr;
  R1_CUDA_RETURN_IF_ERROR(cudaMalloc(&temp, chunk * per_expert),
                          "moe_gemm_cutlass_int4: prepare temporary");
  const absl::Status st = PrepareChunks(w, experts, n, k, chunk, temp, out, stream);
  cudaFree(temp);
  return st;
}

namespace internal {

int64_t CutlassInt4WeightOffset(int64_t n, int64_t k, int64_t row, int64_t col) {
  return static_cast<int64_t>(MakeLayoutW(static_cast<int>(n), static_cast<int>(k))(
      static_cast<int>(row), static_cast<int>(col), 0));
}

}  // namespace internal

struct CutlassMoeGemmInt4::State {
  int device = 0;
  CutlassMoeGemmCapacity cap;
  Impl<DecodeConfig> decode;
  Impl<PrefillConfig> prefill;
};

CutlassMoeGemmInt4::CutlassMoeGemmInt4(std::unique_ptr<State> s) : s_(std::move(s)) {}
CutlassMoeGemmInt4::~CutlassMoeGemmInt4() = default;

absl::StatusOr<std::unique_ptr<CutlassMoeGemmInt4>> CutlassMoeGemmInt4::Create(
    const CutlassMoeGemmCapacity& c) {
  constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
  if (c.max_experts <= 0 || c.max_tokens < 0 || c.max_n <= 0 || c.max_k <= 0 ||
      c.max_k % kGroup != 0 || c.max_n > kI32Max || c.max_k > kI32Max || c.max_tokens > kI32Max) {
    return absl::InvalidArgumentError("moe_gemm_cutlass_int4: bad capacity");
  }
  auto s = std::make_unique<State>();
  s->cap = c;
  if (auto st = cutlass_grouped::CurrentSm90Device("moe_gemm_cutlass_int4", &s->device); !st.ok())
    return st;
  if (auto st = s->decode.Init(s->device, c.max_experts); !st.ok()) return st;
  if (auto st = s->prefill.Init(s->device, c.max_experts); !st.ok()) return st;
  return std::unique_ptr<CutlassMoeGemmInt4>(new CutlassMoeGemmInt4(std::move(s)));
}

size_t CutlassMoeGemmInt4::device_bytes() const {
  return s_->decode.device_bytes() + s_->prefill.device_bytes();
}

absl::Status CutlassMoeGemmInt4::Run(const MoeGemmInt4Params& p, CutlassInt4Tile tile,
                                     cudaStream_t stream) {
  State& s = *s_;
  if (auto st = ValidateMoeGemmInt4(p); !st.ok()) return st;
  if (auto st = CheckShape(p.experts, p.n, p.k); !st.ok()) return st;
  const CutlassMoeGemmCapacity& c = s.cap;
  if (p.experts > c.max_experts || p.tokens > c.max_tokens || p.n > c.max_n || p.k > c.max_k) {
    return absl::InvalidArgumentError(
        absl::StrCat("moe_gemm_cutlass_int4: call (experts ", p.experts, ", tokens ", p.tokens,
                     ", n ", p.n, ", k ", p.k, ") exceeds the capacity (", c.max_experts, ", ",
                     c.max_tokens, ", ", c.max_n, ", ", c.max_k, ")"));
  }
  if (!Aligned16(p.x) || !Aligned16(p.w) || !Aligned16(p.w_scale) || !Aligned16(p.out)) {
    return absl::InvalidArgumentError(
        "moe_gemm_cutlass_int4: x, w, w_scale and out must be 16-byte aligned");
  }
  int dev = -1;
  R1_CUDA_RETURN_IF_ERROR(cudaGetDevice(&dev), "moe_gemm_cutlass_int4: device");
  if (dev != s.device) {
    return absl::FailedPreconditionError(absl::StrCat("moe_gemm_cutlass_int4: created on device ",
                                                      s.device, ", current device is ", dev));
  }
  if (p.tokens == 0) return absl::OkStatus();  // every expert is empty

  SetupIn in{};
  in.offsets = p.expert_offsets;
  in.experts = p.experts;
  in.tokens = p.tokens;
  in.n = p.n;
  in.k = p.k;
  in.x = p.x;
  in.w = p.w;
  in.w_scale = p.w_scale;
  in.out = p.out;
  return tile == CutlassInt4Tile::kDecode ? s.decode.Run(in, stream) : s.prefill.Run(in, stream);
}

}  // namespace r1::kernels
