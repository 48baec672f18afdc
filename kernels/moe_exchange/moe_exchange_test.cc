// CPU reference test (runs everywhere): the record layout by hand; the plan, pack, unpack and
// combine-scatter references against independent brute-force computations on random routings of
// odd sizes (tokens 0/1/7/300, ranks 1/2/3/8/64, top-1 and top-8, out-of-range ids, experts
// placed round-robin and contiguously); every (token, destination) sent exactly once; unpack
// inverts pack; validation rejects bad parameters.
#include "kernels/moe_exchange/moe_exchange.h"

#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

uint32_t Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

// One random routing problem and the plan the reference makes for it.
struct Problem {
  int64_t tokens = 0;
  int top_k = 0, experts = 0, ranks = 0;
  std::vector<int32_t> topk_ids, expert_rank, expert_local;
  std::vector<float> topk_weights;
  std::vector<int32_t> send_offsets, send_token, token_slot;  // from MoeDispatchPlanReference
};

// Experts round-robin (expert e on rank e % ranks) or in contiguous blocks of ceil(experts/ranks);
// ids drawn from [−3, experts + 3), so some go nowhere.
Problem MakeProblem(int64_t tokens, int top_k, int experts, int ranks, bool round_robin,
                    std::mt19937& rng) {
  Problem problem;
  problem.tokens = tokens, problem.top_k = top_k, problem.experts = experts;
  problem.ranks = ranks;
  const int per_rank = (experts + ranks - 1) / ranks;
  for (int e = 0; e < experts; ++e) {
    problem.expert_rank.push_back(round_robin ? e % ranks : e / per_rank);
    problem.expert_local.push_back(round_robin ? e / ranks : e % per_rank);
  }
  for (int64_t i = 0; i < tokens * top_k; ++i) {
    problem.topk_ids.push_back(static_cast<int32_t>(rng() % (experts + 6)) - 3);
  }
  for (size_t i = 5; i < problem.topk_ids.size(); i += 97) {  // extreme ids go nowhere too
    problem.topk_ids[i] =
        i % 2 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int32_t>::min();
  }
  problem.topk_weights = testing::RandomFloat(tokens * top_k, rng, -1.0f, 1.0f);
  problem.send_offsets.assign(ranks + 1, -7);
  problem.send_token.assign(tokens * std::min(top_k, ranks), -7);
  problem.token_slot.assign(tokens * ranks, -7);
  return problem;
}

MoeDispatchPlanParams PlanParams(Problem& problem) {
  return {problem.topk_ids.data(),
          problem.tokens,
          problem.top_k,
          problem.experts,
          problem.expert_rank.data(),
          problem.ranks,
          problem.send_offsets.data(),
          problem.send_token.data(),
          problem.token_slot.data(),
          0};
}

bool Goes(const Problem& problem, int64_t token, int dest) {
  for (int j = 0; j < problem.top_k; ++j) {
    const int32_t e = problem.topk_ids[token * problem.top_k + j];
    if (e >= 0 && e < problem.experts && problem.expert_rank[e] == dest) return true;
  }
  return false;
}

// Destination of send row `row`, by a linear walk over the offsets.
int DestOf(const Problem& problem, int64_t row) {
  for (int dest = 0; dest < problem.ranks; ++dest) {
    if (row >= problem.send_offsets[dest] && row < problem.send_offsets[dest + 1]) return dest;
  }
  return -1;
}

struct Config {
  int64_t tokens;
  int ranks, top_k;
  bool round_robin;
  int experts;
};

std::vector<Config> Configs() {
  std::vector<Config> configs;
  for (int64_t tokens : {0, 1, 7, 300}) {
    for (int ranks : {1, 2, 3, 8, 64}) {
      for (int top_k : {1, 8}) {
        configs.push_back({tokens, ranks, top_k, true, 256});
        configs.push_back({tokens, ranks, top_k, false, 37});  // ranks 64: some own nothing
      }
    }
  }
  return configs;
}

std::string Name(const Config& c) {
  return "tokens " + std::to_string(c.tokens) + " ranks " + std::to_string(c.ranks) + " top_k " +
         std::to_string(c.top_k) + (c.round_robin ? " round-robin" : " contiguous");
}

