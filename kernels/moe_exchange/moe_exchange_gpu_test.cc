// GPU test (label gpu): plan, pack, unpack and combine-scatter equal the references bit for bit
// on the same random routings (out-of-range and extreme ids included): no tokens, decode sizes,
// ranks up to 64 (also with fewer plan threads than ranks), several tiles of the single-CTA plan
// (1500, 3000, 20000 tokens), and R1's shape (8192 tokens, 8 ranks, top-8 of 256) with FP8 rows
// (7168 bytes + 56 scale groups) and BF16 rows (14336 bytes). Outputs are poisoned first, and
// buffers are one row longer than needed, so an unwritten or stray element shows.
#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/moe_exchange/moe_exchange.h"
#include "kernels/moe_exchange/moe_exchange_cuda.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

constexpr uint8_t kPoisonByte = 0xa5;
constexpr int32_t kPoisonInt = static_cast<int32_t>(0xa5a5a5a5u);

template <typename T>
DeviceBuffer<T> ToDevice(const std::vector<T>& host) {
  DeviceBuffer<T> device(host.size());
  if (!host.empty()) device.Upload(host);
  return device;
}

template <typename T>
std::vector<T> ToHost(const DeviceBuffer<T>& device) {
  if (device.size() == 0) return {};
  return device.Download();
}

// A device buffer of n elements with every byte kPoisonByte.
template <typename T>
DeviceBuffer<T> Poisoned(size_t n) {
  DeviceBuffer<T> device(n);
  if (n > 0) device.Fill(kPoisonByte);
  return device;
}

// The host mirror of Poisoned(n).
template <typename T>
std::vector<T> PoisonedHost(size_t n) {
  std::vector<T> host(n);
  if (n > 0) std::memset(host.data(), kPoisonByte, n * sizeof(T));
  return host;
}

struct Case {
  int64_t tokens;
  int ranks, top_k, experts;
  bool round_robin;
  int64_t payload_bytes, scale_groups, dim;
  bool fixed = false;  // fixed capacity per destination (tokens + 3), else packed rows
};

std::string Name(const Case& c) {
  return "tokens " + std::to_string(c.tokens) + " ranks " + std::to_string(c.ranks) + " top_k " +
         std::to_string(c.top_k) + " experts " + std::to_string(c.experts) +
         (c.round_robin ? " round-robin" : " contiguous") + " payload " +
         std::to_string(c.payload_bytes) + " groups " + std::to_string(c.scale_groups) +
         (c.fixed ? " fixed capacity" : "");
}

