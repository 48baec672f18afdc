// In-place processing of fp32 logit rows before sampling (request options of DESIGN.md §4:
// OpenAI logit_bias and presence/frequency penalties, Hugging Face repetition penalty, and the
// untrained padding ids past the tokenizer's). Per row, in this order:
//
//  1. biases: logit[id] += bias for every (id, bias) entry of the row, in CSR order (an id may
//     repeat: its biases add one after the other; a bias of −inf bans the id);
//  2. repetition penalty r (Hugging Face), for each history id:
//       logit = logit > 0 ? logit / r : logit · r;
//  3. frequency f and presence p penalties (OpenAI), for each history id generated c > 0 times:
//       logit = logit − fma(f, c, p)      (f·c + p rounded once, so every backend agrees);
//  4. ids in [valid_vocab, vocab) become −inf.
//
// History ids are distinct within a row, so each logit receives at most one step-2 and one
// step-3 update: the GPU result equals the reference bit for bit. A null penalty array skips its
// step for every row (r = 1, f = p = 0); step 3 runs when either f or p is given.
#ifndef R1_KERNELS_LOGITS_PROCESS_LOGITS_PROCESS_H_
#define R1_KERNELS_LOGITS_PROCESS_LOGITS_PROCESS_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

struct LogitsProcessParams {
  float* logits = nullptr;    // [rows][logits_stride] f32, modified in place; not null
  int64_t logits_stride = 0;  // ≥ vocab
  int64_t rows = 0;           // ≥ 0
  int64_t vocab = 0;          // > 0, < 2^31
  int64_t valid_vocab = 0;    // ids ≥ valid_vocab become −inf; 0 < valid_vocab ≤ vocab
  const float* presence_penalty = nullptr;    // [rows]; nullable (= 0 for every row)
  const float* frequency_penalty = nullptr;   // [rows]; nullable (= 0)
  const float* repetition_penalty = nullptr;  // [rows]; nullable (= 1); each > 0
  // Token history of each row, CSR: row r's entries are [history_offsets[r], history_offsets[r+1]).
  const int32_t* history_offsets = nullptr;  // [rows + 1], non-decreasing, ≥ 0; nullable iff all
                                             // penalty arrays are null (then unused)
  const int32_t* history_ids = nullptr;  // [history_offsets[rows]] distinct ids within a row, each
                                         // in [0, vocab); not null when history_offsets is set
  const int32_t* history_output_counts = nullptr;  // [history_offsets[rows]] times the id was
                                                   // generated (0 = prompt only), ≥ 0; not null
                                                   // when history_offsets is set
  // Additive biases, CSR; a bias may be −inf (a banned id). Ids may repeat (biases add).
  const int32_t* bias_offsets = nullptr;  // [rows + 1], non-decreasing, ≥ 0; nullable (= no biases)
  const int32_t* bias_ids = nullptr;      // [bias_offsets[rows]] each in [0, vocab); not null when
                                          // bias_offsets is set
  const float* bias_values = nullptr;     // [bias_offsets[rows]]; not null when bias_offsets is set
};

// Checks what the host can see without reading the arrays: shapes, valid_vocab's range and the
// presence of every pointer the other pointers require.
absl::Status ValidateLogitsProcess(const LogitsProcessParams& p);

// CPU reference; pointers are host memory. Also checks the arrays' contents (offsets
// non-decreasing and ≥ 0, ids in [0, vocab), history ids distinct within a row, counts ≥ 0,
// repetition penalties > 0) and returns InvalidArgument, leaving the logits untouched, if one
// fails.
absl::Status LogitsProcessReference(const LogitsProcessParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_LOGITS_PROCESS_LOGITS_PROCESS_H_
