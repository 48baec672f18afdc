// WorkerMetrics: what a scrape shows after steps, engine gauges and expert-parallel exchanges;
// series of an assignment go away with it; no series without an assignment.
#include "worker/service/worker_metrics.h"

#include <map>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace r1 {
namespace {

// `name{b="1",a="2"}` with its labels sorted by name: `name{a="2",b="1"}`.
std::string Normalized(const std::string& series) {
  const size_t brace = series.find('{');
  if (brace == std::string::npos) return series;
  std::map<std::string, std::string> labels;
  static const std::regex kLabel(R"re((\w+)="((?:[^"\\]|\\.)*)")re");
  const std::string body = series.substr(brace);
  for (auto it = std::sregex_iterator(body.begin(), body.end(), kLabel);
       it != std::sregex_iterator(); ++it) {
    labels[(*it)[1]] = (*it)[2];
  }
  std::string out = series.substr(0, brace) + "{";
  for (const auto& [k, v] : labels) out += k + "=\"" + v + "\",";
  out.back() = '}';
  return out;
}

// The registry's text exposition as {"name{sorted labels}": value}.
std::map<std::string, double> Scrape(prometheus::Registry& registry) {
  const std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  std::map<std::string, double> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    out[Normalized(line.substr(0, space))] = std::stod(line.substr(space + 1));
  }
  return out;
}

double Value(const std::map<std::string, double>& m, const std::string& series) {
  const std::string key = Normalized(series);
  auto it = m.find(key);
  EXPECT_NE(it, m.end()) << "no series " << key;
  return it == m.end() ? -1 : it->second;
}

bool HasPrefix(const std::map<std::string, double>& m, const std::string& prefix) {
  auto it = m.lower_bound(prefix);
  return it != m.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

TEST(WorkerMetricsTest, StepsGaugesAndExchangesShowUpWithGroupLabels) {
  prometheus::Registry registry;
  auto metrics = WorkerMetrics::Create(&registry, "w1");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  WorkerMetrics& m = **metrics;

  EngineStepStats step;
  step.ran_forward = true;
  step.sequences = 3;
  step.prefill_tokens = 40;
  step.decode_tokens = 2;
  step.forward_seconds = 0.02;
  m.ObserveStep(step);  // no assignment yet: only ungrouped series
  EXPECT_FALSE(HasPrefix(Scrape(registry), "r1_worker_steps_total"));

  m.SetAssignment(7, 1, 2);
  m.ObserveStep(step);  // a model without graphs: no launch counted
  step.prefill_tokens = 0;
  step.decode_tokens = 3;
  step.decode_graph = DecodeGraphAction::kReplay;
  m.ObserveStep(step);
  m.SetEngineGauges({3, 1, 12, 100, 75, 2});
  EpExchangeStats x;
  x.layer = 3;
  x.rows_to_rank = {5, 9};
  x.rows_from_rank = {4, 9};
  x.has_expert_load = true;
  x.expert_tokens_max = 6;
  x.expert_tokens_mean = 1.5;
  x.counts_seconds = 0.001;
  m.OnExchange(x);
  m.SetWeightBytes(10, 40);
  m.GroupFailed(absl::StatusCode::kDeadlineExceeded);

  const auto s = Scrape(registry);
  const std::string g = "group=\"7\",rank=\"1\",worker=\"w1\"";
  EXPECT_EQ(Value(s, "r1_worker_assignment{" + g + "}"), 1);
  EXPECT_EQ(Value(s, "r1_worker_steps_total{" + g + "}"), 2);
  EXPECT_EQ(Value(s, "r1_worker_prefill_tokens_total{" + g + "}"), 40);
  EXPECT_EQ(Value(s, "r1_worker_decode_tokens_total{" + g + "}"), 5);
  EXPECT_EQ(Value(s, "r1_worker_forward_launches_total{" + g + ",launch=\"graph_replay\"}"), 1);
  EXPECT_EQ(Value(s, "r1_worker_forward_launches_total{" + g + ",launch=\"eager\"}"), 0);
  EXPECT_EQ(Value(s, "r1_worker_step_sequences_count{" + g + "}"), 2);
  EXPECT_EQ(Value(s, "r1_worker_step_phase_duration_seconds_count{" + g + ",phase=\"forward\"}"),
            2);
  EXPECT_EQ(Value(s, "r1_worker_sequences_running{" + g + "}"), 3);
  EXPECT_EQ(Value(s, "r1_worker_sequences_waiting{" + g + "}"), 1);
  EXPECT_EQ(Value(s, "r1_worker_kv_cache_blocks{" + g + ",state=\"used\"}"), 25);
  EXPECT_DOUBLE_EQ(Value(s, "r1_worker_kv_cache_usage_ratio{" + g + "}"), 0.25);
  EXPECT_EQ(Value(s, "r1_worker_preemptions_total{" + g + "}"), 2);
  // Peer 1 is this rank: only peer 0 has traffic series.
  EXPECT_EQ(Value(s, "r1_ep_tokens_sent_total{" + g + ",peer=\"0\"}"), 5);
  EXPECT_EQ(Value(s, "r1_ep_tokens_received_total{" + g + ",peer=\"0\"}"), 4);
  EXPECT_EQ(s.count(Normalized("r1_ep_tokens_sent_total{" + g + ",peer=\"1\"}")), 0u);
  EXPECT_EQ(Value(s, "r1_ep_expert_tokens_max{" + g + ",layer=\"3\"}"), 6);
  EXPECT_EQ(Value(s, "r1_ep_expert_tokens_mean{" + g + ",layer=\"3\"}"), 1.5);
  EXPECT_EQ(Value(s, "r1_ep_collective_wait_seconds_count{" + g + "}"), 1);
  EXPECT_EQ(Value(s, "r1_worker_weight_bytes{state=\"loaded\",worker=\"w1\"}"), 10);
  EXPECT_EQ(Value(s, "r1_worker_group_failures_total{reason=\"deadline_exceeded\",worker=\"w1\"}"),
            1);
  EXPECT_EQ(Value(s, "r1_worker_group_failures_total{reason=\"aborted\",worker=\"w1\"}"), 0);
  EXPECT_EQ(Value(s, "r1_worker_forward_errors_total{worker=\"w1\"}"), 0);

  // Preemptions count deltas of the engine's cumulative number.
  m.SetEngineGauges({3, 1, 12, 100, 75, 5});
  EXPECT_EQ(Value(Scrape(registry), "r1_worker_preemptions_total{" + g + "}"), 5);
  // So do the prefix cache's token counts.
  EXPECT_EQ(Value(Scrape(registry), "r1_worker_prefix_cache_queries_total{" + g + "}"), 0);
  m.SetEngineGauges({3, 1, 12, 100, 75, 5, 300, 128});
  m.SetEngineGauges({3, 1, 12, 100, 75, 5, 420, 192});
  EXPECT_EQ(Value(Scrape(registry), "r1_worker_prefix_cache_queries_total{" + g + "}"), 420);
  EXPECT_EQ(Value(Scrape(registry), "r1_worker_prefix_cache_hits_total{" + g + "}"), 192);

  // A new assignment: the old group's series are gone, the new ones start at 0.
  m.SetAssignment(8, 0, 1);
  const auto t = Scrape(registry);
  EXPECT_EQ(t.count(Normalized("r1_worker_assignment{" + g + "}")), 0u);
  EXPECT_FALSE(HasPrefix(t, "r1_ep_tokens_sent_total"));
  EXPECT_FALSE(HasPrefix(t, "r1_ep_collective_wait_seconds"));  // a group of one has no EP
  EXPECT_EQ(Value(t, "r1_worker_steps_total{group=\"8\",rank=\"0\",worker=\"w1\"}"), 0);
  m.ClearAssignment();
  EXPECT_FALSE(HasPrefix(Scrape(registry), "r1_worker_assignment"));
}

TEST(WorkerMetricsTest, SpeculativeDecodingCountsDraftsAndAcceptedTokens) {
  prometheus::Registry registry;
  auto metrics = WorkerMetrics::Create(&registry, "w4");
  ASSERT_TRUE(metrics.ok());
  WorkerMetrics& m = **metrics;
  m.SetAssignment(3, 0, 1);
  const std::string g = "group=\"3\",rank=\"0\",worker=\"w4\"";
  EXPECT_EQ(Value(Scrape(registry), "r1_speculative_steps_total{" + g + "}"), 0);
  EngineStepStats step;
  step.ran_forward = true;
  step.sequences = 2;
  step.decode_tokens = 6;
  step.speculative_sequences = 2;
  step.draft_tokens = 4;
  step.accepted_drafts = 3;
  step.accepted_per_sequence = {1, 2};
  m.ObserveStep(step);
  step.speculative_sequences = 1;
  step.draft_tokens = 2;
  step.accepted_drafts = 0;
  step.accepted_per_sequence = {0};
  m.ObserveStep(step);
  const auto s = Scrape(registry);
  EXPECT_EQ(Value(s, "r1_speculative_steps_total{" + g + "}"), 3);
  EXPECT_EQ(Value(s, "r1_speculative_draft_tokens_total{" + g + "}"), 6);
  EXPECT_EQ(Value(s, "r1_speculative_accepted_tokens_total{" + g + "}"), 3);
  EXPECT_EQ(Value(s, "r1_speculative_accepted_tokens_per_step_count{" + g + "}"), 3);
  EXPECT_EQ(Value(s, "r1_speculative_accepted_tokens_per_step_sum{" + g + "}"), 3);
  EXPECT_EQ(Value(s, "r1_speculative_accepted_tokens_per_step_bucket{" + g + ",le=\"0\"}"), 1);
  EXPECT_EQ(Value(s, "r1_speculative_accepted_tokens_per_step_bucket{" + g + ",le=\"1\"}"), 2);
  m.ClearAssignment();
  EXPECT_FALSE(HasPrefix(Scrape(registry), "r1_speculative_steps_total"));
}

TEST(WorkerMetricsTest, FailedForwardCountsAnError) {
  prometheus::Registry registry;
  auto metrics = WorkerMetrics::Create(&registry, "w2");
  ASSERT_TRUE(metrics.ok());
  EngineStepStats step;
  step.ran_forward = true;
  step.forward_failed = true;
  (*metrics)->ObserveStep(step);
  EXPECT_EQ(Value(Scrape(registry), "r1_worker_forward_errors_total{worker=\"w2\"}"), 1);
}

TEST(WorkerMetricsTest, ANameTakenWithAnotherTypeIsAStatus) {
  prometheus::Registry registry;
  prometheus::BuildGauge().Name("r1_worker_steps_total").Register(registry);
  auto metrics = WorkerMetrics::Create(&registry, "w3");
  EXPECT_FALSE(metrics.ok());
  EXPECT_EQ(WorkerMetrics::Create(nullptr, "w").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace r1
