#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/numeric.h"
#include "kernels/moe_exchange/moe_exchange.h"

namespace r1::kernels {
namespace {

int64_t Align16(int64_t bytes) { return (bytes + 15) / 16 * 16; }

bool TopKInRange(int top_k) { return top_k >= 1 && top_k <= kMoeExchangeMaxTopK; }
bool ExpertsInRange(int experts) { return experts >= 1 && experts <= kMoeExchangeMaxExperts; }
bool RanksInRange(int ranks) { return ranks >= 1 && ranks <= kMoeExchangeMaxRanks; }

// Send rows one rank produces at most: each token goes to at most min(top_k, ranks) ranks.
int64_t SendCapacity(int64_t tokens, int top_k, int ranks) {
  return tokens * std::min(top_k, ranks);
}

absl::Status CheckExpertRanks(const int32_t* expert_rank, int experts, int ranks, const char* op) {
  for (int e = 0; e < experts; ++e) {
    if (expert_rank[e] < 0 || expert_rank[e] >= ranks) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": expert_rank[", e, "] = ", expert_rank[e], " not in [0, ", ranks, ")"));
    }
  }
  return absl::OkStatus();
}

// 0 (packed rows) or a fixed per-destination capacity that holds every token.
bool CapacityValid(int64_t capacity, int64_t tokens, int ranks) {
  return capacity == 0 || (capacity >= tokens && capacity * ranks <= (int64_t{1} << 30));
}

// Bit copy of a 4-byte value (keeps every NaN pattern).
void Copy4(void* dst, const void* src) { std::memcpy(dst, src, 4); }

}  // namespace

absl::Status ValidateMoeDispatchPlan(const MoeDispatchPlanParams& params) {
  if (params.tokens < 0 || !TopKInRange(params.top_k) || !ExpertsInRange(params.experts) ||
      !RanksInRange(params.ranks) || params.tokens * params.top_k > (int64_t{1} << 30) ||
      !CapacityValid(params.capacity, params.tokens, params.ranks)) {
    return absl::InvalidArgumentError("moe_dispatch_plan: bad sizes");
  }
  if (params.expert_rank == nullptr || params.send_offsets == nullptr ||
      (params.tokens > 0 && (params.topk_ids == nullptr || params.send_token == nullptr ||
                             params.token_slot == nullptr))) {
    return absl::InvalidArgumentError("moe_dispatch_plan: null pointer");
  }
  return absl::OkStatus();
}

absl::Status MoeDispatchPlanReference(const MoeDispatchPlanParams& params) {
  if (auto st = ValidateMoeDispatchPlan(params); !st.ok()) return st;
  if (auto st =
          CheckExpertRanks(params.expert_rank, params.experts, params.ranks, "moe_dispatch_plan");
      !st.ok()) {
    return st;
  }
  // Destination set of every token, then a counting sort by destination (stable in tokens).
  std::vector<uint64_t> dest_mask(params.tokens, 0);
  std::vector<int32_t> cursor(params.ranks + 1, 0);
  for (int64_t t = 0; t < params.tokens; ++t) {
    for (int j = 0; j < params.top_k; ++j) {
      const int32_t expert = params.topk_ids[t * params.top_k + j];
      if (expert < 0 || expert >= params.experts) continue;
      dest_mask[t] |= uint64_t{1} << params.expert_rank[expert];
    }
    for (int rank = 0; rank < params.ranks; ++rank) {
      if ((dest_mask[t] >> rank) & 1) ++cursor[rank + 1];
    }
  }
  for (int rank = 0; rank < params.ranks; ++rank) cursor[rank + 1] += cursor[rank];
  for (int rank = 0; rank <= params.ranks; ++rank) params.send_offsets[rank] = cursor[rank];
  for (int rank = 0; rank < params.ranks; ++rank) {
    for (int64_t t = 0; t < params.tokens; ++t) {
      int32_t row = -1;
      if ((dest_mask[t] >> rank) & 1) {
        row = cursor[rank]++;
        if (params.capacity > 0) {
          row = static_cast<int32_t>(rank * params.capacity + row - params.send_offsets[rank]);
        }
        params.send_token[row] = static_cast<int32_t>(t);
      }
      params.token_slot[t * params.ranks + rank] = row;
    }
  }
  return absl::OkStatus();
}

int MoeDispatchPlanThreads(int64_t tokens) {
  const int64_t rounded = (std::max<int64_t>(tokens, 1) + 31) / 32 * 32;
  return static_cast<int>(std::min<int64_t>(rounded, 1024));
}

MoeRecordLayout MakeMoeRecordLayout(int64_t payload_bytes, int64_t scale_groups, int top_k) {
  MoeRecordLayout layout;
  layout.payload_bytes = payload_bytes;
  layout.scale_groups = scale_groups;
  layout.top_k = top_k;
  layout.scales_offset = Align16(payload_bytes);
  layout.ids_offset = layout.scales_offset + Align16(4 * scale_groups);
  layout.weights_offset = layout.ids_offset + Align16(4 * int64_t{top_k});
  layout.record_bytes = layout.weights_offset + Align16(4 * int64_t{top_k});
  return layout;
}

