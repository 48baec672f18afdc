// GPU test (label gpu): DenseCudaModel against DenseCpuModel on the dense fixtures
// (tests/golden/dense_qwen2: Qwen2 with q/k/v biases, BF16 shards; tests/golden/dense_llama:
// Llama with llama3 RoPE scaling, tied embeddings, an F32 checkpoint; tests/fixtures/tiny-qwen2,
// the served fixture).
//
// The CPU model runs the same bf16-rounded weights in fp32 with a bf16 KV cache, so the
// difference is the GPU's bf16 activations between ops (and bf16 residual stream), a few bf16
// roundings (2⁻⁹ relative each) per layer. Bounds, per logits row: max |Δlogit| ≤ 5e-2 ·
// max(1, max |logit|); over all rows: rel-L2 ≤ 2e-2.
//
//   * a 70-token prefill (crossing a 64-token block) and 8 decode steps;
//   * greedy tokens (ForwardAndChoose on the device) equal to the CPU's argmax over three
//     prompts, teacher-forced with the CPU's tokens; steps where the CPU's top two logits lie
//     within twice the bound of each other are near ties and not compared;
//   * a mixed batch (prefill chunks and decode tokens of three sequences) against each alone;
//   * the Engine (chunked prefill, continuous batching) serving tiny-qwen2 on the GPU, each
//     token it chose a CPU argmax up to the bound;
//   * decode steps as CUDA graphs against the same steps launched;
//   * BuildDenseCudaShard (CudaBackend's dense path) on tiny-qwen2.
#include "worker/backend/dense_cuda_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "common/safetensors.h"
#include "common/served_model_config.h"
#include "worker/backend/dense_cuda_backend.h"
#include "worker/engine/engine.h"
#include "worker/model/dense_cpu_model.h"
#include "worker/model/dense_weights.h"
#include "worker/model/testing/test_util.h"

namespace r1 {
namespace {

constexpr float kRowBound = 5e-2f;  // · max(1, max |logit|) per row
constexpr double kRelL2 = 2e-2;
constexpr int kBlocks = 48;

void RoundAll(std::vector<float>* v) {
  for (float& x : *v) x = RoundToBf16(x);
}

// The checkpoint's weights as the GPU holds them (bf16), for the CPU model.
std::shared_ptr<const DenseWeights> Bf16Weights(const std::string& dir) {
  auto w = LoadDenseModelDir(dir);
  EXPECT_TRUE(w.ok()) << w.status();
  if (!w.ok()) return nullptr;
  DenseWeights& m = **w;
  RoundAll(&m.embed);
  RoundAll(&m.final_norm);
  RoundAll(&m.lm_head.w);
  for (DenseLayerWeights& L : m.layers) {
    for (std::vector<float>* v :
         {&L.input_norm, &L.post_attention_norm, &L.q.w, &L.k.w, &L.v.w, &L.o.w, &L.q_bias,
          &L.k_bias, &L.v_bias, &L.o_bias, &L.mlp.gate.w, &L.mlp.up.w, &L.mlp.down.w}) {
      RoundAll(v);
    }
  }
  return std::shared_ptr<const DenseWeights>(std::move(*w));
}

std::unique_ptr<DenseCudaModel> GpuModel(const std::string& dir, const DenseModelConfig& c,
                                         bool decode_graphs = true) {
  auto ck = Checkpoint::Open(dir);
  EXPECT_TRUE(ck.ok()) << ck.status();
  if (!ck.ok()) return nullptr;
  auto w = LoadDenseCudaWeights(c, **ck);
  EXPECT_TRUE(w.ok()) << w.status();
  if (!w.ok()) return nullptr;
  auto m = DenseCudaModel::Create(std::shared_ptr<const DenseCudaWeights>(std::move(*w)), kBlocks,
                                  decode_graphs);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

std::vector<int> Tokens(int n, unsigned seed, int64_t vocab) {
  std::mt19937 rng(seed);
  std::vector<int> t(n);
  for (int& x : t) x = static_cast<int>(rng() % vocab);
  return t;
}

float MaxAbs(const float* r, int64_t V) {
  float m = 0;
  for (int64_t v = 0; v < V; ++v) m = std::max(m, std::fabs(r[v]));
  return m;
}

void ExpectRowsNear(const std::vector<float>& got, const std::vector<float>& want, int64_t V,
                    const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t r = 0; r < got.size() / V; ++r) {
    float diff = 0;
    for (int64_t v = 0; v < V; ++v)
      diff = std::max(diff, std::fabs(got[r * V + v] - want[r * V + v]));
    EXPECT_LE(diff, kRowBound * std::max(1.0f, MaxAbs(&want[r * V], V))) << what << " row " << r;
  }
}

int Argmax(const float* r, int64_t V) { return static_cast<int>(std::max_element(r, r + V) - r); }

// Top-1 minus top-2 of a row.
float Margin(const float* r, int64_t V) {
  std::vector<float> s(r, r + V);
  std::partial_sort(s.begin(), s.begin() + 2, s.end(), std::greater<float>());
  return s[0] - s[1];
}

class DenseCudaModelGpuTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    cpu_weights_ = Bf16Weights(GetParam());
    ASSERT_NE(cpu_weights_, nullptr);
    c_ = cpu_weights_->config;
    cpu_ = std::make_unique<DenseCpuModel>(cpu_weights_);
    gpu_ = GpuModel(GetParam(), c_);
    ASSERT_NE(gpu_, nullptr);
    cpu_cache_ = std::make_unique<PagedKvCache>(c_.num_hidden_layers, kBlocks, cpu_->row_size(),
                                                /*bf16_values=*/true);
    gpu_cache_ = std::make_unique<PagedKvCache>(c_.num_hidden_layers, kBlocks, gpu_->row_size(),
                                                /*bf16_values=*/true, /*hold_rows=*/false);
  }

