// Timing of MTP speculative decode steps on a CudaModel (r1_rank_bench --speculative): per step
// the calls Engine makes for sequences that verify k greedy drafts — one forward of 1 + k tokens
// per sequence (decode attention, every position's token chosen on the device, final hidden
// states), then k MTP passes
// (the catch-up over the k + 1 positions just cached, then k − 1 chained drafts). Every draft is
// taken as accepted (the most rows every pass can have); the sequences' lengths are rolled back
// after each step, so every step verifies at the same context. Synthetic weights make the drafts
// themselves meaningless: what a user gets per step is projected from an acceptance rate.
#ifndef R1_BENCH_SERVING_R1_RANK_SPECULATIVE_STEPS_H_
#define R1_BENCH_SERVING_R1_RANK_SPECULATIVE_STEPS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "worker/backend/cuda_model.h"

namespace r1 {

struct SpeculativeStepTimes {
  double verify_s = 0;  // median seconds of the verifying forward
  double draft_s = 0;   // median seconds of the k MTP passes together
  double step_s = 0;    // median seconds of the whole step
};

// `seqs` hold `length` cached positions and capacity for length + 2k + 2. Runs 2 untimed and
// `steps` timed steps of k drafts (k ≥ 1); needs a model with the MTP module.
absl::StatusOr<SpeculativeStepTimes> TimeSpeculativeSteps(CudaModel& model, PagedKvCache& cache,
                                                          std::vector<KvSequence>& seqs, int k,
                                                          int steps);

// Expected tokens a sequence gains per step with k drafts, each accepted with probability
// `acceptance` when all before it were: 1 + a + a² + … + a^k.
double ExpectedTokensPerStep(int k, double acceptance);

}  // namespace r1

#endif  // R1_BENCH_SERVING_R1_RANK_SPECULATIVE_STEPS_H_