absl::Status ValidateMoeRecordLayout(const MoeRecordLayout& layout) {
  if (layout.payload_bytes <= 0 || layout.payload_bytes % 16 != 0 ||
      layout.payload_bytes > (int64_t{1} << 30) || layout.scale_groups < 0 ||
      layout.scale_groups > (int64_t{1} << 20) || !TopKInRange(layout.top_k)) {
    return absl::InvalidArgumentError(
        absl::StrCat("moe_record_layout: bad sizes (payload_bytes ", layout.payload_bytes,
                     " must be a positive multiple of 16; scale_groups ", layout.scale_groups,
                     "; top_k ", layout.top_k, ")"));
  }
  const MoeRecordLayout want =
      MakeMoeRecordLayout(layout.payload_bytes, layout.scale_groups, layout.top_k);
  if (layout.scales_offset != want.scales_offset || layout.ids_offset != want.ids_offset ||
      layout.weights_offset != want.weights_offset || layout.record_bytes != want.record_bytes) {
    return absl::InvalidArgumentError("moe_record_layout: offsets differ from MakeMoeRecordLayout");
  }
  return absl::OkStatus();
}

absl::Status ValidateMoeDispatchPack(const MoeDispatchPackParams& params) {
  if (auto st = ValidateMoeRecordLayout(params.layout); !st.ok()) return st;
  const MoeRecordLayout& layout = params.layout;
  if (params.tokens < 0 || params.top_k != layout.top_k || !ExpertsInRange(params.experts) ||
      !RanksInRange(params.ranks) || params.tokens * params.top_k > (int64_t{1} << 30) ||
      !CapacityValid(params.capacity, params.tokens, params.ranks) || params.rows < 0 ||
      params.rows > (params.capacity > 0
                         ? params.capacity * params.ranks
                         : SendCapacity(params.tokens, params.top_k, params.ranks)) ||
      (params.capacity > 0 && params.rows != params.capacity * params.ranks) ||
      params.x_stride < layout.payload_bytes ||
      (layout.scale_groups > 0 && params.x_scale_ld < params.tokens)) {
    return absl::InvalidArgumentError("moe_dispatch_pack: bad sizes");
  }
  if (params.expert_rank == nullptr || params.expert_local == nullptr ||
      params.send_offsets == nullptr) {
    return absl::InvalidArgumentError("moe_dispatch_pack: null pointer");
  }
  // A fixed-capacity block of a rank without tokens is all empty records: no row data needed.
  const bool reads_rows = params.rows > 0 && params.tokens > 0;
  if ((params.rows > 0 && (params.records == nullptr || params.send_token == nullptr)) ||
      (reads_rows &&
       (params.x == nullptr || params.topk_ids == nullptr || params.topk_weights == nullptr ||
        (layout.scale_groups > 0 && params.x_scale == nullptr)))) {
    return absl::InvalidArgumentError("moe_dispatch_pack: null pointer");
  }
  return absl::OkStatus();
}

