// The coordinator's cluster plane and real workers over gRPC on loopback, in one process:
// workers attach, groups form and serve, requests stream tokens back, and greedy outputs equal
// the single-process engine's; prompts sharing a prefix land on the worker whose prefix cache
// holds it.
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "coordinator/cluster/cluster_service.h"
#include "coordinator/cluster/rendezvous_service.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "worker/engine/engine.h"
#include "worker/service/cpu_backend.h"
#include "worker/service/worker_metrics.h"
#include "worker/service/worker_runtime.h"

namespace r1 {
namespace {

constexpr char kModel[] = "tests/golden/tiny_a";

class ClusterE2eTest : public ::testing::Test {
 protected:
  void Start(int group_size, int workers) {
    auto config = LoadModelConfig(std::string(kModel) + "/config.json");
    ASSERT_TRUE(config.ok());
    config_ = *config;
    ClusterOptions o;
    o.group_size = group_size;
    o.num_experts = static_cast<int>(config_.n_routed_experts);
    o.model_source = std::string("checkpoint:") + kModel;
    o.max_model_len = static_cast<uint32_t>(config_.max_position_embeddings);
    o.model = {"tiny", o.max_model_len, config_.vocab_size, 0};
    state_ = std::make_unique<ClusterState>(o);
    cluster_ = std::make_unique<ClusterService>(state_.get());
    admin_ = std::make_unique<AdminService>(state_.get());
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(cluster_.get());
    b.RegisterService(&rendezvous_);
    b.RegisterService(admin_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    for (int i = 0; i < workers; ++i) AddWorker();
  }

  void AddWorker() {
    const int i = static_cast<int>(threads_.size());
    registries_.push_back(std::make_unique<prometheus::Registry>());
    auto metrics = WorkerMetrics::Create(registries_.back().get(), "w" + std::to_string(i));
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_.push_back(std::move(*metrics));
    WorkerMetrics* m = metrics_.back().get();
    threads_.emplace_back([this, i, m] {
      WorkerOptions w;
      w.coordinator = "127.0.0.1:" + std::to_string(port_);
      w.worker_id = "w" + std::to_string(i);
      CpuBackendOptions cpu;
      cpu.kv_cache_bytes = 16 << 20;
      w.backend = std::make_shared<CpuBackend>(cpu);
      w.max_step_tokens = 48;
      w.stats_interval = absl::Milliseconds(100);
      w.reconnect_timeout = absl::ZeroDuration();  // the test's server going away ends the worker
      w.metrics = m;
      WorkerRuntime(w).Run().IgnoreError();
    });
  }

  bool WaitGroups(int serving) {
    for (int i = 0; i < 300; ++i) {
      int n = 0;
      const r1::v1::ClusterStatusResponse st = state_->Status();
      for (const auto& g : st.groups()) n += g.state() == r1::v1::GROUP_STATE_SERVING;
      if (n >= serving) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    for (auto& t : threads_) t.join();
  }

  std::vector<int32_t> Generate(const std::vector<int32_t>& prompt, int max_new,
                                GenerationEnd* end = nullptr) {
    GenerationRequest r;
    r.request_id = "t";
    r.prompt_token_ids = prompt;
    r.max_new_tokens = max_new;
    auto h = state_->Submit(r);
    EXPECT_TRUE(h.ok()) << h.status();
    if (!h.ok()) return {};
    std::vector<int32_t> out;
    for (int i = 0; i < 1000; ++i) {
      TokenBatch b = (*h)->Next(absl::Seconds(5));
      out.insert(out.end(), b.token_ids.begin(), b.token_ids.end());
      if (b.end != GenerationEnd::kNone) {
        if (end) *end = b.end;
        break;
      }
    }
    return out;
  }

  std::vector<int32_t> Reference(const std::vector<int32_t>& prompt, int max_new) {
    static std::shared_ptr<const ModelWeights> w = [] {
      auto src = CheckpointWeightSource::Open(kModel);
      auto cfg = LoadModelConfig(std::string(kModel) + "/config.json");
      return std::shared_ptr<const ModelWeights>(std::move(*LoadModelWeights(*cfg, **src)));
    }();
    Engine e(w, {}, {});
    SequenceRequest r;
    r.id = 1;
    r.prompt.assign(prompt.begin(), prompt.end());
    r.max_new_tokens = max_new;
    EXPECT_TRUE(e.Submit(r).ok());
    std::vector<int32_t> out;
    while (!e.Idle()) {
      auto step = e.Step();
      EXPECT_TRUE(step.ok());
      for (const auto& s : *step) out.insert(out.end(), s.new_tokens.begin(), s.new_tokens.end());
    }
    return out;
  }

  // The sum of worker `i`'s series of counter `name`.
  double Counter(int i, const std::string& name) {
    std::istringstream text(prometheus::TextSerializer().Serialize(registries_[i]->Collect()));
    double sum = 0;
    for (std::string line; std::getline(text, line);) {
      if (line.rfind(name + "{", 0) == 0) sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
  }

  // The worker that served the most requests of those submitted since `before` (a Status).
  std::string ServedBy(const r1::v1::ClusterStatusResponse& before) {
    const r1::v1::ClusterStatusResponse now = state_->Status();
    for (const auto& g : now.groups()) {
      uint64_t was = 0;
      for (const auto& b : before.groups()) {
        if (b.group_id() == g.group_id()) was = b.requests_served();
      }
      if (g.requests_served() > was) return g.worker_ids(0);
    }
    return "";
  }

  static std::vector<int32_t> Prompt(int n, int seed) {
    std::vector<int32_t> p;
    for (int i = 0; i < n; ++i) p.push_back(2 + (seed * 31 + i * 7) % 250);
    return p;
  }

  ModelConfig config_;
  std::unique_ptr<ClusterState> state_;
  std::unique_ptr<ClusterService> cluster_;
  std::unique_ptr<AdminService> admin_;
  RendezvousService rendezvous_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  // Per worker, its metrics and their registry (they outlive its thread).
  std::vector<std::unique_ptr<prometheus::Registry>> registries_;
  std::vector<std::unique_ptr<WorkerMetrics>> metrics_;
  std::vector<std::thread> threads_;
};

// One group of 1, 2 or 4 workers (expert parallelism over Gloo for 2 and 4), requests spread over
// its ranks: the same tokens as the single-process engine.
class ClusterGroupSizeTest : public ClusterE2eTest, public ::testing::WithParamInterface<int> {};

TEST_P(ClusterGroupSizeTest, GreedyOutputsEqualTheSingleProcessEngine) {
  const int g = GetParam();
  Start(g, g);
  ASSERT_TRUE(WaitGroups(1));
  std::vector<std::vector<int32_t>> prompts = {Prompt(5, 1), Prompt(70, 2), Prompt(130, 3),
                                               Prompt(17, 4), Prompt(40, 5)};
  std::vector<std::thread> clients;
  std::vector<std::vector<int32_t>> got(prompts.size());
  std::vector<GenerationEnd> ends(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    clients.emplace_back([&, i] { got[i] = Generate(prompts[i], 12, &ends[i]); });
  }
  for (auto& t : clients) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(got[i], Reference(prompts[i], 12)) << "prompt " << i;
    EXPECT_TRUE(ends[i] == GenerationEnd::kLength || ends[i] == GenerationEnd::kStop);
  }
  const r1::v1::ClusterStatusResponse st = state_->Status();
  ASSERT_EQ(st.groups_size(), 1);
  EXPECT_EQ(st.groups(0).worker_ids_size(), g);
}

INSTANTIATE_TEST_SUITE_P(GroupSizes, ClusterGroupSizeTest, ::testing::Values(1, 2, 4));

TEST_F(ClusterE2eTest, ScaleOutAddsAGroupThatServes) {
  Start(1, 1);
  ASSERT_TRUE(WaitGroups(1));
  AddWorker();
  ASSERT_TRUE(WaitGroups(2));
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) clients.emplace_back([&, i] { Generate(Prompt(20, i), 4); });
  for (auto& t : clients) t.join();
  auto st = state_->Status();
  ASSERT_EQ(st.groups_size(), 2);
  EXPECT_GT(st.groups(0).requests_served(), 0u);
  EXPECT_GT(st.groups(1).requests_served(), 0u);
}

TEST_F(ClusterE2eTest, BadPromptEndsWithAnErrorAndTheWorkerKeepsServing) {
  Start(1, 1);
  ASSERT_TRUE(WaitGroups(1));
  GenerationEnd end = GenerationEnd::kNone;
  EXPECT_TRUE(Generate({5, 9999}, 4, &end).empty());  // id beyond the vocabulary
  EXPECT_EQ(end, GenerationEnd::kError);
  EXPECT_EQ(Generate(Prompt(10, 4), 3).size(), 3u);
}

// Two requests sharing a system prompt of 3 full KV blocks land on the same worker (prefix-aware
// routing), where the second reuses the cached blocks; a different prompt may go elsewhere.
TEST_F(ClusterE2eTest, SharedSystemPromptLandsOnTheWorkerThatHoldsIt) {
  Start(1, 2);
  ASSERT_TRUE(WaitGroups(2));
  const std::vector<int32_t> system = Prompt(3 * kBlockTokens, 11);
  auto chat = [&](int seed) {
    std::vector<int32_t> p = system;
    const std::vector<int32_t> q = Prompt(20, seed);
    p.insert(p.end(), q.begin(), q.end());
    return p;
  };
  auto before = state_->Status();
  EXPECT_EQ(Generate(chat(1), 4).size(), 4u);
  const std::string first = ServedBy(before);
  ASSERT_FALSE(first.empty());
  const int w = first == "w0" ? 0 : 1;
  const double hits_before = Counter(w, "r1_worker_prefix_cache_hits_total");

  before = state_->Status();
  EXPECT_EQ(Generate(chat(2), 4), Reference(chat(2), 4));
  EXPECT_EQ(ServedBy(before), first);
  before = state_->Status();
  Generate(Prompt(100, 9), 4);
  EXPECT_FALSE(ServedBy(before).empty());

  // The engine gauges are published after each step: wait for the second request's.
  double hits = hits_before;
  for (int i = 0; i < 200 && hits < hits_before + 3 * kBlockTokens; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    hits = Counter(w, "r1_worker_prefix_cache_hits_total");
  }
  EXPECT_GE(hits, hits_before + 3 * kBlockTokens);
  const ClusterState::RoutingCounts c = state_->routing_counts();
  EXPECT_EQ(c.by_prefix, 1u);
  EXPECT_EQ(c.prefix_tokens, 3u * kBlockTokens);
}

}  // namespace
}  // namespace r1