  std::shared_ptr<const DenseWeights> cpu_weights_;
  DenseModelConfig c_;
  std::unique_ptr<DenseCpuModel> cpu_;
  std::unique_ptr<DenseCudaModel> gpu_;
  std::unique_ptr<PagedKvCache> cpu_cache_, gpu_cache_;
};

TEST_P(DenseCudaModelGpuTest, PrefillAndDecodeLogitsMatchCpu) {
  const int64_t V = c_.vocab_size;
  const std::vector<int> prompt = Tokens(70, 1, V);
  KvSequence kc, kg;
  ASSERT_TRUE(cpu_cache_->Reserve(&kc, 78).ok());
  ASSERT_TRUE(gpu_cache_->Reserve(&kg, 78).ok());
  std::vector<std::vector<float>> lc, lg;
  std::vector<ForwardItem> ic = {{&kc, prompt, 0, true}}, ig = {{&kg, prompt, 0, true}};
  ASSERT_TRUE(cpu_->Forward(ic, *cpu_cache_, &lc).ok());
  ASSERT_TRUE(gpu_->Forward(ig, *gpu_cache_, &lg).ok());
  EXPECT_EQ(kg.length, 70);
  ExpectRowsNear(lg[0], lc[0], V, "prefill");
  testing::Agreement all;
  ASSERT_TRUE(all.AddRows(lg[0], lc[0], V));
  int next = Argmax(&lc[0][69 * V], V);
  for (int step = 0; step < 8; ++step) {
    const int64_t pos = 70 + step;
    ic = {{&kc, {next}, pos, false}};
    ig = {{&kg, {next}, pos, false}};
    ASSERT_TRUE(cpu_->Forward(ic, *cpu_cache_, &lc).ok());
    ASSERT_TRUE(gpu_->Forward(ig, *gpu_cache_, &lg).ok());
    ExpectRowsNear(lg[0], lc[0], V, "decode step " + std::to_string(step));
    all.Add(lg[0].data(), lc[0].data(), V);
    next = Argmax(lc[0].data(), V);
  }
  std::printf("%s: rel-L2 %.2e over %lld rows, top-1 agreement %.3f\n", GetParam().c_str(),
              all.rel_l2(), static_cast<long long>(all.positions), all.top1());
  EXPECT_LE(all.rel_l2(), kRelL2);
}

