#include "worker/model/checkpoint_writer.h"

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/model_config.h"
#include "nlohmann/json.hpp"
#include "worker/model/testing/test_util.h"
#include "worker/model/weight_plan.h"
#include "worker/model/weight_source.h"

namespace r1 {
namespace {

// Every tensor read back from the written shards equals the source's, and progress is told
// once per shard with the running byte count.
TEST(CheckpointWriterTest, StreamedShardsReadBackAsTheSource) {
  const std::string dir = testing::TempDir("ckpt_writer");
  const SyntheticWeightSource src(11);
  std::vector<std::pair<int, uint64_t>> reports;
  ASSERT_TRUE(WriteCheckpoint(
                  testing::SmallConfigJson(), testing::SmallConfig(), src, dir, 3,
                  [&](int done, int shards, uint64_t bytes) {
                    EXPECT_EQ(shards, 3);
                    reports.push_back({done, bytes});
                  },
                  /*threads=*/2)
                  .ok());
  ASSERT_EQ(reports.size(), 3u);
  for (int s = 0; s < 3; ++s) EXPECT_EQ(reports[s].first, s + 1);
  EXPECT_LT(reports[0].second, reports[2].second);

  auto written = CheckpointWeightSource::Open(dir);
  ASSERT_TRUE(written.ok()) << written.status();
  uint64_t total = 0;
  for (const PlannedTensor& t : PlanWeights(testing::SmallConfig()).tensors) {
    auto want = src.Fetch(t);
    auto got = (*written)->Fetch(t);
    ASSERT_TRUE(want.ok() && got.ok()) << t.name;
    ASSERT_EQ(got->size, want->size) << t.name;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(got->data), got->size),
              std::string(reinterpret_cast<const char*>(want->data), want->size))
        << t.name;
    total += got->size;
  }
  EXPECT_EQ(reports.back().second, total);
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
  // One thread writes the same files.
  const std::string serial = testing::TempDir("ckpt_writer_serial");
  ASSERT_TRUE(
      WriteCheckpoint(testing::SmallConfigJson(), testing::SmallConfig(), src, serial, 3).ok());
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto other = std::filesystem::path(serial) / entry.path().filename();
    EXPECT_TRUE(std::filesystem::exists(other)) << other;
    EXPECT_EQ(std::filesystem::file_size(entry.path()), std::filesystem::file_size(other));
  }
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(serial);
}

TEST(CheckpointWriterTest, ConfigWithLayersKeepsTheShapesAndDropsMtp) {
  auto text = ConfigWithLayers(testing::SmallConfigJson(), 2);
  ASSERT_TRUE(text.ok()) << text.status();
  const nlohmann::json j = nlohmann::json::parse(*text);
  const nlohmann::json original = nlohmann::json::parse(testing::SmallConfigJson());
  EXPECT_EQ(j["num_hidden_layers"], 2);
  EXPECT_EQ(j["num_nextn_predict_layers"], 0);
  EXPECT_EQ(j["hidden_size"], original["hidden_size"]);
  auto config = ParseModelConfig(*text, "config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_hidden_layers, 2);
  auto one = ConfigWithLayers(testing::SmallConfigJson(), 1);  // below first_k_dense_replace
  ASSERT_TRUE(one.ok());
  auto one_config = ParseModelConfig(*one, "config.json");
  ASSERT_TRUE(one_config.ok()) << one_config.status();
  EXPECT_LE(one_config->first_k_dense_replace, 1);

  const int64_t have = original["num_hidden_layers"].get<int64_t>();
  EXPECT_FALSE(ConfigWithLayers(testing::SmallConfigJson(), 0).ok());
  EXPECT_FALSE(ConfigWithLayers(testing::SmallConfigJson(), static_cast<int>(have) + 1).ok());
  EXPECT_FALSE(ConfigWithLayers("[1, 2]", 1).ok());
  EXPECT_FALSE(ConfigWithLayers("{\"num_hidden_layers\": \"4\"}", 1).ok());
  EXPECT_FALSE(ConfigWithLayers("{not json", 1).ok());
}

}  // namespace
}  // namespace r1