void RunCase(const Case& c, unsigned seed) {
  SCOPED_TRACE(Name(c));
  std::mt19937 rng(seed);
  const int64_t pairs = c.tokens * c.top_k;
  // Placement: round-robin or contiguous blocks of ceil(experts / ranks).
  std::vector<int32_t> expert_rank(c.experts), expert_local(c.experts);
  const int per_rank = (c.experts + c.ranks - 1) / c.ranks;
  for (int e = 0; e < c.experts; ++e) {
    expert_rank[e] = c.round_robin ? e % c.ranks : e / per_rank;
    expert_local[e] = c.round_robin ? e / c.ranks : e % per_rank;
  }
  std::vector<int32_t> topk_ids(pairs);
  for (auto& id : topk_ids) id = static_cast<int32_t>(rng() % (c.experts + 6)) - 3;
  for (int64_t i = 5; i < pairs; i += 97) {
    topk_ids[i] = i % 2 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int32_t>::min();
  }
  const auto topk_weights = testing::RandomFloat(pairs, rng, -1.0f, 1.0f);
  DeviceBuffer<int32_t> d_topk_ids = ToDevice(topk_ids), d_expert_rank = ToDevice(expert_rank),
                        d_expert_local = ToDevice(expert_local);
  DeviceBuffer<float> d_topk_weights = ToDevice(topk_weights);

  // Plan.
  const int64_t fixed_capacity = c.fixed ? c.tokens + 3 : 0;
  const int64_t capacity =
      c.fixed ? fixed_capacity * c.ranks : c.tokens * std::min(c.top_k, c.ranks);
  auto send_offsets = PoisonedHost<int32_t>(c.ranks + 1);
  auto send_token = PoisonedHost<int32_t>(capacity);
  auto token_slot = PoisonedHost<int32_t>(c.tokens * c.ranks);
  MoeDispatchPlanParams plan{topk_ids.data(),     c.tokens,           c.top_k,
                             c.experts,           expert_rank.data(), c.ranks,
                             send_offsets.data(), send_token.data(),  token_slot.data(),
                             fixed_capacity};
  ASSERT_TRUE(MoeDispatchPlanReference(plan).ok());
  auto d_send_offsets = Poisoned<int32_t>(send_offsets.size());
  auto d_send_token = Poisoned<int32_t>(send_token.size());
  auto d_token_slot = Poisoned<int32_t>(token_slot.size());
  plan.topk_ids = d_topk_ids.get();
  plan.expert_rank = d_expert_rank.get();
  plan.send_offsets = d_send_offsets.get();
  plan.send_token = d_send_token.get();
  plan.token_slot = d_token_slot.get();
  ASSERT_TRUE(LaunchMoeDispatchPlan(plan, nullptr).ok());
  ASSERT_EQ(ToHost(d_send_offsets), send_offsets);
  ASSERT_EQ(ToHost(d_send_token), send_token);  // unused rows stay poisoned
  ASSERT_EQ(ToHost(d_token_slot), token_slot);
  const int64_t rows = c.fixed ? capacity : send_offsets[c.ranks];

  // Pack: rows in a stride 16 bytes longer than the payload, scales with ld = tokens + 3.
  const int64_t x_stride = c.payload_bytes + 16, x_scale_ld = c.tokens + 3;
  const MoeRecordLayout layout = MakeMoeRecordLayout(c.payload_bytes, c.scale_groups, c.top_k);
  const auto x = testing::RandomFp8(c.tokens * x_stride, rng);
  const auto x_scale = testing::RandomFloat(c.scale_groups * x_scale_ld, rng, 0.001f, 1.0f);
  const size_t record_bytes_total = (rows + 1) * layout.record_bytes;
  auto records = PoisonedHost<uint8_t>(record_bytes_total);
  MoeDispatchPackParams pack{x.data(),
                             x_stride,
                             c.scale_groups > 0 ? x_scale.data() : nullptr,
                             x_scale_ld,
                             topk_ids.data(),
                             topk_weights.data(),
                             c.tokens,
                             c.top_k,
                             c.experts,
                             expert_rank.data(),
                             expert_local.data(),
                             send_offsets.data(),
                             send_token.data(),
                             c.ranks,
                             rows,
                             layout,
                             records.data(),
                             fixed_capacity};
  ASSERT_TRUE(MoeDispatchPackReference(pack).ok());
  DeviceBuffer<uint8_t> d_x = ToDevice(x);
  DeviceBuffer<float> d_x_scale = ToDevice(x_scale);
  auto d_records = Poisoned<uint8_t>(record_bytes_total);
  pack.x = d_x.get();
  pack.x_scale = c.scale_groups > 0 ? d_x_scale.get() : nullptr;
  pack.topk_ids = d_topk_ids.get();
  pack.topk_weights = d_topk_weights.get();
  pack.expert_rank = d_expert_rank.get();
  pack.expert_local = d_expert_local.get();
  pack.send_offsets = d_send_offsets.get();
  pack.send_token = d_send_token.get();
  pack.records = d_records.get();
  ASSERT_TRUE(LaunchMoeDispatchPack(pack, nullptr).ok());
  ASSERT_TRUE(ToHost(d_records) == records) << "records differ";

  // Unpack the device's records.
  const int64_t scale_ld = rows + 5;
  auto scale = PoisonedHost<float>(c.scale_groups * scale_ld);
  auto ids = PoisonedHost<int32_t>((rows + 1) * c.top_k);
  auto weights = PoisonedHost<float>((rows + 1) * c.top_k);
  MoeRecordUnpackParams unpack{records.data(), rows,       layout,        scale.data(),
                               scale_ld,       ids.data(), weights.data()};
  if (c.scale_groups == 0) unpack.scale = nullptr;
  ASSERT_TRUE(MoeRecordUnpackReference(unpack).ok());
  auto d_scale = Poisoned<float>(scale.size());
  auto d_ids = Poisoned<int32_t>(ids.size());
  auto d_weights = Poisoned<float>(weights.size());
  unpack.records = d_records.get();
  unpack.scale = c.scale_groups > 0 ? d_scale.get() : nullptr;
  unpack.ids = d_ids.get();
  unpack.weights = d_weights.get();
  ASSERT_TRUE(LaunchMoeRecordUnpack(unpack, nullptr).ok());
  // Floats compared as bytes: bit for bit, whatever the pattern.
  auto same_bytes = [](const auto& got, const auto& want) {
    return got.size() == want.size() &&
           (want.empty() || std::memcmp(got.data(), want.data(), want.size() * 4) == 0);
  };
  EXPECT_TRUE(same_bytes(ToHost(d_scale), scale));
  EXPECT_EQ(ToHost(d_ids), ids);
  EXPECT_TRUE(same_bytes(ToHost(d_weights), weights));

  // Combine-scatter: with the shared-expert add, without, and in place (out = add).
  const auto back = testing::RandomBf16(rows * c.dim, rng);
  const auto add = testing::RandomBf16(c.tokens * c.dim, rng, 2.0f);
  DeviceBuffer<uint16_t> d_back = ToDevice(back);
  for (const int mode : {0, 1, 2}) {  // 0: add, 1: no add, 2: in place
    SCOPED_TRACE(mode);
    std::vector<uint16_t> out = mode == 2 ? add : PoisonedHost<uint16_t>(c.tokens * c.dim);
    MoeCombineScatterParams combine{
        back.data(), rows, token_slot.data(), c.ranks, mode == 1 ? nullptr : add.data(), out.data(),
        c.tokens,    c.dim};
    if (mode == 2) combine.add = out.data();
    ASSERT_TRUE(MoeCombineScatterReference(combine).ok());
    DeviceBuffer<uint16_t> d_add = ToDevice(add);
    DeviceBuffer<uint16_t> d_out = mode == 2 ? ToDevice(add) : Poisoned<uint16_t>(c.tokens * c.dim);
    combine.back = d_back.get();
    combine.token_slot = d_token_slot.get();
    combine.add = mode == 0 ? d_add.get() : mode == 2 ? d_out.get() : nullptr;
    combine.out = d_out.get();
    ASSERT_TRUE(LaunchMoeCombineScatter(combine, nullptr).ok());
    ASSERT_TRUE(ToHost(d_out) == out) << "combine differs";
  }
}