TEST_P(DenseCudaModelGpuTest, GreedyTokensMatchCpuArgmax) {
  const int64_t V = c_.vocab_size;
  const TokenChoiceSpec greedy;
  int compared = 0, ties = 0;
  for (int len : {1, 17, 100}) {
    const std::vector<int> prompt = Tokens(len, 10 + len, V);
    KvSequence kc, kg;
    ASSERT_TRUE(cpu_cache_->Reserve(&kc, len + 12).ok());
    ASSERT_TRUE(gpu_cache_->Reserve(&kg, len + 12).ok());
    std::vector<int> chunk = prompt;
    int64_t pos = 0;
    for (int step = 0; step < 12; ++step) {
      std::vector<std::vector<float>> lc;
      std::vector<ForwardItem> ic = {{&kc, chunk, pos, false}};
      ASSERT_TRUE(cpu_->Forward(ic, *cpu_cache_, &lc).ok());
      std::vector<ForwardItem> ig = {{&kg, chunk, pos, false}};
      ig[0].choose = &greedy;
      std::vector<TokenChoice> chosen;
      ASSERT_TRUE(gpu_->ForwardAndChoose(ig, *gpu_cache_, V, &chosen).ok());
      const int want = Argmax(lc[0].data(), V);
      const float bound = 2 * kRowBound * std::max(1.0f, MaxAbs(lc[0].data(), V));
      if (Margin(lc[0].data(), V) > bound) {
        EXPECT_EQ(chosen[0].id, want) << "prompt " << len << " step " << step;
        ++compared;
      } else {
        ++ties;
      }
      pos += static_cast<int64_t>(chunk.size());
      chunk = {want};
    }
    cpu_cache_->Release(&kc);
    gpu_cache_->Release(&kg);
  }
  std::printf("%s: %d greedy steps compared, %d near ties skipped\n", GetParam().c_str(), compared,
              ties);
  EXPECT_GE(compared, 6);  // of 36: random tiny models have many close top-2 logits
}

// Sequence A: 70-token prompt, then one decode token; B: chunks of 20 and 50 tokens; C: 3 tokens.
// Decode steps as CUDA graphs (3 sequences padded to 4) give the logits of the same steps
// launched one kernel at a time, within the bound (the GEMMs may pick other algorithms for 4 rows
// than for 3); one capture, then replays.
TEST_P(DenseCudaModelGpuTest, DecodeGraphsMatchLaunches) {
  const int64_t V = c_.vocab_size;
  std::unique_ptr<DenseCudaModel> eager = GpuModel(GetParam(), c_, /*decode_graphs=*/false);
  ASSERT_NE(eager, nullptr);
  ASSERT_NE(gpu_->decode_graph_table(), nullptr);
  EXPECT_EQ(eager->decode_graph_table(), nullptr);
  PagedKvCache eager_cache(c_.num_hidden_layers, kBlocks, eager->row_size(), /*bf16_values=*/true,
                           /*hold_rows=*/false);
  DenseCudaModel* models[2] = {eager.get(), gpu_.get()};
  PagedKvCache* caches[2] = {&eager_cache, gpu_cache_.get()};
  std::vector<KvSequence> kv[2] = {std::vector<KvSequence>(3), std::vector<KvSequence>(3)};
  std::vector<std::vector<int>> prompts = {Tokens(70, 4, V), Tokens(9, 5, V), Tokens(33, 6, V)};
  std::vector<std::vector<float>> got[2];
  for (int m = 0; m < 2; ++m) {
    std::vector<ForwardItem> items;
    for (size_t i = 0; i < prompts.size(); ++i) {
      ASSERT_TRUE(caches[m]->Reserve(&kv[m][i], prompts[i].size() + 8).ok());
      items.push_back({&kv[m][i], prompts[i], 0, false});
    }
    ASSERT_TRUE(models[m]->Forward(items, *caches[m], &got[m]).ok());
  }
  for (int step = 0; step < 8; ++step) {
    for (int m = 0; m < 2; ++m) {
      std::vector<ForwardItem> items;
      for (size_t i = 0; i < prompts.size(); ++i) {
        items.push_back({&kv[m][i], {static_cast<int>((7 * step + 3 * i) % V)}, kv[m][i].length});
      }
      const absl::Status st = models[m]->Forward(items, *caches[m], &got[m]);
      ASSERT_TRUE(st.ok()) << st;
    }
    for (size_t i = 0; i < prompts.size(); ++i) {
      ExpectRowsNear(got[1][i], got[0][i], V, "decode step " + std::to_string(step));
    }
  }
  const DecodeGraphTable& t = *gpu_->decode_graph_table();
  EXPECT_EQ(t.failures(), 0);
  EXPECT_EQ(t.captures(), 1);
  EXPECT_EQ(t.replays(), 6);
  EXPECT_EQ(gpu_->last_decode_graph(), DecodeGraphAction::kReplay);
}