TEST(MoeExchangeReferenceTest, LayoutByHand) {
  const MoeRecordLayout fp8 = MakeMoeRecordLayout(7168, 56, 8);
  EXPECT_EQ(fp8.scales_offset, 7168);
  EXPECT_EQ(fp8.ids_offset, 7168 + 224);
  EXPECT_EQ(fp8.weights_offset, 7168 + 224 + 32);
  EXPECT_EQ(fp8.record_bytes, 7456);
  const MoeRecordLayout bf16 = MakeMoeRecordLayout(14336, 0, 8);
  EXPECT_EQ(bf16.scales_offset, 14336);
  EXPECT_EQ(bf16.ids_offset, 14336);
  EXPECT_EQ(bf16.weights_offset, 14368);
  EXPECT_EQ(bf16.record_bytes, 14400);
  const MoeRecordLayout odd = MakeMoeRecordLayout(16, 3, 5);  // 12 → 16, 20 → 32 bytes
  EXPECT_EQ(odd.ids_offset, 32);
  EXPECT_EQ(odd.weights_offset, 64);
  EXPECT_EQ(odd.record_bytes, 96);
  EXPECT_TRUE(ValidateMoeRecordLayout(fp8).ok());
  EXPECT_TRUE(ValidateMoeRecordLayout(bf16).ok());
  EXPECT_TRUE(ValidateMoeRecordLayout(odd).ok());
  EXPECT_FALSE(ValidateMoeRecordLayout(MakeMoeRecordLayout(8, 0, 8)).ok());  // unaligned payload
  EXPECT_FALSE(ValidateMoeRecordLayout(MakeMoeRecordLayout(0, 0, 8)).ok());
  EXPECT_FALSE(ValidateMoeRecordLayout(MakeMoeRecordLayout(16, -1, 8)).ok());
  EXPECT_FALSE(ValidateMoeRecordLayout(MakeMoeRecordLayout(16, 0, 0)).ok());
  EXPECT_FALSE(ValidateMoeRecordLayout(MakeMoeRecordLayout(16, 0, 33)).ok());
  MoeRecordLayout moved = fp8;
  moved.ids_offset += 16;
  EXPECT_FALSE(ValidateMoeRecordLayout(moved).ok());
  moved = fp8;
  moved.record_bytes += 16;
  EXPECT_FALSE(ValidateMoeRecordLayout(moved).ok());
}

TEST(MoeExchangeReferenceTest, PlanThreads) {
  EXPECT_EQ(MoeDispatchPlanThreads(0), 32);
  EXPECT_EQ(MoeDispatchPlanThreads(1), 32);
  EXPECT_EQ(MoeDispatchPlanThreads(33), 64);
  EXPECT_EQ(MoeDispatchPlanThreads(1024), 1024);
  EXPECT_EQ(MoeDispatchPlanThreads(100000), 1024);
}

TEST(MoeExchangeReferenceTest, PlanByHand) {
  // 4 experts, 2 per rank; token 0 → {0}, token 1 → {1} (id 9 goes nowhere), token 2 → {0, 1}.
  Problem problem;
  problem.tokens = 3, problem.top_k = 2, problem.experts = 4, problem.ranks = 2;
  problem.topk_ids = {0, 1, 3, 9, 1, 2};
  problem.expert_rank = {0, 0, 1, 1};
  problem.send_offsets.assign(3, -7);
  problem.send_token.assign(6, -7);
  problem.token_slot.assign(6, -7);
  ASSERT_TRUE(MoeDispatchPlanReference(PlanParams(problem)).ok());
  EXPECT_EQ(problem.send_offsets, (std::vector<int32_t>{0, 2, 4}));
  EXPECT_EQ(problem.send_token, (std::vector<int32_t>{0, 2, 1, 2, -7, -7}));
  EXPECT_EQ(problem.token_slot, (std::vector<int32_t>{0, -1, -1, 2, 1, 3}));
}

