// GPU tests (label gpu) of decode steps run as CUDA graphs (CudaModelOptions::decode_graphs,
// decode_graph_plan.h) against the same steps launched eagerly, on r1-tiny in the row-independent
// configuration (every dense FP8 GEMM on the streaming kernel, every token on the absorbed
// attention), where a row's logits do not depend on the rest of the batch — so the filler rows
// of a padded graph step must leave the real rows' logits bit for bit unchanged:
//   * decode steps with the batch shrinking across buckets (6 → 4 → 3 sequences);
//   * verification steps (3 tokens per item with decode_attention, every row's logits);
//   * ForwardAndChoose (greedy on the device) through replayed graphs;
//   * chained MTP draft passes (one slot per sequence; drafts chosen on the device);
// and the table's counts show that graphs were captured and replayed, none failed.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "worker/backend/cuda_model.h"
#include "worker/backend/cuda_weights.h"
#include "worker/backend/testing/block_counter.h"
#include "worker/backend/testing/gpu_model_util.h"
#include "worker/kv_cache/kv_cache.h"
#include "worker/model/weight_source.h"

namespace r1 {
namespace {

constexpr char kTiny[] = "models/r1-tiny";

using testing::BlockCounter;

class DecodeGraphsGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cfg = LoadModelConfig(std::string(kTiny) + "/config.json");
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    config_ = *cfg;
    auto src = CheckpointWeightSource::Open(kTiny);
    ASSERT_TRUE(src.ok()) << src.status();
    // Both models share one copy of the weights, the MTP module's included.
    CudaLoadOptions lo;
    lo.load_mtp = true;
    auto w = LoadCudaWeights(config_, **src, lo);
    ASSERT_TRUE(w.ok()) << w.status();
    std::shared_ptr<const CudaWeights> weights(std::move(*w));
    CudaModelOptions o{.cublaslt_fp8 = false, .naive_prefill_max_rows = 0};
    o.decode_graphs = true;
    auto g = CudaModel::Create(weights, 512, o);
    ASSERT_TRUE(g.ok()) << g.status();
    graphs_ = *std::move(g);
    o.decode_graphs = false;
    auto e = CudaModel::Create(weights, 512, o);
    ASSERT_TRUE(e.ok()) << e.status();
    eager_ = *std::move(e);
    ASSERT_NE(graphs_->decode_graph_table(), nullptr);
    EXPECT_EQ(eager_->decode_graph_table(), nullptr);
    std::ifstream in(std::string(kTiny) + "/heldout.jsonl");
    ASSERT_TRUE(in) << kTiny << "/heldout.jsonl";
    std::string line;
    while (prompts_.size() < 6 && std::getline(in, line)) {
      if (line.empty()) continue;
      prompts_.push_back(
          nlohmann::json::parse(line).at("prompt_token_ids").get<std::vector<int>>());
    }
    ASSERT_EQ(prompts_.size(), 6u);
  }

  // One sequence per model (each model has its own cache).
  struct Seq {
    KvSequence kv[2];
  };

  // Runs `make(model index)` items on both models; the logits must be identical.
  void ForwardBoth(const std::function<std::vector<ForwardItem>(int)>& make,
                   std::vector<std::vector<float>>* logits) {
    std::vector<std::vector<float>> got[2];
    CudaModel* models[2] = {eager_.get(), graphs_.get()};
    for (int m = 0; m < 2; ++m) {
      std::vector<ForwardItem> items = make(m);
      const absl::Status st = models[m]->Forward(items, &got[m]);
      ASSERT_TRUE(st.ok()) << st;
    }
    ASSERT_EQ(got[0].size(), got[1].size());
    for (size_t i = 0; i < got[0].size(); ++i) {
      ASSERT_EQ(got[0][i], got[1][i])
          << "item " << i << " differs after a "
          << static_cast<int>(graphs_->last_decode_graph().value_or(DecodeGraphAction::kEager))
          << " step (0 eager, 1 capture, 2 replay)";
    }
    *logits = std::move(got[0]);
  }

  // Blocks for prompt i + `room` tokens in each model's cache, and one prefill of every prompt.
  void PrefillBoth(std::vector<Seq>* seqs, size_t room, std::vector<std::vector<float>>* logits) {
    for (int m = 0; m < 2; ++m) {
      for (size_t i = 0; i < seqs->size(); ++i) {
        ASSERT_TRUE(blocks_[m].Reserve(&(*seqs)[i].kv[m], prompts_[i].size() + room));
      }
    }
    ForwardBoth(
        [&](int m) {
          std::vector<ForwardItem> items;
          for (size_t i = 0; i < seqs->size(); ++i) {
            items.push_back({&(*seqs)[i].kv[m], prompts_[i], 0});
          }
          return items;
        },
        logits);
  }

