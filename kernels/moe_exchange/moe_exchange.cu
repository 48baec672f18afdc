// Kernels of the MoE exchange (moe_exchange.h). Hand-written: these are small data-movement
// kernels whose layout is ours (records, plan), which no library provides.
#include <algorithm>
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"
#include "kernels/moe_exchange/moe_exchange_cuda.h"

namespace r1::kernels {
namespace {

constexpr unsigned kFullWarp = 0xffffffffu;
constexpr int kPlanMaxThreads = 1024;
constexpr int kPlanMaxWarps = kPlanMaxThreads / 32;
constexpr int kPackThreads = 128;
constexpr int kPackUnroll = 4;  // 16-byte loads in flight per thread
constexpr int kUnpackThreads = 256;
constexpr int kCombineThreads = 128;  // ≥ kMoeExchangeMaxRanks: one thread loads each slot

// Destination mask of one token: bit r set iff one of its valid experts lives on rank r.
__device__ __forceinline__ uint64_t TokenDestMask(const MoeDispatchPlanParams& params,
                                                  const int8_t* rank_of_expert, int64_t token) {
  uint64_t mask = 0;
  const int32_t* ids = params.topk_ids + token * params.top_k;
  for (int j = 0; j < params.top_k; ++j) {
    const int32_t expert = ids[j];
    if (expert < 0 || expert >= params.experts) continue;
    const int rank = rank_of_expert[expert];
    if (rank >= 0) mask |= uint64_t{1} << rank;
  }
  return mask;
}

__device__ __forceinline__ uint64_t WarpOr(uint64_t value) {
  const unsigned low = __reduce_or_sync(kFullWarp, static_cast<unsigned>(value));
  const unsigned high = __reduce_or_sync(kFullWarp, static_cast<unsigned>(value >> 32));
  return (static_cast<uint64_t>(high) << 32) | low;
}

// One CTA walks the tokens in tiles of blockDim.x (one token per thread), twice:
//   1. counts: per warp and destination, a ballot over the lanes whose token goes there; lane 0
//      adds its popcount to the destination's total. Thread 0 then scans the totals into
//      send_offsets and the per-destination cursors.
//   2. positions: per tile, warp counts again; one thread per destination scans them over the
//      warps from the cursor (then advances it), and a token's row is its warp's base plus the
//      number of lower lanes going to the same destination — tokens stay ascending.
// Only destinations present in a warp (an OR over its lanes' masks) are visited. A single CTA is
// right for decode batches and fine up to ~16K tokens (16 tiles per pass); larger counts stay
// correct, only slower. Tokens of the first tile keep their mask in a register between passes.
__global__ void __launch_bounds__(kPlanMaxThreads)
    MoeDispatchPlanKernel(const MoeDispatchPlanParams params) {
  __shared__ int8_t rank_of_expert[kMoeExchangeMaxExperts];  // −1: rank out of range, nowhere
  __shared__ int32_t rank_total[kMoeExchangeMaxRanks];       // pass 1: rows per destination
  __shared__ int32_t rank_cursor[kMoeExchangeMaxRanks];      // pass 2: next row per destination
  __shared__ int32_t rank_start[kMoeExchangeMaxRanks];       // packed first row per destination
  __shared__ int32_t warp_base[kPlanMaxWarps][kMoeExchangeMaxRanks];  // per tile: count → base
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  const unsigned lanes_below = (1u << lane) - 1u;
  const int ranks = params.ranks;
  for (int expert = threadIdx.x; expert < params.experts; expert += blockDim.x) {
    const int32_t rank = params.expert_rank[expert];
    rank_of_expert[expert] = static_cast<int8_t>(rank >= 0 && rank < ranks ? rank : -1);
  }
  for (int rank = threadIdx.x; rank < kMoeExchangeMaxRanks; rank += blockDim.x) {
    rank_total[rank] = 0;
  }
  __syncthreads();

  uint64_t first_tile_mask = 0;
  for (int64_t tile = 0; tile < params.tokens; tile += blockDim.x) {
    const int64_t token = tile + threadIdx.x;
    const uint64_t mask =
        token < params.tokens ? TokenDestMask(params, rank_of_expert, token) : uint64_t{0};
    if (tile == 0) first_tile_mask = mask;
    for (uint64_t present = WarpOr(mask); present != 0; present &= present - 1) {
      const int rank = __ffsll(static_cast<long long>(present)) - 1;
      const unsigned going = __ballot_sync(kFullWarp, (mask >> rank) & 1);
      if (lane == 0) atomicAdd(&rank_total[rank], __popc(going));
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t run = 0;
    for (int rank = 0; rank < ranks; ++rank) {
      params.send_offsets[rank] = run;
      rank_cursor[rank] = run;
      rank_start[rank] = run;
      run += rank_total[rank];
    }
    params.send_offsets[ranks] = run;
  }
  __syncthreads();

  for (int64_t tile = 0; tile < params.tokens; tile += blockDim.x) {
    const int64_t token = tile + threadIdx.x;
    const uint64_t mask =
        tile == 0
            ? first_tile_mask
            : (token < params.tokens ? TokenDestMask(params, rank_of_expert, token) : uint64_t{0});
    const uint64_t present = WarpOr(mask);
    __syncwarp();  // the previous tile's reads of warp_base[warp] are done
    warp_base[warp][lane] = 0;
    warp_base[warp][lane + 32] = 0;
    __syncwarp();
    for (uint64_t left = present; left != 0; left &= left - 1) {
      const int rank = __ffsll(static_cast<long long>(left)) - 1;
      const unsigned going = __ballot_sync(kFullWarp, (mask >> rank) & 1);
      if (lane == 0) warp_base[warp][rank] = __popc(going);
    }
    __syncthreads();
    for (int rank = threadIdx.x; rank < ranks; rank += blockDim.x) {  // blockDim may be < ranks
      int32_t run = rank_cursor[rank];
      for (int w = 0; w < warps; ++w) {
        const int32_t count = warp_base[w][rank];
        warp_base[w][rank] = run;
        run += count;
      }
      rank_cursor[rank] = run;
    }
    __syncthreads();
    for (int rank = 0; rank < ranks; ++rank) {
      int32_t row = -1;
      if ((present >> rank) & 1) {  // warp-uniform
        const bool goes = (mask >> rank) & 1;
        const unsigned going = __ballot_sync(kFullWarp, goes);
        if (goes) {
          row = warp_base[warp][rank] + __popc(going & lanes_below);
          if (params.capacity > 0) {  // fixed capacity: the rank's block starts at rank·capacity
            row = static_cast<int32_t>(rank * params.capacity) + row - rank_start[rank];
          }
          params.send_token[row] = static_cast<int32_t>(token);
        }
      }
      if (token < params.tokens) params.token_slot[token * ranks + rank] = row;
    }
  }
}

// One CTA per record (grid-stride): the payload in 16-byte chunks, kPackUnroll loads in flight
// per thread, then the tail (scales, ids, weights, zero padding) in 4-byte words. Values are
// moved as bits.
__global__ void __launch_bounds__(kPackThreads)
    MoeDispatchPackKernel(const MoeDispatchPackParams params) {
  __shared__ int32_t offsets[kMoeExchangeMaxRanks + 1];
  for (int rank = threadIdx.x; rank <= params.ranks; rank += blockDim.x) {
    offsets[rank] = params.send_offsets[rank];
  }
  __syncthreads();
  const MoeRecordLayout& layout = params.layout;
  const bool fixed = params.capacity > 0;
  const int64_t rows =
      fixed ? params.rows : min(params.rows, static_cast<int64_t>(offsets[params.ranks]));
  const int64_t chunks = layout.payload_bytes / 16;
  const int64_t tail_words = (layout.record_bytes - layout.scales_offset) / 4;
  const int64_t ids_word = (layout.ids_offset - layout.scales_offset) / 4;
  const int64_t weights_word = (layout.weights_offset - layout.scales_offset) / 4;
  const uint32_t* scale_bits = reinterpret_cast<const uint32_t*>(params.x_scale);
  const uint32_t* weight_bits = reinterpret_cast<const uint32_t*>(params.topk_weights);
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    int dest = 0;
    if (fixed) {
      dest = static_cast<int>(row / params.capacity);
      if (row - dest * params.capacity >= offsets[dest + 1] - offsets[dest]) {
        // An empty record: scales, weights and padding 0, ids −1; the payload is not sent data.
        uint32_t* tail = reinterpret_cast<uint32_t*>(params.records + row * layout.record_bytes +
                                                     layout.scales_offset);
        for (int64_t word = threadIdx.x; word < tail_words; word += blockDim.x) {
          const bool id = word >= ids_word && word < ids_word + params.top_k;
          tail[word] = id ? 0xffffffffu : 0u;
        }
        continue;
      }
    }
    const int32_t token = params.send_token[row];
    if (token < 0 || token >= params.tokens) continue;  // bad plan data: never read past x
    if (!fixed) {
      // Destination: the last rank whose range starts at or before the row (empty ranks share
      // their start with the next one).
      int low = 0, high = params.ranks - 1;
      while (low < high) {
        const int mid = (low + high + 1) / 2;
        if (offsets[mid] <= row) {
          low = mid;
        } else {
          high = mid - 1;
        }
      }
      dest = low;
    }
    const uint4* src = reinterpret_cast<const uint4*>(params.x + token * params.x_stride);
    uint8_t* record = params.records + row * layout.record_bytes;
    uint4* dst = reinterpret_cast<uint4*>(record);
    for (int64_t base = threadIdx.x; base < chunks; base += kPackUnroll * blockDim.x) {
      uint4 chunk[kPackUnroll];
#pragma unroll
      for (int k = 0; k < kPackUnroll; ++k) {
        const int64_t c = base + k * blockDim.x;
        if (c < chunks) chunk[k] = __ldg(src + c);
      }
#pragma unroll
      for (int k = 0; k < kPackUnroll; ++k) {
        const int64_t c = base + k * blockDim.x;
        if (c < chunks) dst[c] = chunk[k];
      }
    }
    uint32_t* tail = reinterpret_cast<uint32_t*>(record + layout.scales_offset);
    for (int64_t word = threadIdx.x; word < tail_words; word += blockDim.x) {
      uint32_t value = 0;  // padding
      if (word < ids_word) {
        if (word < layout.scale_groups) value = scale_bits[word * params.x_scale_ld + token];
      } else {
        const bool is_weight = word >= weights_word;
        const int64_t slot = word - (is_weight ? weights_word : ids_word);
        if (slot < params.top_k) {
          const int64_t pair = static_cast<int64_t>(token) * params.top_k + slot;
          const int32_t expert = params.topk_ids[pair];
          const bool here =
              expert >= 0 && expert < params.experts && params.expert_rank[expert] == dest;
          if (is_weight) {
            value = here ? weight_bits[pair] : 0u;
          } else {
            value = here ? static_cast<uint32_t>(params.expert_local[expert]) : 0xffffffffu;
          }
        }
      }
      tail[word] = value;
    }
  }
}

// Grid-stride over scale values (group-major, so the stores coalesce), then (row, slot) pairs.
__global__ void __launch_bounds__(kUnpackThreads)
    MoeRecordUnpackKernel(const MoeRecordUnpackParams params) {
  const MoeRecordLayout& layout = params.layout;
  const int64_t scale_values = params.rows * layout.scale_groups;
  const int64_t total = scale_values + params.rows * layout.top_k;
  uint32_t* scale_bits = reinterpret_cast<uint32_t*>(params.scale);
  uint32_t* id_bits = reinterpret_cast<uint32_t*>(params.ids);
  uint32_t* weight_bits = reinterpret_cast<uint32_t*>(params.weights);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (i < scale_values) {
      const int64_t group = i / params.rows, row = i % params.rows;
      const uint8_t* record = params.records + row * layout.record_bytes;
      scale_bits[group * params.scale_ld + row] =
          *reinterpret_cast<const uint32_t*>(record + layout.scales_offset + 4 * group);
    } else {
      const int64_t pair = i - scale_values;
      const int64_t row = pair / layout.top_k, slot = pair % layout.top_k;
      const uint8_t* record = params.records + row * layout.record_bytes;
      id_bits[pair] = *reinterpret_cast<const uint32_t*>(record + layout.ids_offset + 4 * slot);
      weight_bits[pair] =
          *reinterpret_cast<const uint32_t*>(record + layout.weights_offset + 4 * slot);
    }
  }
}

__device__ __forceinline__ void AddBf16x8(float (&acc)[8], uint4 packed) {
  const uint32_t words[4] = {packed.x, packed.y, packed.z, packed.w};
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    acc[j] = __fadd_rn(
        acc[j], internal::Bf16BitsToFloat(static_cast<uint16_t>(words[j / 2] >> (16 * (j % 2)))));
  }
}