absl::Status MoeDispatchPackReference(const MoeDispatchPackParams& params) {
  if (auto st = ValidateMoeDispatchPack(params); !st.ok()) return st;
  if (auto st =
          CheckExpertRanks(params.expert_rank, params.experts, params.ranks, "moe_dispatch_pack");
      !st.ok()) {
    return st;
  }
  const int32_t* offsets = params.send_offsets;
  const bool fixed = params.capacity > 0;
  if (offsets[0] != 0 || (!fixed && offsets[params.ranks] != params.rows)) {
    return absl::InvalidArgumentError(absl::StrCat("moe_dispatch_pack: rows ", params.rows,
                                                   " != send_offsets[ranks] ",
                                                   offsets[params.ranks]));
  }
  for (int rank = 0; rank < params.ranks; ++rank) {
    if (offsets[rank + 1] < offsets[rank]) {
      return absl::InvalidArgumentError("moe_dispatch_pack: send_offsets decrease");
    }
    if (fixed && offsets[rank + 1] - offsets[rank] > params.capacity) {
      return absl::InvalidArgumentError("moe_dispatch_pack: a destination exceeds the capacity");
    }
  }
  const MoeRecordLayout& layout = params.layout;
  for (int dest = 0; dest < params.ranks; ++dest) {
    const int64_t count = offsets[dest + 1] - offsets[dest];
    const int64_t first = fixed ? dest * params.capacity : offsets[dest];
    const int64_t end = fixed ? first + params.capacity : offsets[dest + 1];
    for (int64_t row = first; row < end; ++row) {
      uint8_t* record = params.records + row * layout.record_bytes;
      if (row - first >= count) {  // an empty record of a fixed-capacity block
        std::memset(record + layout.scales_offset, 0, layout.record_bytes - layout.scales_offset);
        std::memset(record + layout.ids_offset, 0xff, 4 * params.top_k);
        continue;
      }
      const int32_t token = params.send_token[row];
      if (token < 0 || token >= params.tokens) {
        return absl::InvalidArgumentError(
            absl::StrCat("moe_dispatch_pack: send_token[", row, "] = ", token, " out of range"));
      }
      std::memset(record, 0, layout.record_bytes);  // padding is zero
      std::memcpy(record, params.x + token * params.x_stride, layout.payload_bytes);
      for (int64_t g = 0; g < layout.scale_groups; ++g) {
        Copy4(record + layout.scales_offset + 4 * g,
              params.x_scale + g * params.x_scale_ld + token);
      }
      for (int j = 0; j < params.top_k; ++j) {
        const int32_t expert = params.topk_ids[token * params.top_k + j];
        int32_t local = -1;
        float weight = 0.0f;
        const bool here =
            expert >= 0 && expert < params.experts && params.expert_rank[expert] == dest;
        if (here) local = params.expert_local[expert];
        Copy4(record + layout.ids_offset + 4 * j, &local);
        if (here) {
          Copy4(record + layout.weights_offset + 4 * j,
                params.topk_weights + token * params.top_k + j);
        } else {
          Copy4(record + layout.weights_offset + 4 * j, &weight);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateMoeRecordUnpack(const MoeRecordUnpackParams& params) {
  if (auto st = ValidateMoeRecordLayout(params.layout); !st.ok()) return st;
  if (params.rows < 0 || params.rows > (int64_t{1} << 30) ||
      (params.layout.scale_groups > 0 && params.scale_ld < params.rows)) {
    return absl::InvalidArgumentError("moe_record_unpack: bad sizes");
  }
  if (params.rows > 0 &&
      (params.records == nullptr || params.ids == nullptr || params.weights == nullptr ||
       (params.layout.scale_groups > 0 && params.scale == nullptr))) {
    return absl::InvalidArgumentError("moe_record_unpack: null pointer");
  }
  return absl::OkStatus();
}

absl::Status MoeRecordUnpackReference(const MoeRecordUnpackParams& params) {
  if (auto st = ValidateMoeRecordUnpack(params); !st.ok()) return st;
  const MoeRecordLayout& layout = params.layout;
  for (int64_t row = 0; row < params.rows; ++row) {
    const uint8_t* record = params.records + row * layout.record_bytes;
    for (int64_t g = 0; g < layout.scale_groups; ++g) {
      Copy4(params.scale + g * params.scale_ld + row, record + layout.scales_offset + 4 * g);
    }
    for (int j = 0; j < layout.top_k; ++j) {
      Copy4(params.ids + row * layout.top_k + j, record + layout.ids_offset + 4 * j);
      Copy4(params.weights + row * layout.top_k + j, record + layout.weights_offset + 4 * j);
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateMoeCombineScatter(const MoeCombineScatterParams& params) {
  if (params.tokens < 0 || params.tokens > (int64_t{1} << 30) || !RanksInRange(params.ranks) ||
      params.dim <= 0 || params.back_rows < 0) {
    return absl::InvalidArgumentError("moe_combine_scatter: bad sizes");
  }
  if ((params.tokens > 0 && (params.token_slot == nullptr || params.out == nullptr)) ||
      (params.back_rows > 0 && params.back == nullptr)) {
    return absl::InvalidArgumentError("moe_combine_scatter: null pointer");
  }
  return absl::OkStatus();
}

absl::Status MoeCombineScatterReference(const MoeCombineScatterParams& params) {
  if (auto st = ValidateMoeCombineScatter(params); !st.ok()) return st;
  for (int64_t i = 0; i < params.tokens * params.ranks; ++i) {
    if (params.token_slot[i] >= params.back_rows) {
      return absl::InvalidArgumentError(absl::StrCat("moe_combine_scatter: token_slot[", i,
                                                     "] = ", params.token_slot[i], " >= back_rows ",
                                                     params.back_rows));
    }
  }
  std::vector<float> acc(params.dim);
  for (int64_t t = 0; t < params.tokens; ++t) {
    for (int64_t d = 0; d < params.dim; ++d) {
      acc[d] = params.add ? Bf16ToFloat(params.add[t * params.dim + d]) : 0.0f;
    }
    for (int rank = 0; rank < params.ranks; ++rank) {
      const int64_t slot = params.token_slot[t * params.ranks + rank];
      if (slot < 0) continue;
      for (int64_t d = 0; d < params.dim; ++d) {
        acc[d] += Bf16ToFloat(params.back[slot * params.dim + d]);
      }
    }
    for (int64_t d = 0; d < params.dim; ++d) params.out[t * params.dim + d] = FloatToBf16(acc[d]);
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