TEST_P(DenseCudaModelGpuTest, MixedBatchMatchesAlone) {
  const int64_t V = c_.vocab_size;
  const std::vector<int> a = Tokens(71, 1, V), b = Tokens(70, 2, V), c = Tokens(3, 3, V);
  auto alone = [&](const std::vector<int>& t) {
    KvSequence kv;
    EXPECT_TRUE(gpu_cache_->Reserve(&kv, static_cast<int64_t>(t.size())).ok());
    std::vector<ForwardItem> items = {{&kv, t, 0, true}};
    std::vector<std::vector<float>> l;
    EXPECT_TRUE(gpu_->Forward(items, *gpu_cache_, &l).ok());
    gpu_cache_->Release(&kv);
    return l.empty() ? std::vector<float>{} : l[0];
  };
  const std::vector<float> wa = alone(a), wb = alone(b), wc = alone(c);
  KvSequence ka, kb, kc;
  ASSERT_TRUE(gpu_cache_->Reserve(&ka, 71).ok());
  ASSERT_TRUE(gpu_cache_->Reserve(&kb, 70).ok());
  ASSERT_TRUE(gpu_cache_->Reserve(&kc, 3).ok());
  std::vector<std::vector<float>> l;
  std::vector<ForwardItem> step1 = {{&ka, {a.begin(), a.begin() + 70}, 0, false},
                                    {&kb, {b.begin(), b.begin() + 20}, 0, true}};
  ASSERT_TRUE(gpu_->Forward(step1, *gpu_cache_, &l).ok());
  ExpectRowsNear(l[0], {wa.begin() + 69 * V, wa.begin() + 70 * V}, V, "A prefill");
  ExpectRowsNear(l[1], {wb.begin(), wb.begin() + 20 * V}, V, "B chunk 1");
  std::vector<ForwardItem> step2 = {
      {&kb, {b.begin() + 20, b.end()}, 20, true}, {&ka, {a[70]}, 70, false}, {&kc, c, 0, false}};
  ASSERT_TRUE(gpu_->Forward(step2, *gpu_cache_, &l).ok());
  ExpectRowsNear(l[0], {wb.begin() + 20 * V, wb.end()}, V, "B chunk 2");
  ExpectRowsNear(l[1], {wa.begin() + 70 * V, wa.end()}, V, "A decode");
  ExpectRowsNear(l[2], {wc.begin() + 2 * V, wc.end()}, V, "C prefill");
  EXPECT_EQ(ka.length, 71);
  EXPECT_EQ(kb.length, 70);
}

TEST_P(DenseCudaModelGpuTest, RefusesBadItems) {
  KvSequence kv;
  kv.blocks = {kBlocks};  // outside the device cache
  std::vector<ForwardItem> items = {{&kv, {1}, 0, false}};
  std::vector<std::vector<float>> l;
  EXPECT_FALSE(gpu_->Forward(items, &l).ok());
  PagedKvCache other(c_.num_hidden_layers, kBlocks + 1, gpu_->row_size(), true, false);
  kv.blocks = {0};
  EXPECT_EQ(gpu_->Forward(items, other, &l).code(), absl::StatusCode::kFailedPrecondition);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DenseCudaModelGpuTest,
                         ::testing::Values("tests/golden/dense_qwen2", "tests/golden/dense_llama",
                                           "tests/fixtures/tiny-qwen2"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param.substr(i.param.rfind('/') + 1) == "tiny-qwen2"
                                      ? std::string("tiny_qwen2")
                                      : i.param.substr(i.param.rfind('/') + 1);
                         });

constexpr char kTinyQwen2[] = "tests/fixtures/tiny-qwen2";