TEST(MoeExchangeReferenceTest, PlanMatchesBruteForce) {
  std::mt19937 rng(1);
  for (const Config& c : Configs()) {
    Problem problem = MakeProblem(c.tokens, c.top_k, c.experts, c.ranks, c.round_robin, rng);
    ASSERT_TRUE(MoeDispatchPlanReference(PlanParams(problem)).ok()) << Name(c);
    // Brute force: destinations ascending, tokens ascending within one.
    std::vector<int32_t> offsets = {0}, send_token, token_slot(c.tokens * c.ranks, -1);
    for (int dest = 0; dest < c.ranks; ++dest) {
      for (int64_t t = 0; t < c.tokens; ++t) {
        if (!Goes(problem, t, dest)) continue;
        token_slot[t * c.ranks + dest] = static_cast<int32_t>(send_token.size());
        send_token.push_back(static_cast<int32_t>(t));
      }
      offsets.push_back(static_cast<int32_t>(send_token.size()));
    }
    EXPECT_EQ(problem.send_offsets, offsets) << Name(c);
    const int64_t rows = offsets.back();
    ASSERT_LE(rows, static_cast<int64_t>(problem.send_token.size())) << Name(c);
    EXPECT_EQ(std::vector<int32_t>(problem.send_token.begin(), problem.send_token.begin() + rows),
              send_token)
        << Name(c);
    for (size_t s = rows; s < problem.send_token.size(); ++s) {
      ASSERT_EQ(problem.send_token[s], -7) << Name(c) << ": row past S written";
    }
    EXPECT_EQ(problem.token_slot, token_slot) << Name(c);
    // Every routed (token, destination) exactly once, and token_slot inverts send rows.
    std::set<std::pair<int64_t, int>> seen;
    for (int64_t s = 0; s < rows; ++s) {
      const int dest = DestOf(problem, s);
      const int32_t t = problem.send_token[s];
      ASSERT_TRUE(Goes(problem, t, dest)) << Name(c);
      ASSERT_TRUE(seen.insert({t, dest}).second) << Name(c) << ": duplicate row";
      ASSERT_EQ(problem.token_slot[t * c.ranks + dest], s) << Name(c);
    }
    int64_t routed_pairs = 0;
    for (int64_t t = 0; t < c.tokens; ++t) {
      for (int dest = 0; dest < c.ranks; ++dest) routed_pairs += Goes(problem, t, dest);
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), routed_pairs) << Name(c);
  }
}