  int Argmax(const std::vector<float>& l, size_t row = 0) const {
    const int64_t V = config_.vocab_size;
    return static_cast<int>(std::max_element(l.begin() + row * V, l.begin() + (row + 1) * V) -
                            (l.begin() + row * V));
  }

  ModelConfig config_;
  std::unique_ptr<CudaModel> graphs_, eager_;
  BlockCounter blocks_[2] = {BlockCounter(512), BlockCounter(512)};  // eager_, graphs_
  std::vector<std::vector<int>> prompts_;
};

TEST_F(DecodeGraphsGpuTest, DecodeStepsEqualEagerAcrossBuckets) {
  std::vector<Seq> seqs(prompts_.size());
  std::vector<int> next(prompts_.size());
  std::vector<std::vector<float>> logits;
  ASSERT_NO_FATAL_FAILURE(PrefillBoth(&seqs, 64, &logits));
  for (size_t i = 0; i < seqs.size(); ++i) next[i] = Argmax(logits[i]);
  // 48 decode steps: 6 sequences (bucket 8), then 4 (bucket 4), then 3 (bucket 4).
  int replays = 0;
  for (int step = 0; step < 48; ++step) {
    const size_t live = step < 16 ? 6 : step < 32 ? 4 : 3;
    ForwardBoth(
        [&](int m) {
          std::vector<ForwardItem> items;
          for (size_t i = 0; i < live; ++i) {
            items.push_back({&seqs[i].kv[m], {next[i]}, seqs[i].kv[m].length});
          }
          return items;
        },
        &logits);
    for (size_t i = 0; i < live; ++i) next[i] = Argmax(logits[i]);
    replays += graphs_->last_decode_graph() == DecodeGraphAction::kReplay;
  }
  const DecodeGraphTable& t = *graphs_->decode_graph_table();
  std::printf("decode graphs: %lld captured, %lld replayed, %lld failed, %lld held\n",
              static_cast<long long>(t.captures()), static_cast<long long>(t.replays()),
              static_cast<long long>(t.failures()), static_cast<long long>(t.graphs()));
  EXPECT_EQ(t.failures(), 0);
  EXPECT_EQ(t.captures(), 2);  // buckets 8 and 4, each after one eager step
  EXPECT_EQ(replays, 48 - 2 * 2);
}

TEST_F(DecodeGraphsGpuTest, VerificationStepsEqualEager) {
  std::vector<Seq> seqs(3);
  std::vector<std::vector<float>> logits;
  ASSERT_NO_FATAL_FAILURE(PrefillBoth(&seqs, 32, &logits));
  // Each step verifies 3 tokens per sequence (9 tokens: bucket 16): the last logits' argmax and
  // two more made up from it, as a draft would be.
  std::vector<int> last(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) last[i] = Argmax(logits[i]);
  for (int step = 0; step < 6; ++step) {
    ForwardBoth(
        [&](int m) {
          std::vector<ForwardItem> items;
          for (size_t i = 0; i < seqs.size(); ++i) {
            ForwardItem it{&seqs[i].kv[m],
                           {last[i], (last[i] + 7) % 100, (last[i] + 3) % 100},
                           seqs[i].kv[m].length,
                           /*all_logits=*/true};
            it.decode_attention = true;
            items.push_back(it);
          }
          return items;
        },
        &logits);
    for (size_t i = 0; i < seqs.size(); ++i) last[i] = Argmax(logits[i], 2);
  }
  const DecodeGraphTable& t = *graphs_->decode_graph_table();
  EXPECT_EQ(t.failures(), 0);
  EXPECT_EQ(t.captures(), 1);
  EXPECT_EQ(t.replays(), 4);
  EXPECT_EQ(graphs_->last_decode_graph(), DecodeGraphAction::kReplay);
}

