// GPU test (label gpu): logit processing equals the CPU reference bit for bit (stride padding
// included) on random rows — R1's vocabulary with its padding ids masked and small odd
// vocabularies, 1 to 256 rows, thousands of history ids, repeated bias ids with magnitudes whose
// sum depends on the order, −inf biases and logits, zeros, null arrays (each penalty alone, biases
// alone, none) — and the same launch captured in a CUDA graph and replayed.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/logits_process/logits_process.h"
#include "kernels/logits_process/logits_process_cuda.h"

namespace r1::kernels {
namespace {

using testing::CheckCuda;
using testing::DeviceBuffer;

struct Case {
  int64_t rows, vocab, valid_vocab, stride;
  int max_history, max_bias;
  bool presence, frequency, repetition, bias;
};

// Host inputs of one case and the reference's result.
struct Inputs {
  std::vector<float> logits, want, presence, frequency, repetition, bias_values;
  std::vector<int32_t> history_offsets, history_ids, history_counts, bias_offsets, bias_ids;
};

Inputs MakeInputs(const Case& c, std::mt19937& rng) {
  Inputs in;
  in.logits = testing::RandomFloat(c.rows * c.stride, rng, -10.0f, 10.0f);
  std::uniform_int_distribution<int64_t> any(0, c.rows * c.stride - 1);
  for (int i = 0; i < c.rows * 4; ++i) in.logits[any(rng)] = 0.0f;
  for (int i = 0; i < c.rows * 2; ++i) in.logits[any(rng)] = -INFINITY;
  std::uniform_real_distribution<float> pen(-2.0f, 2.0f), rep(0.5f, 2.0f);
  for (int64_t r = 0; r < c.rows; ++r) {
    in.presence.push_back(pen(rng));
    in.frequency.push_back(pen(rng));
    in.repetition.push_back(r % 5 == 0 ? 1.0f : rep(rng));
  }
  // CSR lists start at offset 3 (the first entries belong to no row).
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(c.vocab - 1));
  std::uniform_int_distribution<int32_t> count(-3, 6);  // ≤ 0 → prompt only (0)
  std::vector<char> seen(c.vocab);
  in.history_offsets.push_back(3);
  in.history_ids = {0, 0, 0};
  in.history_counts = {0, 0, 0};
  for (int64_t r = 0; r < c.rows; ++r) {
    const int n = std::uniform_int_distribution<int>(0, c.max_history)(rng);
    std::fill(seen.begin(), seen.end(), 0);
    for (int j = 0; j < n && j < c.vocab; ++j) {
      int32_t t;
      do t = id(rng);
      while (seen[t]);
      seen[t] = 1;
      in.history_ids.push_back(t);
      in.history_counts.push_back(std::max(0, count(rng)));
    }
    in.history_offsets.push_back(static_cast<int32_t>(in.history_ids.size()));
  }
  // Biases: ids from a small pool (many repeats), values mixing ±1e8 with small ones (the sum
  // depends on the order) and −inf bans.
  const float values[] = {1e8f, -1e8f, 1.0f, -0.5f, 0.375f, 3.0f, -INFINITY};
  std::uniform_int_distribution<int> value(0, 6);
  in.bias_offsets.push_back(3);
  in.bias_ids = {0, 0, 0};
  in.bias_values = {0.0f, 0.0f, 0.0f};
  for (int64_t r = 0; r < c.rows; ++r) {
    const int n = std::uniform_int_distribution<int>(0, c.max_bias)(rng);
    std::vector<int32_t> pool(1 + n / 4);
    for (auto& t : pool) t = id(rng);
    std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
    for (int j = 0; j < n; ++j) {
      in.bias_ids.push_back(pool[pick(rng)]);
      in.bias_values.push_back(j % 11 == 10 ? values[6] : values[value(rng) % 6]);
    }
    in.bias_offsets.push_back(static_cast<int32_t>(in.bias_ids.size()));
  }
  return in;
}

LogitsProcessParams HostParams(const Case& c, Inputs& in) {
  LogitsProcessParams p;
  p.logits = in.want.data();
  p.logits_stride = c.stride;
  p.rows = c.rows;
  p.vocab = c.vocab;
  p.valid_vocab = c.valid_vocab;
  p.presence_penalty = c.presence ? in.presence.data() : nullptr;
  p.frequency_penalty = c.frequency ? in.frequency.data() : nullptr;
  p.repetition_penalty = c.repetition ? in.repetition.data() : nullptr;
  if (c.presence || c.frequency || c.repetition) {
    p.history_offsets = in.history_offsets.data();
    p.history_ids = in.history_ids.data();
    p.history_output_counts = in.history_counts.data();
  }
  if (c.bias) {
    p.bias_offsets = in.bias_offsets.data();
    p.bias_ids = in.bias_ids.data();
    p.bias_values = in.bias_values.data();
  }
  return p;
}

// Bit-for-bit equality, any NaN equal to any NaN (payloads may differ).
void ExpectSameBits(const std::vector<float>& got, const std::vector<float>& want, int id) {
  ASSERT_EQ(got.size(), want.size());
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]) && std::isnan(want[i])) continue;
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      if (++bad <= 5) {
        ADD_FAILURE() << "case " << id << " i=" << i << " " << got[i] << " vs " << want[i];
      }
    }
  }
  EXPECT_EQ(bad, 0) << "case " << id;
}