TEST(MoeExchangeReferenceTest, PackAndUnpackMatchBruteForce) {
  std::mt19937 rng(2);
  for (const Config& c : Configs()) {
    for (const bool fp8 : {true, false}) {
      Problem problem = MakeProblem(c.tokens, c.top_k, c.experts, c.ranks, c.round_robin, rng);
      ASSERT_TRUE(MoeDispatchPlanReference(PlanParams(problem)).ok()) << Name(c);
      const int64_t rows = problem.send_offsets[c.ranks];
      // FP8: 48-byte rows in a 64-byte stride with 3 scale groups (ld tokens + 5); BF16: 32 bytes.
      const int64_t payload = fp8 ? 48 : 32, stride = fp8 ? 64 : 32, groups = fp8 ? 3 : 0;
      const int64_t scale_ld = c.tokens + 5;
      const MoeRecordLayout layout = MakeMoeRecordLayout(payload, groups, c.top_k);
      std::vector<uint8_t> x(c.tokens * stride);
      for (auto& byte : x) byte = static_cast<uint8_t>(rng());
      const std::vector<float> x_scale = testing::RandomFloat(groups * scale_ld, rng, 0.01f, 2.0f);
      std::vector<uint8_t> records(rows * layout.record_bytes + 1, 0xa5);
      MoeDispatchPackParams pack{x.data(),
                                 stride,
                                 fp8 ? x_scale.data() : nullptr,
                                 scale_ld,
                                 problem.topk_ids.data(),
                                 problem.topk_weights.data(),
                                 c.tokens,
                                 c.top_k,
                                 c.experts,
                                 problem.expert_rank.data(),
                                 problem.expert_local.data(),
                                 problem.send_offsets.data(),
                                 problem.send_token.data(),
                                 c.ranks,
                                 rows,
                                 layout,
                                 records.data()};
      ASSERT_TRUE(MoeDispatchPackReference(pack).ok()) << Name(c);
      EXPECT_EQ(records.back(), 0xa5) << Name(c) << ": wrote past the last record";

      // Brute-force records, built field by field.
      std::vector<uint8_t> want(rows * layout.record_bytes + 1, 0);
      want.back() = 0xa5;
      for (int64_t s = 0; s < rows; ++s) {
        const int dest = DestOf(problem, s);
        const int64_t t = problem.send_token[s];
        uint8_t* record = want.data() + s * layout.record_bytes;
        for (int64_t b = 0; b < payload; ++b) record[b] = x[t * stride + b];
        for (int64_t g = 0; g < groups; ++g) {
          std::memcpy(record + payload + 4 * g, &x_scale[g * scale_ld + t], 4);
        }
        const int64_t ids_at = payload + (4 * groups + 15) / 16 * 16;
        const int64_t weights_at = ids_at + (4 * c.top_k + 15) / 16 * 16;
        for (int j = 0; j < c.top_k; ++j) {
          const int32_t e = problem.topk_ids[t * c.top_k + j];
          const bool here = e >= 0 && e < c.experts && problem.expert_rank[e] == dest;
          const int32_t id = here ? problem.expert_local[e] : -1;
          const float weight = here ? problem.topk_weights[t * c.top_k + j] : 0.0f;
          std::memcpy(record + ids_at + 4 * j, &id, 4);
          std::memcpy(record + weights_at + 4 * j, &weight, 4);
        }
      }
      ASSERT_EQ(records, want) << Name(c) << (fp8 ? " fp8" : " bf16");

      // Unpack returns the packed scales, ids and weights.
      const int64_t out_ld = rows + 3;
      std::vector<float> scale(groups * out_ld, -9.0f), weights(rows * c.top_k, -9.0f);
      std::vector<int32_t> ids(rows * c.top_k, -9);
      ASSERT_TRUE(
          MoeRecordUnpackReference({records.data(), rows, layout, fp8 ? scale.data() : nullptr,
                                    out_ld, ids.data(), weights.data()})
              .ok())
          << Name(c);
      std::vector<int64_t> found(c.tokens * c.top_k, 0);  // records holding each valid slot
      for (int64_t s = 0; s < rows; ++s) {
        const int dest = DestOf(problem, s);
        const int64_t t = problem.send_token[s];
        for (int64_t g = 0; g < groups; ++g) {
          ASSERT_EQ(Bits(scale[g * out_ld + s]), Bits(x_scale[g * scale_ld + t])) << Name(c);
        }
        for (int j = 0; j < c.top_k; ++j) {
          const int32_t e = problem.topk_ids[t * c.top_k + j];
          const bool here = e >= 0 && e < c.experts && problem.expert_rank[e] == dest;
          ASSERT_EQ(ids[s * c.top_k + j], here ? problem.expert_local[e] : -1) << Name(c);
          ASSERT_EQ(Bits(weights[s * c.top_k + j]),
                    Bits(here ? problem.topk_weights[t * c.top_k + j] : 0.0f))
              << Name(c);
          if (ids[s * c.top_k + j] >= 0) ++found[t * c.top_k + j];
        }
      }
      for (int64_t g = 0; g < groups; ++g) {  // columns past rows untouched
        for (int64_t s = rows; s < out_ld; ++s) ASSERT_EQ(scale[g * out_ld + s], -9.0f);
      }
      // Every valid (token, slot) reaches exactly one record; invalid ones none.
      for (int64_t i = 0; i < c.tokens * c.top_k; ++i) {
        const int32_t e = problem.topk_ids[i];
        ASSERT_EQ(found[i], e >= 0 && e < c.experts ? 1 : 0) << Name(c) << " pair " << i;
      }
    }
  }
}

TEST(MoeExchangeReferenceTest, UnpackCopiesUntrustedBits) {
  // Random record bytes (wild ids, NaN patterns) come out unchanged.
  std::mt19937 rng(3);
  const MoeRecordLayout layout = MakeMoeRecordLayout(32, 2, 3);
  const int64_t rows = 5;
  std::vector<uint8_t> records(rows * layout.record_bytes);
  for (auto& byte : records) byte = static_cast<uint8_t>(rng());
  std::vector<float> scale(2 * rows), weights(rows * 3);
  std::vector<int32_t> ids(rows * 3);
  ASSERT_TRUE(MoeRecordUnpackReference(
                  {records.data(), rows, layout, scale.data(), rows, ids.data(), weights.data()})
                  .ok());
  for (int64_t s = 0; s < rows; ++s) {
    const uint8_t* record = records.data() + s * layout.record_bytes;
    for (int g = 0; g < 2; ++g) {
      EXPECT_EQ(std::memcmp(&scale[g * rows + s], record + layout.scales_offset + 4 * g, 4), 0);
    }
    for (int j = 0; j < 3; ++j) {
      EXPECT_EQ(std::memcmp(&ids[s * 3 + j], record + layout.ids_offset + 4 * j, 4), 0);
      EXPECT_EQ(std::memcmp(&weights[s * 3 + j], record + layout.weights_offset + 4 * j, 4), 0);
    }
  }
}