// CTA (token, column block); each thread sums 8 consecutive values. The token's slots go to
// shared memory first (slots ≥ back_rows are dropped there: the kernel never reads out of
// bounds). _rn adds keep the reference's order and rounding. out may alias add: each thread
// reads its add chunk before it writes the same chunk.
__global__ void __launch_bounds__(kCombineThreads)
    MoeCombineScatterKernel(const MoeCombineScatterParams params) {
  __shared__ int32_t slots[kMoeExchangeMaxRanks];
  const int64_t token = blockIdx.x;
  if (threadIdx.x < params.ranks) {
    const int32_t slot = params.token_slot[token * params.ranks + threadIdx.x];
    slots[threadIdx.x] = slot >= 0 && slot < params.back_rows ? slot : -1;
  }
  __syncthreads();
  for (int64_t c = (static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x) * 8;
       c < params.dim; c += static_cast<int64_t>(gridDim.y) * blockDim.x * 8) {
    float acc[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[j] = 0.0f;
    if (params.add) {
      // Start from add itself, as the reference does (0 + add would turn −0 into +0).
      const uint4 packed = *reinterpret_cast<const uint4*>(params.add + token * params.dim + c);
      const uint32_t words[4] = {packed.x, packed.y, packed.z, packed.w};
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        acc[j] = internal::Bf16BitsToFloat(static_cast<uint16_t>(words[j / 2] >> (16 * (j % 2))));
      }
    }
    for (int rank = 0; rank < params.ranks; ++rank) {
      const int32_t slot = slots[rank];
      if (slot < 0) continue;
      AddBf16x8(acc, *reinterpret_cast<const uint4*>(params.back + slot * params.dim + c));
    }
    *reinterpret_cast<uint4*>(params.out + token * params.dim + c) =
        make_uint4(internal::PackBf16x2(acc[0], acc[1]), internal::PackBf16x2(acc[2], acc[3]),
                   internal::PackBf16x2(acc[4], acc[5]), internal::PackBf16x2(acc[6], acc[7]));
  }
}