TEST(MoeExchangeGpuTest, MatchesReference) {
  const Case cases[] = {
      {0, 8, 8, 256, true, 7168, 56, 7168},      // no tokens
      {1, 8, 8, 256, true, 7168, 56, 7168},      // one decode token
      {7, 3, 1, 37, false, 48, 3, 40},           // top-1, odd sizes
      {20, 64, 8, 256, true, 32, 1, 8},          // one warp, 64 ranks: scan loops over ranks
      {64, 64, 8, 256, true, 64, 2, 64},         // 64 ranks (both mask halves)
      {300, 64, 1, 37, false, 32, 0, 8},         // ranks that own nothing
      {300, 2, 8, 37, false, 32, 0, 24},         // two ranks, contiguous
      {300, 1, 8, 256, true, 16, 1, 16},         // one rank
      {1500, 64, 8, 256, true, 112, 1, 56},      // two plan tiles, 64 ranks
      {3000, 5, 8, 160, false, 7168, 56, 7168},  // three tiles, R1 payload
      {20000, 8, 8, 256, true, 16, 1, 8},        // past the ~16K sweet spot: still exact
      {8192, 8, 8, 256, true, 7168, 56, 7168},   // R1: FP8 rows + scales
      {8192, 8, 8, 256, true, 14336, 0, 7168},   // R1: BF16 rows
      // Fixed capacity: every destination's block has tokens + 3 records, the rest empty.
      {0, 8, 8, 256, true, 7168, 56, 7168, true},      // no tokens: only empty records
      {1, 8, 8, 256, true, 7168, 56, 7168, true},      // one decode token
      {7, 3, 1, 37, false, 48, 3, 40, true},           // top-1, odd sizes
      {64, 64, 8, 256, true, 64, 2, 64, true},         // 64 ranks
      {256, 16, 8, 256, false, 7168, 56, 7168, true},  // R1 decode at W = 16, contiguous
      {1500, 64, 8, 256, true, 112, 1, 56, true},      // two plan tiles
  };
  unsigned seed = 0;
  for (const Case& c : cases) {
    RunCase(c, ++seed);
    if (HasFatalFailure()) return;
  }
}

TEST(MoeExchangeGpuTest, UnpackCopiesUntrustedBits) {
  // Random bytes from a "peer": wild ids and NaN patterns come out unchanged.
  std::mt19937 rng(77);
  const MoeRecordLayout layout = MakeMoeRecordLayout(7168, 56, 8);
  const int64_t rows = 333, scale_ld = 340;
  std::vector<uint8_t> records(rows * layout.record_bytes);
  for (auto& byte : records) byte = static_cast<uint8_t>(rng());
  auto scale = PoisonedHost<float>(layout.scale_groups * scale_ld);
  auto ids = PoisonedHost<int32_t>(rows * layout.top_k);
  auto weights = PoisonedHost<float>(rows * layout.top_k);
  MoeRecordUnpackParams unpack{records.data(), rows,       layout,        scale.data(),
                               scale_ld,       ids.data(), weights.data()};
  ASSERT_TRUE(MoeRecordUnpackReference(unpack).ok());
  DeviceBuffer<uint8_t> d_records = ToDevice(records);
  auto d_scale = Poisoned<float>(scale.size());
  auto d_ids = Poisoned<int32_t>(ids.size());
  auto d_weights = Poisoned<float>(weights.size());
  unpack.records = d_records.get();
  unpack.scale = d_scale.get();
  unpack.ids = d_ids.get();
  unpack.weights = d_weights.get();
  ASSERT_TRUE(LaunchMoeRecordUnpack(unpack, nullptr).ok());
  const auto got_scale = ToHost(d_scale), got_weights = ToHost(d_weights);
  EXPECT_EQ(std::memcmp(got_scale.data(), scale.data(), scale.size() * 4), 0);
  EXPECT_EQ(std::memcmp(got_weights.data(), weights.data(), weights.size() * 4), 0);
  EXPECT_EQ(ToHost(d_ids), ids);
}