TEST(MoeExchangeReferenceTest, CombineScatterMatchesBruteForce) {
  std::mt19937 rng(4);
  for (const Config& c : Configs()) {
    for (const bool with_add : {true, false}) {
      Problem problem = MakeProblem(c.tokens, c.top_k, c.experts, c.ranks, c.round_robin, rng);
      ASSERT_TRUE(MoeDispatchPlanReference(PlanParams(problem)).ok()) << Name(c);
      const int64_t rows = problem.send_offsets[c.ranks], dim = 24;
      const auto back = testing::RandomBf16(rows * dim, rng);
      const auto add = testing::RandomBf16(c.tokens * dim, rng, 4.0f);
      std::vector<uint16_t> out(c.tokens * dim, 0xffff);
      ASSERT_TRUE(
          MoeCombineScatterReference({back.data(), rows, problem.token_slot.data(), c.ranks,
                                      with_add ? add.data() : nullptr, out.data(), c.tokens, dim})
              .ok())
          << Name(c);
      // Brute force: find each destination's row by searching its range of send rows.
      for (int64_t t = 0; t < c.tokens; ++t) {
        for (int64_t d = 0; d < dim; ++d) {
          float sum = with_add ? Bf16ToFloat(add[t * dim + d]) : 0.0f;
          for (int dest = 0; dest < c.ranks; ++dest) {
            for (int32_t s = problem.send_offsets[dest]; s < problem.send_offsets[dest + 1]; ++s) {
              if (problem.send_token[s] == t) sum += Bf16ToFloat(back[s * dim + d]);
            }
          }
          ASSERT_EQ(out[t * dim + d], FloatToBf16(sum)) << Name(c) << " t " << t << " d " << d;
        }
      }
      if (with_add) {  // in place: out aliases add
        std::vector<uint16_t> in_place = add;
        ASSERT_TRUE(
            MoeCombineScatterReference({back.data(), rows, problem.token_slot.data(), c.ranks,
                                        in_place.data(), in_place.data(), c.tokens, dim})
                .ok());
        EXPECT_EQ(in_place, out) << Name(c);
      }
    }
  }
}