bool Aligned16(const void* pointer) { return reinterpret_cast<uintptr_t>(pointer) % 16 == 0; }

}  // namespace

absl::Status LaunchMoeDispatchPlan(const MoeDispatchPlanParams& params, cudaStream_t stream) {
  if (auto st = ValidateMoeDispatchPlan(params); !st.ok()) return st;
  const int threads = MoeDispatchPlanThreads(params.tokens);
  MoeDispatchPlanKernel<<<1, threads, 0, stream>>>(params);
  return internal::LaunchStatus("moe_dispatch_plan launch");
}

absl::Status LaunchMoeDispatchPack(const MoeDispatchPackParams& params, cudaStream_t stream) {
  if (auto st = ValidateMoeDispatchPack(params); !st.ok()) return st;
  if (params.rows == 0) return absl::OkStatus();
  if (params.x_stride % 16 != 0 || !Aligned16(params.x) || !Aligned16(params.records)) {
    return absl::InvalidArgumentError(
        "moe_dispatch_pack: needs 16-byte aligned x and records and x_stride % 16 == 0");
  }
  const int64_t blocks = std::min<int64_t>(params.rows, int64_t{internal::SmCount()} * 8);
  MoeDispatchPackKernel<<<static_cast<unsigned>(blocks), kPackThreads, 0, stream>>>(params);
  return internal::LaunchStatus("moe_dispatch_pack launch");
}

