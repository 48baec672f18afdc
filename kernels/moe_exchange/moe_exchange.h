// Device side of the expert-parallel MoE exchange (DESIGN.md §6). In a group of `ranks` GPUs,
// routed expert e lives on rank expert_rank[e] as that rank's local expert expert_local[e]. Per
// MoE layer each rank sends each of its tokens to every rank that owns one of the token's top-k
// experts — once per (token, destination), however many of its experts that rank owns:
//
//  * MoeDispatchPlan: from topk_ids builds the send rows, ordered destination-major and by
//    ascending token within a destination: send_offsets [ranks + 1] (row ranges per destination),
//    send_token (the token of each row) and token_slot [tokens][ranks] (the row of a (token,
//    destination), or −1). Ids outside [0, experts) go nowhere. Deterministic.
//    With a fixed capacity C per destination (≥ tokens: a token goes to a rank at most once),
//    destination p's rows start at row p·C instead, so every rank sends and receives exactly
//    ranks·C records and the row counts never need to reach the host (a step without host waits,
//    capturable in a CUDA graph); the unused records are marked empty by MoeDispatchPack.
//  * MoeDispatchPack: writes one fixed-size record per send row (layout below): the token's
//    activation row (FP8 or BF16: the op only copies bytes), its FP8 group scales, and for each of
//    the token's top_k slots the destination-local expert id and routing weight (−1 / 0 for slots
//    whose expert lives elsewhere). The records then travel through the all-to-all.
//  * MoeRecordUnpack: on the receiving rank, splits received records into group-major scales and
//    [rows][top_k] ids / weights for MoePermute and MoeCombine (moe_permute.h); the payload stays
//    in place (the consumer gathers rows from the records with a row stride of record_bytes). Ids
//    come from a peer and are untrusted: they are copied unchanged and never used as indices here.
//  * MoeCombineScatter: back on the owner, each send row returns as one bf16 row (the weighted sum
//    of that destination's experts); out[t] = bf16(add[t] + Σ_p back[token_slot[t][p]]), in fp32,
//    add first, then destinations ascending, one round-to-nearest-even at the end.
#ifndef R1_KERNELS_MOE_EXCHANGE_MOE_EXCHANGE_H_
#define R1_KERNELS_MOE_EXCHANGE_MOE_EXCHANGE_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

inline constexpr int kMoeExchangeMaxRanks = 64;      // a token's destinations fit a uint64 mask
inline constexpr int kMoeExchangeMaxTopK = 32;       // as moe_gating
inline constexpr int kMoeExchangeMaxExperts = 1024;  // as moe_permute

struct MoeDispatchPlanParams {
  const int32_t* topk_ids = nullptr;  // [tokens][top_k] global expert ids; not null if tokens > 0
  int64_t tokens = 0;                 // ≥ 0; tokens·top_k ≤ 2^30
  int top_k = 8;                      // in [1, 32]
  int experts = 256;                  // in [1, 1024]
  const int32_t* expert_rank = nullptr;  // [experts] owner rank, values in [0, ranks); not null
  int ranks = 8;                         // in [1, 64]
  int32_t* send_offsets = nullptr;  // out [ranks + 1]: exclusive prefix of rows per destination,
                                    // send_offsets[ranks] = total rows S; not null
  int32_t* send_token = nullptr;    // out [tokens·min(top_k, ranks)] (fixed capacity:
                                    // [ranks·capacity]): token of send row s (only
                                    // the first S are written); not null if tokens > 0
  int32_t* token_slot = nullptr;  // out [tokens][ranks]: send row of (token, destination) or −1;
                                  // not null if tokens > 0
  // 0: rows packed as above. > 0: a fixed capacity per destination, ≥ tokens, ranks·capacity ≤
  // 2^30: destination p's i-th row is row p·capacity + i (send_token then has ranks·capacity
  // entries, only the used ones written; token_slot names those rows). send_offsets stays the
  // packed prefix, i.e. still gives each destination's count.
  int64_t capacity = 0;
};
absl::Status ValidateMoeDispatchPlan(const MoeDispatchPlanParams& params);
// CPU reference; pointers are host memory. Also rejects expert_rank values outside [0, ranks)
// (the CUDA kernel, which cannot report them, treats such experts as owned by nobody).
absl::Status MoeDispatchPlanReference(const MoeDispatchPlanParams& params);

// Threads of the single CTA of the plan kernel for a token count: one token per thread per tile
// of up to 1024 tokens, a multiple of 32. Pure (config choice, testable on the CPU).
int MoeDispatchPlanThreads(int64_t tokens);

// Byte layout of one dispatch record; every section starts 16-byte aligned and padding bytes are
// zero:
//   [0, payload_bytes)                  payload: the token's activation row, bytes as they are
//   [scales_offset, +4·scale_groups)    f32 scale of each 128-value group (FP8 payloads; else none)
//   [ids_offset, +4·top_k)              int32 local expert id per slot, −1 if not on this rank
//   [weights_offset, +4·top_k)          f32 routing weight per slot, 0 if not on this rank
struct MoeRecordLayout {
  int64_t payload_bytes = 0;   // > 0, multiple of 16
  int64_t scale_groups = 0;    // ≥ 0 (hidden / 128 for FP8 payloads, 0 for BF16)
  int top_k = 0;               // in [1, 32]
  int64_t scales_offset = 0;   // = payload_bytes
  int64_t ids_offset = 0;      // = scales_offset + align16(4·scale_groups)
  int64_t weights_offset = 0;  // = ids_offset + align16(4·top_k)
  int64_t record_bytes = 0;    // = weights_offset + align16(4·top_k), a multiple of 16
};
// Pure. R1 (hidden 7168, top-8): FP8 → 7168 + 224 + 32 + 32 = 7456 bytes; BF16 → 14400 bytes.
MoeRecordLayout MakeMoeRecordLayout(int64_t payload_bytes, int64_t scale_groups, int top_k);
// OK iff the sizes are in range and the offsets are those MakeMoeRecordLayout computes.
absl::Status ValidateMoeRecordLayout(const MoeRecordLayout& layout);