// A fixed capacity C per destination moves destination p's rows to [p·C, p·C + count): the
// same tokens in the same order, the same records, and every other record empty.
TEST(MoeExchangeReferenceTest, FixedCapacityMatchesPacked) {
  std::mt19937 rng(5);
  for (const Config& c : Configs()) {
    Problem packed = MakeProblem(c.tokens, c.top_k, c.experts, c.ranks, c.round_robin, rng);
    ASSERT_TRUE(MoeDispatchPlanReference(PlanParams(packed)).ok()) << Name(c);
    const int64_t capacity = c.tokens + 2, rows = capacity * c.ranks;
    Problem fixed = packed;
    fixed.send_token.assign(rows, -7);
    fixed.token_slot.assign(c.tokens * c.ranks, -7);
    MoeDispatchPlanParams plan = PlanParams(fixed);
    plan.capacity = capacity;
    ASSERT_TRUE(MoeDispatchPlanReference(plan).ok()) << Name(c);
    ASSERT_EQ(fixed.send_offsets, packed.send_offsets) << Name(c);
    for (int p = 0; p < c.ranks; ++p) {
      const int64_t count = packed.send_offsets[p + 1] - packed.send_offsets[p];
      for (int64_t i = 0; i < capacity; ++i) {
        ASSERT_EQ(fixed.send_token[p * capacity + i],
                  i < count ? packed.send_token[packed.send_offsets[p] + i] : -7)
            << Name(c);
      }
    }
    for (int64_t t = 0; t < c.tokens; ++t) {
      for (int p = 0; p < c.ranks; ++p) {
        const int32_t slot = packed.token_slot[t * c.ranks + p];
        ASSERT_EQ(fixed.token_slot[t * c.ranks + p],
                  slot < 0 ? -1 : p * capacity + slot - packed.send_offsets[p])
            << Name(c);
      }
    }

    // Records: FP8-like payload of 48 bytes with 3 scale groups.
    const MoeRecordLayout layout = MakeMoeRecordLayout(48, 3, c.top_k);
    std::vector<uint8_t> x(c.tokens * 48);
    for (auto& byte : x) byte = static_cast<uint8_t>(rng());
    const std::vector<float> x_scale = testing::RandomFloat(3 * c.tokens, rng, 0.01f, 2.0f);
    auto pack_params = [&](Problem& problem, int64_t pack_rows, int64_t pack_capacity,
                           std::vector<uint8_t>& records) {
      return MoeDispatchPackParams{x.data(),
                                   48,
                                   x_scale.data(),
                                   c.tokens,
                                   problem.topk_ids.data(),
                                   problem.topk_weights.data(),
                                   c.tokens,
                                   c.top_k,
                                   c.experts,
                                   problem.expert_rank.data(),
                                   problem.expert_local.data(),
                                   problem.send_offsets.data(),
                                   problem.send_token.data(),
                                   c.ranks,
                                   pack_rows,
                                   layout,
                                   records.data(),
                                   pack_capacity};
    };
    const int64_t rb = layout.record_bytes, packed_rows = packed.send_offsets[c.ranks];
    std::vector<uint8_t> want(packed_rows * rb), got(rows * rb, 0xa5);
    ASSERT_TRUE(MoeDispatchPackReference(pack_params(packed, packed_rows, 0, want)).ok());
    ASSERT_TRUE(MoeDispatchPackReference(pack_params(fixed, rows, capacity, got)).ok()) << Name(c);
    for (int p = 0; p < c.ranks; ++p) {
      const int64_t count = packed.send_offsets[p + 1] - packed.send_offsets[p];
      for (int64_t i = 0; i < capacity; ++i) {
        const uint8_t* record = got.data() + (p * capacity + i) * rb;
        if (i < count) {
          ASSERT_EQ(std::memcmp(record, want.data() + (packed.send_offsets[p] + i) * rb, rb), 0)
              << Name(c);
          continue;
        }
        for (int64_t b = 0; b < rb; ++b) {  // empty: payload untouched, ids −1, the rest 0
          const bool id = b >= layout.ids_offset && b < layout.ids_offset + 4 * c.top_k;
          const uint8_t expect = b < layout.scales_offset ? 0xa5 : id ? 0xff : 0;
          ASSERT_EQ(record[b], expect) << Name(c) << " byte " << b;
        }
      }
    }
    // The pack refuses a row count other than ranks·capacity, a capacity below the tokens, and a
    // destination announcing more rows than the capacity.
    EXPECT_FALSE(ValidateMoeDispatchPack(pack_params(fixed, rows - 1, capacity, got)).ok());
    if (c.tokens > 1) {  // (capacity 0 means packed)
      plan.capacity = c.tokens - 1;
      EXPECT_FALSE(ValidateMoeDispatchPlan(plan).ok()) << Name(c);
      std::vector<int32_t> offsets = fixed.send_offsets;
      fixed.send_offsets.assign(c.ranks + 1, 0);
      fixed.send_offsets[c.ranks] = static_cast<int32_t>(capacity + 1);
      EXPECT_FALSE(MoeDispatchPackReference(pack_params(fixed, rows, capacity, got)).ok());
      fixed.send_offsets = offsets;
    }
  }
}

