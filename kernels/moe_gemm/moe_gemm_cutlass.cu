// CUTLASS's Hopper FP8 blockwise-scaled grouped GEMM on our params (see moe_gemm_cutlass.h). The
// only translation unit that includes CUTLASS: compiled with --expt-relaxed-constexpr, C++17 and
// CUTLASS_ENABLE_GDC_FOR_SM90=1 for sm_90a only (cmake/R1Cutlass.cmake).
//
// The kernel is the one CUTLASS example 68 builds (collective builders with
// KernelPtrArrayTmaWarpSpecializedCooperativeFP8Blockwise, a PtrArrayTmaWarpSpecializedCooperative
// epilogue, the grouped persistent tile scheduler); what differs is ours: two tile
// configurations, K-major scales for both operands, bf16 output without a C operand, and the
// per-group arguments written on the device from expert_offsets.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/detail/blockwise_scale_layout.hpp"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/dispatch_policy.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/group_array_problem_shape.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/numeric_types.h"
#include "cutlass/util/packed_stride.hpp"

#include "absl/strings/str_cat.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/internal/cutlass_grouped.cuh"
#include "kernels/moe_gemm/moe_gemm_cutlass.h"

#if !defined(CUTLASS_ARCH_MMA_SM90_SUPPORTED) || \
    !defined(CUTLASS_ARCH_MMA_MODIFIABLE_TMA_SM90_SUPPORTED)
#error "moe_gemm_cutlass.cu needs CUDA ≥ 12.3 (sm_90a grouped GEMM with device-side TMA updates)"
#endif

namespace r1::kernels {
namespace {

using cute::_1;
using cute::_128;
using cute::_2;
using cute::_32;
using cute::make_shape;
using cute::Shape;

using ProblemShape = cutlass::gemm::GroupProblemShape<Shape<int, int, int>>;  // (M, N, K) per group
using Fp8 = cutlass::float_e4m3_t;
using Bf16 = cutlass::bfloat16_t;

constexpr int kScaleBlock = 128;  // DeepSeek: 128-channel activation groups, 128×128 weight blocks

// One instantiation. kSwap: CUTLASS's A is the weight (M = n) and B the activations (N = tokens),
// D = outᵀ, i.e. column-major with leading dimension n — the same bytes as our row-major out.
template <bool kSwap, class TileShape_, class ClusterShape_>
struct Config {
  static constexpr bool kSwapAB = kSwap;
  using TileShape = TileShape_;
  using ClusterShape = ClusterShape_;
  using LayoutA = cutlass::layout::RowMajor;     // [M][K], K contiguous
  using LayoutB = cutlass::layout::ColumnMajor;  // [N][K], K contiguous
  using LayoutD =
      std::conditional_t<kSwap, cutlass::layout::ColumnMajor, cutlass::layout::RowMajor>;
  static constexpr int kAlignAB = 16;  // elements of e4m3: 16 bytes (TMA)
  static constexpr int kAlignD = 8;    // elements of bf16: 16 bytes

  // Scale granularity (M, N, K): the weight operand has 128×128 blocks, the activations one scale
  // per row and 128-wide K block. Both K-major (see the header: CUTLASS rebuilds packed layouts).
  using ScaleConfig =
      cutlass::detail::Sm90BlockwiseScaleConfig<kSwap ? kScaleBlock : 1, kSwap ? 1 : kScaleBlock,
                                                kScaleBlock, cute::GMMA::Major::K,
                                                cute::GMMA::Major::K>;
  using LayoutSFA = decltype(ScaleConfig::deduce_layoutSFA());
  using LayoutSFB = decltype(ScaleConfig::deduce_layoutSFB());

  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, float, float, void, LayoutD*, kAlignD, Bf16,
      LayoutD*, kAlignD, cutlass::epilogue::PtrArrayTmaWarpSpecializedCooperative,
      cutlass::epilogue::fusion::LinearCombination<Bf16, float>>::CollectiveOp;