// The Engine on the GPU model: 6 prompts at once through too small a step budget (chunked
// prefill), greedy, 12 tokens each; every chosen token is the CPU's argmax up to the bound.
TEST(DenseCudaEngineGpuTest, EngineServesTinyQwen2) {
  auto cpu_w = Bf16Weights(kTinyQwen2);
  ASSERT_NE(cpu_w, nullptr);
  const DenseModelConfig c = cpu_w->config;
  const int64_t V = c.vocab_size;
  EngineOptions options;
  options.max_step_tokens = 48;
  options.max_running = 8;
  options.kv_blocks = kBlocks;
  auto gpu = GpuModel(kTinyQwen2, c);
  ASSERT_NE(gpu, nullptr);
  Engine engine(std::move(gpu), options);
  std::vector<std::vector<int>> prompts;
  for (int i = 0; i < 6; ++i) {
    prompts.push_back(Tokens(5 + 23 * i, 100 + i, V));
    SequenceRequest r;
    r.id = static_cast<uint64_t>(i);
    r.prompt = prompts.back();
    r.max_new_tokens = 12;
    r.ignore_eos = true;
    ASSERT_TRUE(engine.Submit(r).ok());
  }
  std::vector<std::vector<int>> out(prompts.size());
  int steps = 0;
  for (; !engine.Idle() && steps < 10000; ++steps) {
    auto o = engine.Step();
    ASSERT_TRUE(o.ok()) << o.status();
    for (const auto& s : *o) {
      ASSERT_NE(s.finish, FinishReason::kError) << s.error;
      out[s.id].insert(out[s.id].end(), s.new_tokens.begin(), s.new_tokens.end());
    }
  }
  DenseCpuModel cpu(cpu_w);
  PagedKvCache cache(c.num_hidden_layers, kBlocks, cpu.row_size(), /*bf16_values=*/true);
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_EQ(out[i].size(), 12u) << "sequence " << i;
    std::vector<int> all = prompts[i];
    all.insert(all.end(), out[i].begin(), out[i].end() - 1);
    KvSequence kv;
    ASSERT_TRUE(cache.Reserve(&kv, static_cast<int64_t>(all.size())).ok());
    std::vector<ForwardItem> items = {{&kv, all, 0, true}};
    std::vector<std::vector<float>> l;
    ASSERT_TRUE(cpu.Forward(items, cache, &l).ok());
    for (size_t t = 0; t < out[i].size(); ++t) {
      const float* row = &l[0][(prompts[i].size() - 1 + t) * V];
      const float top = row[Argmax(row, V)];
      EXPECT_GE(row[out[i][t]], top - 2 * kRowBound * std::max(1.0f, MaxAbs(row, V)))
          << "sequence " << i << " token " << t;
    }
    cache.Release(&kv);
  }
  std::printf("tiny-qwen2 Engine on CUDA: %zu sequences in %d steps\n", prompts.size(), steps);
}

TEST(DenseCudaBackendGpuTest, BuildsTheDenseModelSizedByItsRows) {
  auto served = LoadServedModelConfig(std::string(kTinyQwen2) + "/config.json");
  ASSERT_TRUE(served.ok()) << served.status();
  ASSERT_TRUE(served->is_dense());
  ShardSpec spec;
  spec.config = served->config;
  spec.dense = served->dense;
  spec.checkpoint_dir = kTinyQwen2;
  spec.kv_cache_fraction = 0.5;
  auto shard = BuildDenseCudaShard(spec, nullptr, int64_t{64} << 20);
  ASSERT_TRUE(shard.ok()) << shard.status();
  ASSERT_NE(dynamic_cast<DenseCudaModel*>(shard->model.get()), nullptr);
  const DenseModelConfig& c = *spec.dense;
  EXPECT_EQ(shard->kv_blocks,
            (int64_t{64} << 20) / KvBlockBytesOfRows(c.kv_row(), c.num_hidden_layers, 2));
  EXPECT_FALSE(shard->model->uses_host_cache_rows());
  EXPECT_NE(shard->description.find("dense Qwen2"), std::string::npos) << shard->description;
  spec.kv_dtype = r1::v1::KV_DTYPE_FP8;
  EXPECT_EQ(BuildDenseCudaShard(spec, nullptr, int64_t{64} << 20).status().code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace r1
