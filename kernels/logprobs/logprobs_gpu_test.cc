// GPU test (label gpu): logprobs against the CPU reference — logprobs within 1e-4, identical
// top ids — on R1's vocabulary and small odd ones, 1 to 256 rows, top_n 0, 1, 5, 20, the
// float4 path (with and without a tail) and the scalar path (odd stride, misaligned rows),
// −inf and NaN entries, a row with all but one −inf, rows whose max is not finite; top-20
// logits spaced well apart, plus rows of exact ties (the id-ascending order); and the launch
// captured in a CUDA graph and replayed.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/logprobs/logprobs.h"
#include "kernels/logprobs/logprobs_cuda.h"

namespace r1::kernels {
namespace {

using testing::CheckCuda;
using testing::DeviceBuffer;

struct Case {
  int64_t rows, vocab, stride;
  int32_t top_n;
  bool misaligned;  // rows start one float past a 16-byte boundary (the scalar path)
  bool ties;        // logits on a 0.5 grid: many exact ties at the top
};

struct Inputs {
  std::vector<float> logits;
  std::vector<int32_t> chosen;
};

// Random rows; unless `ties`, the 20 largest logits are 9 + 0.05·k at random ids, every other
// logit < 8. Row 1 has one finite logit, row 2 only −inf and NaN, row 3 a +inf.
Inputs MakeInputs(const Case& c, std::mt19937& rng) {
  Inputs in;
  in.logits = testing::RandomFloat(c.rows * c.stride, rng, -10.0f, 8.0f);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(c.vocab - 1));
  for (int64_t r = 0; r < c.rows; ++r) {
    float* row = in.logits.data() + r * c.stride;
    if (c.ties) {
      for (int64_t i = 0; i < c.vocab; ++i) row[i] = std::round(row[i] * 2.0f) / 2.0f;
    }
    for (int64_t i = 0; i < c.vocab / 100; ++i) row[id(rng)] = -INFINITY;
    for (int64_t i = 0; i < c.vocab / 1000; ++i) row[id(rng)] = NAN;
    if (!c.ties) {
      for (int k = 0; k < 20 && k < c.vocab; ++k) row[id(rng)] = 9.0f + 0.05f * k;
    }
    int32_t chosen = id(rng);
    if (r == 1) {
      for (int64_t i = 0; i < c.vocab; ++i) row[i] = -INFINITY;
      row[chosen] = 2.5f;
    } else if (r == 2) {
      for (int64_t i = 0; i < c.vocab; ++i) row[i] = i % 3 == 0 ? NAN : -INFINITY;
    } else if (r == 3) {
      row[id(rng)] = INFINITY;
    } else if (r % 7 == 4) {
      row[chosen] = r % 2 ? -INFINITY : NAN;
    }
    in.chosen.push_back(chosen);
  }
  return in;
}

bool Close(float got, float want) {
  if (std::isnan(got) || std::isnan(want)) return std::isnan(got) && std::isnan(want);
  if (std::isinf(got) || std::isinf(want)) return got == want;
  return std::fabs(got - want) <= 1e-4f;
}

struct Outputs {
  std::vector<float> chosen, top;
  std::vector<int32_t> ids;
};

void ExpectMatch(const Outputs& got, const Outputs& want, const std::string& what) {
  ASSERT_EQ(got.ids, want.ids) << what;
  int bad = 0;
  for (size_t i = 0; i < want.chosen.size(); ++i) {
    if (!Close(got.chosen[i], want.chosen[i]) && ++bad <= 5) {
      ADD_FAILURE() << what << " chosen row " << i << ": " << got.chosen[i] << " vs "
                    << want.chosen[i];
    }
  }
  for (size_t i = 0; i < want.top.size(); ++i) {
    if (!Close(got.top[i], want.top[i]) && ++bad <= 5) {
      ADD_FAILURE() << what << " top " << i << ": " << got.top[i] << " vs " << want.top[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

Outputs Reference(const Case& c, const Inputs& in) {
  Outputs want;
  want.chosen.resize(c.rows);
  want.ids.resize(c.rows * c.top_n);
  want.top.resize(c.rows * c.top_n);
  const LogprobsParams p{in.logits.data(),
                         c.stride,
                         c.rows,
                         c.vocab,
                         in.chosen.data(),
                         c.top_n,
                         want.chosen.data(),
                         c.top_n ? want.ids.data() : nullptr,
                         c.top_n ? want.top.data() : nullptr};
  EXPECT_TRUE(LogprobsReference(p).ok());
  return want;
}

// Device copies; `params` points at them (the logits one float in when misaligned).
struct DeviceInputs {
  DeviceBuffer<float> logits, out_chosen, out_top;
  DeviceBuffer<int32_t> chosen, out_ids;
  LogprobsParams params;

  DeviceInputs(const Case& c, const Inputs& in)
      : logits(in.logits.size() + 1),
        out_chosen(c.rows),
        out_top(c.rows * c.top_n),
        chosen(in.chosen),
        out_ids(c.rows * c.top_n) {
    const int64_t shift = c.misaligned ? 1 : 0;
    CheckCuda(cudaMemcpy(logits.get() + shift, in.logits.data(), in.logits.size() * sizeof(float),
                         cudaMemcpyHostToDevice),
              "upload");
    out_chosen.Fill(0xff);
    if (c.top_n > 0) {
      out_top.Fill(0xff);
      out_ids.Fill(0xff);
    }
    params = {logits.get() + shift,
              c.stride,
              c.rows,
              c.vocab,
              chosen.get(),
              c.top_n,
              out_chosen.get(),
              c.top_n ? out_ids.get() : nullptr,
              c.top_n ? out_top.get() : nullptr};
  }
  Outputs Download() const {
    Outputs got{out_chosen.Download(), {}, {}};
    if (out_ids.size() > 0) {
      got.top = out_top.Download();
      got.ids = out_ids.Download();
    }
    return got;
  }
};

TEST(LogprobsGpuTest, MatchesReference) {
  int id = 0;
  for (const Case& c : {
           Case{1, 129280, 129280, 20, false, false},
           Case{2, 129280, 129280, 20, false, false},
           Case{8, 129280, 129280, 5, false, false},
           Case{64, 129280, 129280, 1, false, false},
           Case{256, 129280, 129280, 20, false, false},
           Case{256, 129280, 129280, 0, false, false},
           Case{5, 129280, 129280, 20, true, false},
           Case{7, 1001, 1004, 20, false, false},
           Case{13, 37, 37, 20, false, false},
           Case{11, 4099, 4103, 5, false, false},
           Case{3, 3, 3, 1, false, false},
           Case{6, 21, 24, 20, true, false},
           Case{16, 129280, 129280, 20, false, true},
           Case{9, 1001, 1001, 20, false, true},
       }) {
    ++id;
    const std::string what = "case " + std::to_string(id);
    std::mt19937 rng(id);
    const Inputs in = MakeInputs(c, rng);
    const Outputs want = Reference(c, in);
    DeviceInputs dev(c, in);
    ASSERT_TRUE(LaunchLogprobs(dev.params, nullptr).ok()) << what;
    ExpectMatch(dev.Download(), want, what);
  }
}

TEST(LogprobsGpuTest, GraphCaptureAndReplay) {
  const Case c{32, 129280, 129280, 20, false, false};
  std::mt19937 rng(77);
  const Inputs in = MakeInputs(c, rng);
  const Outputs want = Reference(c, in);
  DeviceInputs dev(c, in);
  cudaStream_t stream;
  CheckCuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CheckCuda(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), "begin capture");
  ASSERT_TRUE(LaunchLogprobs(dev.params, stream).ok());
  CheckCuda(cudaStreamEndCapture(stream, &graph), "end capture");
  CheckCuda(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  // The capture ran nothing: the outputs still hold the poison.
  for (int32_t v : dev.out_ids.Download()) ASSERT_EQ(v, -1);
  for (int replay = 0; replay < 2; ++replay) {
    dev.out_ids.Fill(0xff);
    CheckCuda(cudaGraphLaunch(exec, stream), "graph launch");
    CheckCuda(cudaStreamSynchronize(stream), "sync");
    ExpectMatch(dev.Download(), want, "replay " + std::to_string(replay));
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace r1::kernels