  using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Fp8, cute::tuple<LayoutA*, LayoutSFA*>,
      kAlignAB, Fp8, cute::tuple<LayoutB*, LayoutSFB*>, kAlignAB, float, TileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      cutlass::gemm::KernelPtrArrayTmaWarpSpecializedCooperativeFP8Blockwise>::CollectiveOp;

  using Kernel =
      cutlass::gemm::kernel::GemmUniversal<ProblemShape, CollectiveMainloop, CollectiveEpilogue>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
  using StrideA = typename Kernel::InternalStrideA;
  using StrideB = typename Kernel::InternalStrideB;
  using StrideD = typename Kernel::InternalStrideD;
};

// Decode: weights are M (128 rows per tile, split over the two consumer warpgroups), up to 32
// tokens are N: one N tile holds a whole expert at ≤ 32 tokens.
using DecodeConfig = Config<true, Shape<_128, _32, _128>, Shape<_1, _1, _1>>;
// Prefill: example 68's tile and cluster (the A tile — activations — multicast to 2 CTAs).
using PrefillConfig = Config<false, Shape<_128, _128, _128>, Shape<_1, _2, _1>>;

// Everything the setup kernel reads, by value.
struct SetupIn {
  const int32_t* offsets;
  int64_t experts, tokens, n, k;
  const uint8_t* x;
  const uint8_t* w;
  uint16_t* out;
  const float* x_scale;  // group-major [k/128][x_scale_ld]; read only when !x_scale_given
  int64_t x_scale_ld;
  const float* x_scale_tm;  // token-major [tokens][k/128] the GEMM reads
  float* x_scale_tm_out;    // where the transpose writes (== x_scale_tm when converting)
  bool x_scale_given;       // the caller's token-major scales: no transpose
  const float* w_scale;     // caller's [experts][nb][w_scale_ld]
  int64_t w_scale_ld;
  float* w_scale_packed;  // [experts][nb][k/128]; written only when repack_w
  bool repack_w;
};

// The per-group arrays of one configuration (device memory owned by the Impl below).
template <class C>
struct GroupArrays {
  typename ProblemShape::UnderlyingProblemShape* shapes;
  const Fp8** a;
  const Fp8** b;
  Bf16** d;
  const float** sfa;
  const float** sfb;
  typename C::StrideA* da;
  typename C::StrideB* db;
  typename C::StrideD* dd;
  typename C::LayoutSFA* lsfa;
  typename C::LayoutSFB* lsfb;
};

// One launch: threads [0, experts) write group i's arguments; the next tokens·kb threads (unless
// the caller gave token-major scales) transpose x_scale; the next experts·nb·kb (when repacking)
// copy w_scale rows to a k/128 stride. Grid-stride over the whole range.
template <class C>
__global__ void SetupKernel(SetupIn in, GroupArrays<C> g, typename C::StrideA da,
                            typename C::StrideB db, typename C::StrideD dd) {
  const int64_t kb = in.k / kScaleBlock, nb = (in.n + kScaleBlock - 1) / kScaleBlock;
  const int64_t n_x = in.x_scale_given ? 0 : in.tokens * kb;
  const int64_t n_w = in.repack_w ? in.experts * nb * kb : 0;
  const int64_t total = in.experts + n_x + n_w;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    if (i < in.experts) {
      const int64_t lo = min(max(int64_t{in.offsets[i]}, int64_t{0}), in.tokens);
      const int64_t hi = min(max(int64_t{in.offsets[i + 1]}, lo), in.tokens);
      const int m = static_cast<int>(hi - lo), n = static_cast<int>(in.n),
                k = static_cast<int>(in.k);
      const Fp8* x = reinterpret_cast<const Fp8*>(in.x + lo * in.k);
      const Fp8* w = reinterpret_cast<const Fp8*>(in.w + i * in.n * in.k);
      const float* xs = in.x_scale_tm + lo * kb;
      const float* ws = (in.repack_w ? in.w_scale_packed : in.w_scale) +
                        i * nb * (in.repack_w ? kb : in.w_scale_ld);
      g.d[i] = reinterpret_cast<Bf16*>(in.out + lo * in.n);
      g.da[i] = da;
      g.db[i] = db;
      g.dd[i] = dd;
      if constexpr (C::kSwapAB) {
        g.shapes[i] = make_shape(n, m, k);
        g.a[i] = w;
        g.b[i] = x;
        g.sfa[i] = ws;
        g.sfb[i] = xs;
        g.lsfa[i] = C::ScaleConfig::tile_atom_to_shape_SFA(make_shape(n, m, k, 1));
        g.lsfb[i] = C::ScaleConfig::tile_atom_to_shape_SFB(make_shape(n, m, k, 1));
      } else {
        g.shapes[i] = make_shape(m, n, k);
        g.a[i] = x;
        g.b[i] = w;
        g.sfa[i] = xs;
        g.sfb[i] = ws;
        g.lsfa[i] = C::ScaleConfig::tile_atom_to_shape_SFA(make_shape(m, n, k, 1));
        g.lsfb[i] = C::ScaleConfig::tile_atom_to_shape_SFB(make_shape(m, n, k, 1));
      }
    } else if (i < in.experts + n_x) {
      // Coalesced reads (tokens fastest in x_scale), strided writes: tokens·kb floats per call.
      const int64_t j = i - in.experts, t = j % in.tokens, blk = j / in.tokens;
      in.x_scale_tm_out[t * kb + blk] = in.x_scale[blk * in.x_scale_ld + t];
    } else {
      const int64_t j = i - in.experts - n_x, row = j / kb, blk = j % kb;  // row = e·nb + r
      in.w_scale_packed[row * kb + blk] = in.w_scale[row * in.w_scale_ld + blk];
    }
  }
}

using cutlass_grouped::Aligned16;
using cutlass_grouped::AllocArray;

// One configuration: its Gemm (holding CUTLASS's prepared kernel parameters), its per-group
// arrays and its workspace.
template <class C>
class Impl {
 public:
  ~Impl() {
    void* ptrs[] = {g_.shapes, g_.a,  g_.b,  g_.d,    g_.sfa,  g_.sfb,
                    g_.da,     g_.db, g_.dd, g_.lsfa, g_.lsfb, workspace_};
    for (void* p : ptrs) {
      if (p != nullptr) cudaFree(p);
    }
  }

