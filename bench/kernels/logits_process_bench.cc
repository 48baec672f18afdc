// Logit processing over R1's 129280-token vocabulary (465 padding ids masked): every option
// (4096 history ids per row, a quarter of them generated, all three penalties, 64 biases of which
// 16 repeat an id) and the padding mask alone. Bytes: what the op must touch — the history and
// bias entries, a read and a write per processed logit, the masked tail — so the ratio to HBM
// shows how far from the launch floor it runs. The logits change in place on every call (the
// time does not depend on their values).
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/logits_process/logits_process.h"
#include "kernels/logits_process/logits_process_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

constexpr int64_t kVocab = 129280, kValidVocab = 128815;
constexpr int kHistory = 4096, kBiases = 64;

void PrintBw(const char* what, double us, double bytes) {
  const double gbs = bytes / us / 1e3;
  std::printf("%-52s %9.2f us %8.1f GB/s (%.3f of HBM %.0f GB/s)\n", what, us, gbs,
              gbs / (bench::kHbmTBs * 1e3), bench::kHbmTBs * 1e3);
}

void Bench(int64_t rows, bool options) {
  std::mt19937 rng(11);
  DeviceBuffer<float> logits(rows * kVocab);
  bench::FillTiled(logits.get(), logits.size(),
                   kernels::testing::RandomFloat(1 << 20, rng, -10.0f, 10.0f));
  std::vector<int32_t> hoff{0}, hids, counts, boff{0}, bids;
  std::vector<float> bvals;
  std::vector<int32_t> perm(kVocab);
  std::iota(perm.begin(), perm.end(), 0);
  for (int64_t r = 0; r < rows; ++r) {
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int j = 0; j < kHistory; ++j) {
      hids.push_back(perm[j]);
      counts.push_back(j % 4 == 0 ? 1 + j % 7 : 0);
    }
    hoff.push_back(static_cast<int32_t>(hids.size()));
    for (int j = 0; j < kBiases; ++j) {
      bids.push_back(j < kBiases - 16 ? perm[kHistory + j] : perm[kHistory + j % 8]);
      bvals.push_back(j % 8 == 7 ? -100.0f : 2.5f);
    }
    boff.push_back(static_cast<int32_t>(bids.size()));
  }
  DeviceBuffer<int32_t> dhoff(hoff), dhids(hids), dcounts(counts), dboff(boff), dbids(bids);
  DeviceBuffer<float> dbvals(bvals), pres(std::vector<float>(rows, 0.5f)),
      freq(std::vector<float>(rows, 0.25f)), rep(std::vector<float>(rows, 1.1f));
  kernels::LogitsProcessParams p;
  p.logits = logits.get();
  p.logits_stride = kVocab;
  p.rows = rows;
  p.vocab = kVocab;
  p.valid_vocab = kValidVocab;
  double bytes = rows * ((kVocab - kValidVocab) * 4.0);
  if (options) {
    p.presence_penalty = pres.get();
    p.frequency_penalty = freq.get();
    p.repetition_penalty = rep.get();
    p.history_offsets = dhoff.get();
    p.history_ids = dhids.get();
    p.history_output_counts = dcounts.get();
    p.bias_offsets = dboff.get();
    p.bias_ids = dbids.get();
    p.bias_values = dbvals.get();
    bytes += rows * (kHistory * 16.0 + kBiases * 16.0 + 2 * 8.0 + 3 * 4.0);
  }
  bench::Check(kernels::LaunchLogitsProcess(p, nullptr), "logits_process");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchLogitsProcess(p, nullptr); });
  char what[96];
  std::snprintf(what, sizeof what, "logits_process %s rows=%ld",
                options ? "penalties+bias+mask" : "mask only", static_cast<long>(rows));
  PrintBw(what, us, bytes);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  for (int64_t r : {1, 8, 64, 256}) {
    r1::Bench(r, true);
    r1::Bench(r, false);
  }
  return 0;
}