TEST(MoeExchangeReferenceTest, Validation) {
  int32_t ids[16] = {}, ranks_of[4] = {0, 0, 1, 1}, local[4] = {}, offsets[65] = {};
  int32_t send_token[16] = {}, slots[16] = {};
  float weights[16] = {}, scales[16] = {};
  alignas(16) uint8_t x[256] = {}, records[1024] = {};
  const MoeDispatchPlanParams plan{ids, 2, 2, 4, ranks_of, 2, offsets, send_token, slots};
  EXPECT_TRUE(ValidateMoeDispatchPlan(plan).ok());
  auto plan_with = [&](auto edit) {
    MoeDispatchPlanParams p = plan;
    edit(p);
    return ValidateMoeDispatchPlan(p).ok();
  };
  EXPECT_FALSE(plan_with([](auto& p) { p.tokens = -1; }));
  EXPECT_FALSE(plan_with([](auto& p) { p.top_k = 0; }));
  EXPECT_FALSE(plan_with([](auto& p) { p.top_k = 33; }));
  EXPECT_FALSE(plan_with([](auto& p) { p.experts = 0; }));
  EXPECT_FALSE(plan_with([](auto& p) { p.experts = 1025; }));
  EXPECT_FALSE(plan_with([](auto& p) { p.ranks = 0; }));
  EXPECT_FALSE(plan_with([](auto& p) { p.ranks = 65; }));
  EXPECT_FALSE(plan_with([](auto& p) { p.topk_ids = nullptr; }));
  EXPECT_FALSE(plan_with([](auto& p) { p.expert_rank = nullptr; }));
  EXPECT_FALSE(plan_with([](auto& p) { p.send_offsets = nullptr; }));
  EXPECT_FALSE(plan_with([](auto& p) { p.send_token = nullptr; }));
  EXPECT_FALSE(plan_with([](auto& p) { p.token_slot = nullptr; }));
  EXPECT_TRUE(plan_with([](auto& p) {  // no tokens: only the offsets are written
    p.tokens = 0, p.topk_ids = nullptr, p.send_token = nullptr, p.token_slot = nullptr;
  }));
  int32_t bad_ranks[4] = {0, 2, 1, 1};  // rank 2 of 2
  MoeDispatchPlanParams bad_plan = plan;
  bad_plan.expert_rank = bad_ranks;
  EXPECT_FALSE(MoeDispatchPlanReference(bad_plan).ok());

  // Pack: plan of 2 tokens routed {0, 2} and {1, 3} → 2 rows per rank.
  int32_t pack_ids[4] = {0, 2, 1, 3}, pack_offsets[3] = {0, 2, 4}, pack_tokens[4] = {0, 1, 0, 1};
  const MoeDispatchPackParams pack{x,           64,       scales, 2,
                                   pack_ids,    weights,  2,      2,
                                   4,           ranks_of, local,  pack_offsets,
                                   pack_tokens, 2,        4,      MakeMoeRecordLayout(48, 2, 2),
                                   records};
  ASSERT_LE(pack.rows * pack.layout.record_bytes, 1024);
  EXPECT_TRUE(ValidateMoeDispatchPack(pack).ok());
  EXPECT_TRUE(MoeDispatchPackReference(pack).ok());
  auto pack_with = [&](auto edit) {
    MoeDispatchPackParams p = pack;
    edit(p);
    return ValidateMoeDispatchPack(p).ok();
  };
  auto pack_reference_with = [&](auto edit) {
    MoeDispatchPackParams p = pack;
    edit(p);
    return MoeDispatchPackReference(p).ok();
  };
  EXPECT_FALSE(pack_with([](auto& p) { p.layout = MakeMoeRecordLayout(40, 2, 2); }));  // unaligned
  EXPECT_FALSE(pack_with([](auto& p) { p.layout = MakeMoeRecordLayout(48, 2, 3); }));  // top_k
  EXPECT_FALSE(pack_with([](auto& p) { p.layout.record_bytes += 16; }));
  EXPECT_FALSE(pack_with([](auto& p) { p.x_stride = 32; }));
  EXPECT_FALSE(pack_with([](auto& p) { p.x_scale = nullptr; }));
  EXPECT_TRUE(pack_with([](auto& p) {  // no scale groups: x_scale may be null
    p.layout = MakeMoeRecordLayout(48, 0, 2), p.x_scale = nullptr;
  }));
  EXPECT_FALSE(pack_with([](auto& p) { p.x_scale_ld = 1; }));
  EXPECT_FALSE(pack_with([](auto& p) { p.rows = 5; }));  // > tokens · min(top_k, ranks)
  EXPECT_FALSE(pack_with([](auto& p) { p.rows = -1; }));
  EXPECT_FALSE(pack_with([](auto& p) { p.ranks = 65; }));
  EXPECT_FALSE(pack_with([](auto& p) { p.experts = 1025; }));
  EXPECT_FALSE(pack_with([](auto& p) { p.x = nullptr; }));
  EXPECT_FALSE(pack_with([](auto& p) { p.records = nullptr; }));
  EXPECT_FALSE(pack_with([](auto& p) { p.send_token = nullptr; }));
  EXPECT_FALSE(pack_with([](auto& p) { p.send_offsets = nullptr; }));
  EXPECT_FALSE(pack_with([](auto& p) { p.topk_weights = nullptr; }));
  EXPECT_FALSE(pack_with([](auto& p) { p.expert_local = nullptr; }));
  EXPECT_TRUE(pack_with([](auto& p) {  // nothing to send
    p.rows = 0, p.x = nullptr, p.records = nullptr, p.send_token = nullptr;
  }));
  EXPECT_FALSE(pack_reference_with([](auto& p) { p.rows = 3; }));  // != send_offsets[ranks]
  int32_t wild_tokens[4] = {0, 1, 2, 1};
  EXPECT_FALSE(pack_reference_with([&](auto& p) { p.send_token = wild_tokens; }));
  int32_t falling_offsets[3] = {0, 5, 4};
  EXPECT_FALSE(pack_reference_with([&](auto& p) { p.send_offsets = falling_offsets; }));
  EXPECT_FALSE(pack_reference_with([&](auto& p) { p.expert_rank = bad_ranks; }));

  // Unpack.
  const MoeRecordUnpackParams unpack{records, 4, pack.layout, scales, 4, ids, weights};
  EXPECT_TRUE(ValidateMoeRecordUnpack(unpack).ok());
  auto unpack_with = [&](auto edit) {
    MoeRecordUnpackParams p = unpack;
    edit(p);
    return ValidateMoeRecordUnpack(p).ok();
  };
  EXPECT_FALSE(unpack_with([](auto& p) { p.scale_ld = 3; }));
  EXPECT_FALSE(unpack_with([](auto& p) { p.rows = -1; }));
  EXPECT_FALSE(unpack_with([](auto& p) { p.layout.payload_bytes = 40; }));
  EXPECT_FALSE(unpack_with([](auto& p) { p.records = nullptr; }));
  EXPECT_FALSE(unpack_with([](auto& p) { p.scale = nullptr; }));
  EXPECT_FALSE(unpack_with([](auto& p) { p.ids = nullptr; }));
  EXPECT_FALSE(unpack_with([](auto& p) { p.weights = nullptr; }));
  EXPECT_TRUE(unpack_with([](auto& p) { p.rows = 0, p.records = nullptr, p.ids = nullptr; }));

  // Combine-scatter.
  uint16_t back[64] = {}, out[64] = {};
  int32_t slot_table[4] = {0, -1, 1, 2};  // 2 tokens × 2 ranks, 3 rows back
  const MoeCombineScatterParams combine{back, 3, slot_table, 2, nullptr, out, 2, 8};
  EXPECT_TRUE(MoeCombineScatterReference(combine).ok());
  auto combine_with = [&](auto edit) {
    MoeCombineScatterParams p = combine;
    edit(p);
    return MoeCombineScatterReference(p).ok();
  };
  EXPECT_FALSE(combine_with([](auto& p) { p.back_rows = 2; }));  // slot 2 ≥ back_rows
  EXPECT_FALSE(combine_with([](auto& p) { p.dim = 0; }));
  EXPECT_FALSE(combine_with([](auto& p) { p.ranks = 0; }));
  EXPECT_FALSE(combine_with([](auto& p) { p.ranks = 65; }));
  EXPECT_FALSE(combine_with([](auto& p) { p.tokens = -1; }));
  EXPECT_FALSE(combine_with([](auto& p) { p.back = nullptr; }));
  EXPECT_FALSE(combine_with([](auto& p) { p.out = nullptr; }));
  EXPECT_FALSE(combine_with([](auto& p) { p.token_slot = nullptr; }));
  EXPECT_TRUE(combine_with([](auto& p) { p.tokens = 0, p.token_slot = nullptr, p.out = nullptr; }));
}

}  // namespace
}  // namespace r1::kernels