  absl::Status Init(int device, int64_t max_experts) {
    max_experts_ = max_experts;
    hw_ = cutlass::KernelHardwareInfo::make_kernel_hardware_info<typename C::Kernel>(device);
    constexpr const char* what = "moe_gemm_cutlass: group arrays";
    if (auto st = AllocArray(&g_.shapes, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.a, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.b, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.d, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.sfa, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.sfb, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.da, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.db, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.dd, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.lsfa, max_experts, what); !st.ok()) return st;
    if (auto st = AllocArray(&g_.lsfb, max_experts, what); !st.ok()) return st;
    workspace_bytes_ = C::Gemm::get_workspace_size(Args(static_cast<int>(max_experts)));
    if (workspace_bytes_ > 0) {
      R1_CUDA_RETURN_IF_ERROR(cudaMalloc(&workspace_, workspace_bytes_),
                              "moe_gemm_cutlass: workspace");
    }
    array_bytes_ =
        max_experts * (sizeof(*g_.shapes) + 5 * sizeof(void*) + sizeof(*g_.da) + sizeof(*g_.db) +
                       sizeof(*g_.dd) + sizeof(*g_.lsfa) + sizeof(*g_.lsfb));
    return absl::OkStatus();
  }

  size_t device_bytes() const { return array_bytes_ + workspace_bytes_; }