TEST_F(DecodeGraphsGpuTest, DeviceChoiceThroughReplayedGraphs) {
  // Block allocators only (no host rows), as an Engine makes them for a device cache.
  auto cache = [this] {
    return PagedKvCache(static_cast<int>(config_.num_hidden_layers), graphs_->kv_blocks(),
                        graphs_->row_size(), /*bf16_values=*/true, /*hold_rows=*/false);
  };
  PagedKvCache caches[2] = {cache(), cache()};
  CudaModel* models[2] = {eager_.get(), graphs_.get()};
  const TokenChoiceSpec greedy;
  std::vector<int> out[2];
  for (int m = 0; m < 2; ++m) {
    std::vector<KvSequence> kv(4);
    for (size_t i = 0; i < kv.size(); ++i) {
      ASSERT_TRUE(caches[m].Reserve(&kv[i], prompts_[i].size() + 24).ok());
    }
    std::vector<int> next(kv.size());
    for (int step = 0; step < 20; ++step) {
      std::vector<ForwardItem> items;
      for (size_t i = 0; i < kv.size(); ++i) {
        ForwardItem it = step == 0 ? ForwardItem{&kv[i], prompts_[i], 0}
                                   : ForwardItem{&kv[i], {next[i]}, kv[i].length};
        it.choose = &greedy;
        items.push_back(it);
      }
      std::vector<TokenChoice> chosen;
      const absl::Status st =
          models[m]->ForwardAndChoose(items, caches[m], config_.vocab_size, &chosen);
      ASSERT_TRUE(st.ok()) << st;
      for (size_t i = 0; i < kv.size(); ++i) {
        next[i] = chosen[i].id;
        out[m].push_back(chosen[i].id);
      }
    }
  }
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(graphs_->last_decode_graph(), DecodeGraphAction::kReplay);
  EXPECT_EQ(graphs_->decode_graph_table()->replays(), 17);  // 19 decode steps: warm, capture
}

TEST_F(DecodeGraphsGpuTest, MtpDraftPassesEqualEager) {
  auto cache = [this] {
    return PagedKvCache(static_cast<int>(config_.num_hidden_layers) + 1, graphs_->kv_blocks(),
                        graphs_->row_size(), /*bf16_values=*/true, /*hold_rows=*/false);
  };
  PagedKvCache caches[2] = {cache(), cache()};
  CudaModel* models[2] = {eager_.get(), graphs_.get()};
  std::vector<int> drafts[2];
  std::vector<float> hiddens[2];
  for (int m = 0; m < 2; ++m) {
    // Three prompts with their final hidden states, then chained one-slot MTP passes: slot p
    // takes the last hidden row and the last draft, as the engine's chained drafts do.
    std::vector<KvSequence> kv(3);
    std::vector<std::vector<float>> hidden(kv.size());
    std::vector<ForwardItem> items;
    for (size_t i = 0; i < kv.size(); ++i) {
      ASSERT_TRUE(caches[m].Reserve(&kv[i], prompts_[i].size() + 16).ok());
      ForwardItem it{&kv[i], prompts_[i], 0};
      it.hidden = &hidden[i];
      items.push_back(it);
    }
    std::vector<std::vector<float>> logits;
    ASSERT_TRUE(models[m]->Forward(items, caches[m], &logits).ok());
    const int64_t d = config_.hidden_size;
    std::vector<std::vector<float>> last(kv.size());
    std::vector<int> next(kv.size());
    for (size_t i = 0; i < kv.size(); ++i) {
      last[i].assign(hidden[i].end() - d, hidden[i].end());
      next[i] = Argmax(logits[i]);
    }
    for (int depth = 0; depth < 6; ++depth) {
      std::vector<MtpItem> slots;
      for (size_t i = 0; i < kv.size(); ++i) {
        slots.push_back({&kv[i], kv[i].length - 1 + depth, {next[i]}, last[i].data()});
      }
      std::vector<int> got;
      std::vector<std::vector<float>> out;
      const absl::Status st = models[m]->MtpDraft(slots, caches[m], config_.vocab_size, &got, &out);
      ASSERT_TRUE(st.ok()) << st;
      ASSERT_EQ(got.size(), kv.size());
      for (size_t i = 0; i < kv.size(); ++i) {
        next[i] = got[i];
        last[i] = out[i];
        drafts[m].push_back(got[i]);
        hiddens[m].insert(hiddens[m].end(), out[i].begin(), out[i].end());
      }
    }
  }
  EXPECT_EQ(drafts[0], drafts[1]);
  EXPECT_EQ(hiddens[0], hiddens[1]);
  const DecodeGraphTable& t = *graphs_->decode_graph_table();
  EXPECT_EQ(t.failures(), 0);
  EXPECT_EQ(t.captures(), 1);  // the MTP pass's bucket of 4 (the prefill runs eagerly)
  EXPECT_EQ(t.replays(), 4);
  EXPECT_EQ(graphs_->last_decode_graph(), DecodeGraphAction::kReplay);
}

}  // namespace
}  // namespace r1