// Device copies of every array; `params` points at them.
struct DeviceInputs {
  DeviceBuffer<float> logits, presence, frequency, repetition, bias_values;
  DeviceBuffer<int32_t> history_offsets, history_ids, history_counts, bias_offsets, bias_ids;
  LogitsProcessParams params;

  DeviceInputs(const LogitsProcessParams& host, const Inputs& in)
      : logits(in.logits),
        presence(in.presence),
        frequency(in.frequency),
        repetition(in.repetition),
        bias_values(in.bias_values),
        history_offsets(in.history_offsets),
        history_ids(in.history_ids),
        history_counts(in.history_counts),
        bias_offsets(in.bias_offsets),
        bias_ids(in.bias_ids),
        params(host) {
    LogitsProcessParams& p = params;
    p.logits = logits.get();
    if (p.presence_penalty) p.presence_penalty = presence.get();
    if (p.frequency_penalty) p.frequency_penalty = frequency.get();
    if (p.repetition_penalty) p.repetition_penalty = repetition.get();
    if (p.history_offsets) {
      p.history_offsets = history_offsets.get();
      p.history_ids = history_ids.get();
      p.history_output_counts = history_counts.get();
    }
    if (p.bias_offsets) {
      p.bias_offsets = bias_offsets.get();
      p.bias_ids = bias_ids.get();
      p.bias_values = bias_values.get();
    }
  }
};

TEST(LogitsProcessGpuTest, MatchesReference) {
  int id = 0;
  for (const Case& c : {
           Case{1, 129280, 128815, 129280, 4000, 300, true, true, true, true},
           Case{64, 129280, 128815, 129280, 2000, 40, true, true, true, true},
           Case{256, 129280, 129280, 129280, 600, 8, true, true, true, true},
           Case{7, 1001, 1000, 1003, 900, 600, true, true, true, true},
           Case{33, 37, 31, 37, 37, 50, true, true, true, true},
           Case{19, 1001, 999, 1001, 500, 20, true, false, false, false},
           Case{19, 1001, 999, 1001, 500, 20, false, true, false, true},
           Case{19, 1001, 999, 1001, 500, 20, false, false, true, false},
           Case{19, 1001, 1001, 1001, 500, 20, false, false, false, true},
           Case{5, 129280, 128815, 129296, 0, 0, false, false, false, false},
       }) {
    ++id;
    std::mt19937 rng(id);
    Inputs in = MakeInputs(c, rng);
    in.want = in.logits;
    const LogitsProcessParams host = HostParams(c, in);
    ASSERT_TRUE(LogitsProcessReference(host).ok()) << "case " << id;
    DeviceInputs dev(host, in);
    ASSERT_TRUE(LaunchLogitsProcess(dev.params, nullptr).ok()) << "case " << id;
    ExpectSameBits(dev.logits.Download(), in.want, id);
  }
}

TEST(LogitsProcessGpuTest, GraphCaptureAndReplay) {
  const Case c{48, 129280, 128815, 129280, 1500, 30, true, true, true, true};
  std::mt19937 rng(99);
  Inputs in = MakeInputs(c, rng);
  in.want = in.logits;
  const LogitsProcessParams host = HostParams(c, in);
  ASSERT_TRUE(LogitsProcessReference(host).ok());
  DeviceInputs dev(host, in);
  cudaStream_t stream;
  CheckCuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CheckCuda(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), "begin capture");
  ASSERT_TRUE(LaunchLogitsProcess(dev.params, stream).ok());
  CheckCuda(cudaStreamEndCapture(stream, &graph), "end capture");
  CheckCuda(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  // The capture ran nothing: the logits are still the inputs.
  ExpectSameBits(dev.logits.Download(), in.logits, 0);
  for (int replay = 0; replay < 2; ++replay) {
    dev.logits.Upload(in.logits);
    CheckCuda(cudaGraphLaunch(exec, stream), "graph launch");
    CheckCuda(cudaStreamSynchronize(stream), "sync");
    ExpectSameBits(dev.logits.Download(), in.want, replay + 1);
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace r1::kernels