  absl::Status Run(const SetupIn& in, cudaStream_t stream) {
    // Strides are the same for every group (only the groups' M or N differ): the packed strides
    // of A and B are k, D's is n, whichever operand is which.
    const int n = static_cast<int>(in.n), k = static_cast<int>(in.k);
    const auto da = cutlass::make_cute_packed_stride(typename C::StrideA{}, make_shape(1, k, 1));
    const auto db = cutlass::make_cute_packed_stride(typename C::StrideB{}, make_shape(1, k, 1));
    const auto dd =
        C::kSwapAB ? cutlass::make_cute_packed_stride(typename C::StrideD{}, make_shape(n, 1, 1))
                   : cutlass::make_cute_packed_stride(typename C::StrideD{}, make_shape(1, n, 1));
    const int64_t kb = in.k / kScaleBlock, nb = (in.n + kScaleBlock - 1) / kScaleBlock;
    const int64_t total = in.experts + (in.x_scale_given ? 0 : in.tokens * kb) +
                          (in.repack_w ? in.experts * nb * kb : 0);
    const int threads = 256;
    const int blocks = static_cast<int>(std::min<int64_t>((total + threads - 1) / threads, 1024));
    SetupKernel<C><<<blocks, threads, 0, stream>>>(in, g_, da, db, dd);
    R1_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "moe_gemm_cutlass: setup launch");

    return cutlass_grouped::PrepareAndRun(gemm_, in.experts, &prepared_experts_, workspace_, stream,
                                          "moe_gemm_cutlass",
                                          [this](int groups) { return Args(groups); });
  }

 private:
  typename C::Gemm::Arguments Args(int groups) const {
    typename C::Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGrouped,
        {groups, g_.shapes, nullptr},  // device shapes only: the host never sees the group sizes
        {g_.a, g_.da, g_.b, g_.db, g_.sfa, g_.lsfa, g_.sfb, g_.lsfb},
        {{}, nullptr, g_.dd, g_.d, g_.dd},  // no C operand (void); its stride array unused
        hw_};
    cutlass_grouped::SetAccumulatorOnlyEpilogue(args);
    return args;
  }

  int64_t max_experts_ = 0;
  int64_t prepared_experts_ = -1;
  cutlass::KernelHardwareInfo hw_{};
  GroupArrays<C> g_{};
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  size_t array_bytes_ = 0;
  typename C::Gemm gemm_;
};

}  // namespace

const char* CutlassMoeGemmTileName(CutlassMoeGemmTile t) {
  switch (t) {
    case CutlassMoeGemmTile::kDecode:
      return "decode";
    case CutlassMoeGemmTile::kPrefill:
      return "prefill";
  }
  return "?";
}

struct CutlassMoeGemmFp8::State {
  int device = 0;
  CutlassMoeGemmCapacity cap;
  float* x_scale_tm = nullptr;      // [max_tokens][max_k/128]
  float* w_scale_packed = nullptr;  // [max_experts][ceil(max_n/128)][max_k/128]
  size_t x_scale_floats = 0, w_scale_floats = 0;
  Impl<DecodeConfig> decode;
  Impl<PrefillConfig> prefill;

  ~State() {
    if (x_scale_tm != nullptr) cudaFree(x_scale_tm);
    if (w_scale_packed != nullptr) cudaFree(w_scale_packed);
  }
};

CutlassMoeGemmFp8::CutlassMoeGemmFp8(std::unique_ptr<State> s) : s_(std::move(s)) {}
CutlassMoeGemmFp8::~CutlassMoeGemmFp8() = default;