absl::Status LaunchMoeRecordUnpack(const MoeRecordUnpackParams& params, cudaStream_t stream) {
  if (auto st = ValidateMoeRecordUnpack(params); !st.ok()) return st;
  if (params.rows == 0) return absl::OkStatus();
  if (!Aligned16(params.records)) {
    return absl::InvalidArgumentError("moe_record_unpack: needs 16-byte aligned records");
  }
  const int64_t total = params.rows * (params.layout.scale_groups + 2 * params.layout.top_k);
  const int64_t blocks = std::min<int64_t>((total + kUnpackThreads - 1) / kUnpackThreads,
                                           int64_t{internal::SmCount()} * 8);
  MoeRecordUnpackKernel<<<static_cast<unsigned>(blocks), kUnpackThreads, 0, stream>>>(params);
  return internal::LaunchStatus("moe_record_unpack launch");
}

absl::Status LaunchMoeCombineScatter(const MoeCombineScatterParams& params, cudaStream_t stream) {
  if (auto st = ValidateMoeCombineScatter(params); !st.ok()) return st;
  if (params.tokens == 0) return absl::OkStatus();
  if (params.dim % 8 != 0 || !Aligned16(params.out) || (params.add && !Aligned16(params.add)) ||
      (params.back && !Aligned16(params.back))) {
    return absl::InvalidArgumentError(
        "moe_combine_scatter: needs dim % 8 == 0 and 16-byte aligned back, add and out");
  }
  const int64_t column_blocks = std::min<int64_t>(
      (params.dim + kCombineThreads * 8 - 1) / (kCombineThreads * 8), int64_t{65535});
  const dim3 grid(static_cast<unsigned>(params.tokens), static_cast<unsigned>(column_blocks));
  MoeCombineScatterKernel<<<grid, kCombineThreads, 0, stream>>>(params);
  return internal::LaunchStatus("moe_combine_scatter launch");
}

}  // namespace r1::kernels