struct MoeDispatchPackParams {
  const uint8_t* x = nullptr;  // [tokens][x_stride] bytes: activation rows; not null if rows > 0
                               // and tokens > 0 (so too x_scale, topk_ids, topk_weights)
  int64_t x_stride = 0;        // bytes ≥ layout.payload_bytes (the CUDA kernel needs % 16 == 0)
  const float* x_scale = nullptr;  // [scale_groups][x_scale_ld] f32 group-major (token t, group
                                   // g at g·x_scale_ld + t); nullable iff layout.scale_groups == 0
  int64_t x_scale_ld = 0;          // ≥ tokens when layout.scale_groups > 0
  const int32_t* topk_ids = nullptr;      // [tokens][top_k]; not null if rows > 0
  const float* topk_weights = nullptr;    // [tokens][top_k] f32; not null if rows > 0
  int64_t tokens = 0;                     // ≥ 0
  int top_k = 8;                          // = layout.top_k
  int experts = 256;                      // in [1, 1024]
  const int32_t* expert_rank = nullptr;   // [experts] owner rank; not null
  const int32_t* expert_local = nullptr;  // [experts] index of the expert on its owner; not null
  const int32_t* send_offsets = nullptr;  // [ranks + 1] from MoeDispatchPlan; not null
  const int32_t* send_token = nullptr;    // [rows] from MoeDispatchPlan; not null if rows > 0
  int ranks = 8;                          // in [1, 64]
  int64_t rows = 0;        // records to write. Packed: the host copy of send_offsets[ranks] (the
                           // reference rejects a mismatch; the kernel writes no row at or past
                           // send_offsets[ranks]). Fixed capacity: exactly ranks·capacity.
  MoeRecordLayout layout;  // from MakeMoeRecordLayout
  uint8_t* records = nullptr;  // out [rows][layout.record_bytes]; not null if rows > 0
  // The plan's capacity (0: packed). With capacity > 0 every record is written: record
  // p·capacity + i is destination p's i-th row when i < its count, else an empty record —
  // payload left as it was, scales and weights 0, ids −1 — on which a receiver runs no expert.
  int64_t capacity = 0;
};
absl::Status ValidateMoeDispatchPack(const MoeDispatchPackParams& params);
// CPU reference; also rejects bad plan data (offsets not a prefix, tokens out of range) and
// expert_rank values outside [0, ranks) (the kernel skips such rows / never matches such ranks).
absl::Status MoeDispatchPackReference(const MoeDispatchPackParams& params);

struct MoeRecordUnpackParams {
  const uint8_t* records = nullptr;  // [rows][layout.record_bytes] received; not null if rows > 0
  int64_t rows = 0;                  // ≥ 0
  MoeRecordLayout layout;            // from MakeMoeRecordLayout (as the sender's)
  float* scale = nullptr;            // out [scale_groups][scale_ld] f32 group-major; nullable iff
                                     // layout.scale_groups == 0
  int64_t scale_ld = 0;              // ≥ rows when layout.scale_groups > 0
  int32_t* ids = nullptr;    // out [rows][top_k] local expert ids, unchecked; not null if rows > 0
  float* weights = nullptr;  // out [rows][top_k] f32; not null if rows > 0
};
absl::Status ValidateMoeRecordUnpack(const MoeRecordUnpackParams& params);
// CPU reference: bit copies (NaN patterns from a peer included).
absl::Status MoeRecordUnpackReference(const MoeRecordUnpackParams& params);

struct MoeCombineScatterParams {
  const uint16_t* back = nullptr;       // [back_rows][dim] bf16, one row per send row, in send
                                        // row order; not null if back_rows > 0
  int64_t back_rows = 0;                // ≥ 0 (= S)
  const int32_t* token_slot = nullptr;  // [tokens][ranks] from MoeDispatchPlan; not null if
                                        // tokens > 0; values < 0 are skipped
  int ranks = 8;                        // in [1, 64]
  const uint16_t* add = nullptr;        // [tokens][dim] bf16 shared-expert output; nullable
  uint16_t* out = nullptr;              // [tokens][dim] bf16; not null if tokens > 0; may be add
  int64_t tokens = 0;                   // ≥ 0, ≤ 2^30
  int64_t dim = 0;                      // > 0 (the CUDA kernel needs dim % 8 == 0)
};
absl::Status ValidateMoeCombineScatter(const MoeCombineScatterParams& params);
// CPU reference; also rejects slots ≥ back_rows (the kernel, which cannot report them, skips them).
absl::Status MoeCombineScatterReference(const MoeCombineScatterParams& params);

}  // namespace r1::kernels

#endif  // R1_KERNELS_MOE_EXCHANGE_MOE_EXCHANGE_H_