absl::StatusOr<std::unique_ptr<CutlassMoeGemmFp8>> CutlassMoeGemmFp8::Create(
    const CutlassMoeGemmCapacity& c) {
  constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
  if (c.max_experts <= 0 || c.max_tokens < 0 || c.max_n <= 0 || c.max_k <= 0 ||
      c.max_k % kScaleBlock != 0 || c.max_n > kI32Max || c.max_k > kI32Max ||
      c.max_tokens > kI32Max) {
    return absl::InvalidArgumentError("moe_gemm_cutlass: bad capacity");
  }
  auto s = std::make_unique<State>();
  s->cap = c;
  if (auto st = cutlass_grouped::CurrentSm90Device("moe_gemm_cutlass", &s->device); !st.ok())
    return st;
  const int64_t kb = c.max_k / kScaleBlock, nb = (c.max_n + kScaleBlock - 1) / kScaleBlock;
  s->x_scale_floats = static_cast<size_t>(std::max<int64_t>(c.max_tokens, 1) * kb);
  s->w_scale_floats = static_cast<size_t>(c.max_experts * nb * kb);
  R1_CUDA_RETURN_IF_ERROR(cudaMalloc(&s->x_scale_tm, s->x_scale_floats * sizeof(float)),
                          "moe_gemm_cutlass: activation scales");
  R1_CUDA_RETURN_IF_ERROR(cudaMalloc(&s->w_scale_packed, s->w_scale_floats * sizeof(float)),
                          "moe_gemm_cutlass: weight scales");
  if (auto st = s->decode.Init(s->device, c.max_experts); !st.ok()) return st;
  if (auto st = s->prefill.Init(s->device, c.max_experts); !st.ok()) return st;
  return std::unique_ptr<CutlassMoeGemmFp8>(new CutlassMoeGemmFp8(std::move(s)));
}

size_t CutlassMoeGemmFp8::device_bytes() const {
  return (s_->x_scale_floats + s_->w_scale_floats) * sizeof(float) + s_->decode.device_bytes() +
         s_->prefill.device_bytes();
}

absl::Status CutlassMoeGemmFp8::Run(const MoeGemmFp8Params& p, CutlassMoeGemmTile tile,
                                    cudaStream_t stream, const float* x_scale_token_major) {
  State& s = *s_;
  if (auto st = ValidateMoeGemmFp8(p); !st.ok()) return st;
  const CutlassMoeGemmCapacity& c = s.cap;
  if (p.experts > c.max_experts || p.tokens > c.max_tokens || p.n > c.max_n || p.k > c.max_k) {
    return absl::InvalidArgumentError(
        absl::StrCat("moe_gemm_cutlass: call (experts ", p.experts, ", tokens ", p.tokens, ", n ",
                     p.n, ", k ", p.k, ") exceeds the capacity (", c.max_experts, ", ",
                     c.max_tokens, ", ", c.max_n, ", ", c.max_k, ")"));
  }
  if (p.n % 8 != 0) {
    return absl::InvalidArgumentError("moe_gemm_cutlass: n must be a multiple of 8 (TMA output)");
  }
  if (!Aligned16(p.x) || !Aligned16(p.w) || !Aligned16(p.out)) {
    return absl::InvalidArgumentError("moe_gemm_cutlass: x, w and out must be 16-byte aligned");
  }
  int dev = -1;
  R1_CUDA_RETURN_IF_ERROR(cudaGetDevice(&dev), "moe_gemm_cutlass: device");
  if (dev != s.device) {
    return absl::FailedPreconditionError(absl::StrCat("moe_gemm_cutlass: created on device ",
                                                      s.device, ", current device is ", dev));
  }
  if (p.tokens == 0) return absl::OkStatus();  // every expert is empty

  const int64_t kb = p.k / kScaleBlock;
  SetupIn in{};
  in.offsets = p.expert_offsets;
  in.experts = p.experts;
  in.tokens = p.tokens;
  in.n = p.n;
  in.k = p.k;
  in.x = p.x;
  in.w = p.w;
  in.out = p.out;
  in.x_scale = p.x_scale;
  in.x_scale_ld = p.x_scale_ld;
  in.x_scale_given = x_scale_token_major != nullptr;
  in.x_scale_tm = in.x_scale_given ? x_scale_token_major : s.x_scale_tm;
  in.x_scale_tm_out = s.x_scale_tm;
  in.w_scale = p.w_scale;
  in.w_scale_ld = p.w_scale_ld;
  in.w_scale_packed = s.w_scale_packed;
  in.repack_w = p.w_scale_ld != kb;
  return tile == CutlassMoeGemmTile::kDecode ? s.decode.Run(in, stream) : s.prefill.Run(in, stream);
}

}  // namespace r1::kernels