TEST(MoeExchangeGpuTest, PlanIgnoresOutOfRangeRanks) {
  // The reference rejects an expert_rank outside [0, ranks); the kernel routes that expert
  // nowhere — the same plan as ids that never name it.
  std::mt19937 rng(5);
  const int64_t tokens = 200;
  const int top_k = 8, experts = 64, ranks = 4;
  std::vector<int32_t> expert_rank(experts), ids(tokens * top_k), ids_without(tokens * top_k);
  for (int e = 0; e < experts; ++e) expert_rank[e] = e % ranks;
  for (size_t i = 0; i < ids.size(); ++i) {
    ids[i] = static_cast<int32_t>(rng() % experts);
    ids_without[i] = ids[i] == 5 || ids[i] == 6 ? -1 : ids[i];
  }
  std::vector<int32_t> offsets(ranks + 1), send_token(tokens * ranks, -1),
      token_slot(tokens * ranks);
  ASSERT_TRUE(
      MoeDispatchPlanReference({ids_without.data(), tokens, top_k, experts, expert_rank.data(),
                                ranks, offsets.data(), send_token.data(), token_slot.data()})
          .ok());
  expert_rank[5] = ranks;  // one past the last rank
  expert_rank[6] = -2;
  DeviceBuffer<int32_t> d_ids = ToDevice(ids), d_rank = ToDevice(expert_rank),
                        d_offsets(offsets.size()), d_send_token = ToDevice(send_token),
                        d_token_slot(token_slot.size());
  ASSERT_TRUE(LaunchMoeDispatchPlan({d_ids.get(), tokens, top_k, experts, d_rank.get(), ranks,
                                     d_offsets.get(), d_send_token.get(), d_token_slot.get()},
                                    nullptr)
                  .ok());
  EXPECT_EQ(ToHost(d_offsets), offsets);
  EXPECT_EQ(ToHost(d_send_token), send_token);
  EXPECT_EQ(ToHost(d_token_slot), token_slot);
}

TEST(MoeExchangeGpuTest, LaunchRejectsBadArguments) {
  DeviceBuffer<uint8_t> bytes(4096);
  DeviceBuffer<int32_t> ints(64);
  DeviceBuffer<float> floats(64);
  // Unaligned x for pack (1 token, 1 rank, 1 row); the launch refuses before reading anything.
  MoeDispatchPackParams pack{bytes.get() + 4,
                             64,
                             nullptr,
                             0,
                             ints.get(),
                             floats.get(),
                             1,
                             1,
                             4,
                             ints.get(),
                             ints.get(),
                             ints.get(),
                             ints.get(),
                             1,
                             1,
                             MakeMoeRecordLayout(32, 0, 1),
                             bytes.get() + 1024};
  EXPECT_FALSE(LaunchMoeDispatchPack(pack, nullptr).ok());
  pack.x = bytes.get();
  pack.x_stride = 40;  // not a multiple of 16
  EXPECT_FALSE(LaunchMoeDispatchPack(pack, nullptr).ok());
  MoeRecordUnpackParams unpack{
      bytes.get() + 8, 1, MakeMoeRecordLayout(32, 0, 1), nullptr, 0, ints.get(), floats.get()};
  EXPECT_FALSE(LaunchMoeRecordUnpack(unpack, nullptr).ok());
  DeviceBuffer<uint16_t> halves(256);
  MoeCombineScatterParams combine{halves.get(), 1, ints.get(), 1, nullptr, halves.get(), 1, 12};
  EXPECT_FALSE(LaunchMoeCombineScatter(combine, nullptr).ok());  // dim % 8 != 0
  combine.dim = 8;
  combine.out = halves.get() + 1;
  EXPECT_FALSE(LaunchMoeCombineScatter(combine, nullptr).ok());  // unaligned out
}

}  // namespace
}  // namespace r1::kernels
