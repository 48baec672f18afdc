#include "worker/comm/ep_moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace r1 {
namespace {

// A dispatch record, sent as three 32-bit words: the row within the block, the expert, the
// routing weight.
struct Entry {
  int32_t row;
  int32_t expert;
  float weight;
};
constexpr int64_t kEntryWords = 3;
static_assert(sizeof(Entry) == kEntryWords * sizeof(float));

// Bounds on what a peer may announce (rows and entries per block), so that a corrupt count cannot
// make this rank allocate without limit.
constexpr int64_t kMaxRowsPerPeer = int64_t{1} << 22;

double SecondsSince(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

}  // namespace

absl::StatusOr<std::unique_ptr<EpMoe>> EpMoe::Create(Communicator* comm, const ModelConfig& config,
                                                     EpPlacement placement, EpMoeOptions options) {
  if (comm == nullptr) return absl::InvalidArgumentError("EpMoe: no communicator");
  const int n_experts = static_cast<int>(config.n_routed_experts);
  RETURN_IF_ERROR(placement.Validate(n_experts, comm->size()));
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("EpMoe: timeout must be positive");
  }
  return std::unique_ptr<EpMoe>(
      new EpMoe(comm, config.hidden_size, n_experts, std::move(placement), options));
}

EpMoe::EpMoe(Communicator* comm, int64_t hidden, int n_experts, EpPlacement placement,
             EpMoeOptions options)
    : comm_(comm),
      d_(hidden),
      n_experts_(n_experts),
      placement_(std::move(placement)),
      options_(options) {}

absl::Status EpMoe::Run(int layer, const float* h, int64_t n,
                        const std::vector<ExpertChoice>& choices, const ExpertFfn& ffn,
                        float* out) {
  absl::Status st = Exchange(layer, h, n, choices, ffn, out);
  // Peers are (or will be) blocked in this layer's exchange: make them fail now.
  if (!st.ok()) {
    comm_->Abort();
    return st;
  }
  if (options_.observer != nullptr) options_.observer->OnExchange(stats_);
  return st;
}

absl::Status EpMoe::Exchange(int layer, const float* h, int64_t n,
                             const std::vector<ExpertChoice>& choices, const ExpertFfn& ffn,
                             float* out) {
  const int W = comm_->size(), me = comm_->rank();
  const int64_t d = d_;
  const std::vector<int>& place = placement_.ForLayer(layer);
  const std::string where = absl::StrCat("expert-parallel MoE, layer ", layer, ", rank ", me);
  if (static_cast<int64_t>(choices.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", choices.size(), " routing choices for ", n, " tokens"));
  }

  // Plan: per destination, the tokens to send (each once) and the (row, expert, weight) records.
  std::vector<std::vector<int64_t>> rows(W);
  std::vector<std::vector<Entry>> entries(W);
  for (int64_t t = 0; t < n; ++t) {
    const ExpertChoice& c = choices[t];
    if (c.weights.size() != c.experts.size()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": token ", t, " has ",
                                                     c.experts.size(), " experts but ",
                                                     c.weights.size(), " weights"));
    }
    for (size_t j = 0; j < c.experts.size(); ++j) {
      const int e = c.experts[j];
      if (e < 0 || e >= n_experts_ || !std::isfinite(c.weights[j])) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": token ", t, " routed to expert ",
                                                       e, " with weight ", c.weights[j]));
      }
      const int p = place[e];
      if (rows[p].empty() || rows[p].back() != t) rows[p].push_back(t);
      entries[p].push_back(
          {static_cast<int32_t>(rows[p].size() - 1), static_cast<int32_t>(e), c.weights[j]});
    }
  }

  // 1. Counts: (rows, entries) to and from every peer, with the layer and the exchange's
  // sequence number: ranks whose steps drifted apart fail here (DataLoss) instead of running
  // the wrong layer's experts on each other's rows.
  EpExchangeStats stats;
  stats.layer = layer;
  const absl::Time t0 = absl::Now();
  constexpr int kHeader = 4;  // rows, entries, layer, sequence
  const int64_t sequence = static_cast<int64_t>(exchanges_++);
  std::vector<int64_t> send_counts(kHeader * W), recv_counts(kHeader * W);
  for (int p = 0; p < W; ++p) {
    send_counts[kHeader * p] = static_cast<int64_t>(rows[p].size());
    send_counts[kHeader * p + 1] = static_cast<int64_t>(entries[p].size());
    send_counts[kHeader * p + 2] = layer;
    send_counts[kHeader * p + 3] = sequence;
  }
  const std::vector<int64_t> per_peer(W, kHeader);
  RETURN_IF_ERROR(comm_->AllToAllV<int64_t>(send_counts, per_peer, absl::MakeSpan(recv_counts),
                                            per_peer, options_.timeout));
  std::vector<int64_t> in_rows(W), in_entries(W);
  for (int p = 0; p < W; ++p) {
    in_rows[p] = recv_counts[kHeader * p];
    in_entries[p] = recv_counts[kHeader * p + 1];
    const int64_t peer_layer = recv_counts[kHeader * p + 2],
                  peer_sequence = recv_counts[kHeader * p + 3];
    if (peer_layer != layer || peer_sequence != sequence) {
      return absl::DataLossError(absl::StrCat(where, ", exchange ", sequence, ": rank ", p,
                                              " is at layer ", peer_layer, ", exchange ",
                                              peer_sequence, " (the group's steps drifted apart)"));
    }
    if (in_rows[p] < 0 || in_rows[p] > kMaxRowsPerPeer || in_entries[p] < in_rows[p] ||
        in_entries[p] > in_rows[p] * n_experts_) {
      return absl::DataLossError(absl::StrCat(where, ": rank ", p, " announces ", in_rows[p],
                                              " rows with ", in_entries[p], " records"));
    }
  }
  stats.counts_seconds = SecondsSince(t0);
  const absl::Time t1 = absl::Now();

  // 2. Dispatch: per peer, its records then its rows.
  std::vector<int64_t> send_words(W), recv_words(W);
  std::vector<int64_t> send_off(W + 1, 0), recv_off(W + 1, 0);  // block offsets, in words
  for (int p = 0; p < W; ++p) {
    send_words[p] = kEntryWords * send_counts[kHeader * p + 1] + d * send_counts[kHeader * p];
    recv_words[p] = kEntryWords * in_entries[p] + d * in_rows[p];
    send_off[p + 1] = send_off[p] + send_words[p];
    recv_off[p + 1] = recv_off[p] + recv_words[p];
  }
  std::vector<float> send(send_off[W]), recv(recv_off[W]);
  for (int p = 0; p < W; ++p) {
    float* block = send.data() + send_off[p];
    if (!entries[p].empty()) {
      std::memcpy(block, entries[p].data(), entries[p].size() * sizeof(Entry));
    }
    float* row = block + kEntryWords * static_cast<int64_t>(entries[p].size());
    for (int64_t t : rows[p]) {
      std::memcpy(row, h + t * d, d * sizeof(float));
      row += d;
    }
  }
  RETURN_IF_ERROR(comm_->AllToAllV<float>(send, send_words, absl::MakeSpan(recv), recv_words,
                                          options_.timeout));
  stats.dispatch_seconds = SecondsSince(t1);
  const absl::Time t2 = absl::Now();

  // 3. Run this rank's experts on everything received; sums[g] = Σ weight · FFN(row g).
  std::vector<int64_t> row_base(W + 1, 0);
  std::vector<const float*> in_row_ptr;  // global received row → its data
  std::vector<std::vector<std::pair<int64_t, float>>> by_expert(n_experts_);
  for (int p = 0; p < W; ++p) {
    const float* block = recv.data() + recv_off[p];
    row_base[p + 1] = row_base[p] + in_rows[p];
    const float* row = block + kEntryWords * in_entries[p];
    for (int64_t r = 0; r < in_rows[p]; ++r) in_row_ptr.push_back(row + r * d);
    for (int64_t k = 0; k < in_entries[p]; ++k) {
      Entry en;
      std::memcpy(&en, block + kEntryWords * k, sizeof(Entry));
      if (en.row < 0 || en.row >= in_rows[p] || en.expert < 0 || en.expert >= n_experts_ ||
          place[en.expert] != me || !std::isfinite(en.weight)) {
        return absl::DataLossError(absl::StrCat(where, ": bad record from rank ", p, ": row ",
                                                en.row, ", expert ", en.expert));
      }
      by_expert[en.expert].push_back({row_base[p] + en.row, en.weight});
    }
  }
  const int64_t in_total = row_base[W];
  int64_t held = 0, assignments = 0;
  stats.expert_tokens.assign(n_experts_, 0);
  for (int e = 0; e < n_experts_; ++e) {
    if (place[e] != me) continue;
    const int64_t m = static_cast<int64_t>(by_expert[e].size());
    stats.expert_tokens[e] = static_cast<int32_t>(m);
    ++held;
    assignments += m;
    stats.expert_tokens_max = std::max(stats.expert_tokens_max, m);
  }
  stats.has_expert_load = held > 0;
  stats.expert_tokens_mean = held > 0 ? static_cast<double>(assignments) / held : 0.0;
  std::vector<float> sums(in_total * d, 0.0f), xs, ys;
  for (int e = 0; e < n_experts_; ++e) {
    const auto& list = by_expert[e];
    if (list.empty()) continue;
    const int64_t m = static_cast<int64_t>(list.size());
    xs.resize(m * d);
    ys.resize(m * d);
    for (int64_t r = 0; r < m; ++r) std::memcpy(&xs[r * d], in_row_ptr[list[r].first], d * 4);
    RETURN_IF_ERROR(ffn(e, xs.data(), m, ys.data()));
    for (int64_t r = 0; r < m; ++r) {
      float* s = &sums[list[r].first * d];
      const float w = list[r].second;
      for (int64_t i = 0; i < d; ++i) s[i] += w * ys[r * d + i];
    }
  }

  stats.experts_seconds = SecondsSince(t2);

  // 4. Combine: the sums go back to the ranks that own the tokens.
  const absl::Time t3 = absl::Now();
  std::vector<int64_t> back_send(W), back_recv(W);
  int64_t back_total = 0;
  for (int p = 0; p < W; ++p) {
    back_send[p] = in_rows[p] * d;
    back_recv[p] = send_counts[kHeader * p] * d;
    back_total += back_recv[p];
  }
  std::vector<float> back(back_total);
  RETURN_IF_ERROR(
      comm_->AllToAllV<float>(sums, back_send, absl::MakeSpan(back), back_recv, options_.timeout));
  const float* b = back.data();
  for (int p = 0; p < W; ++p) {
    for (int64_t t : rows[p]) {
      float* o = out + t * d;
      for (int64_t i = 0; i < d; ++i) o[i] += b[i];
      b += d;
    }
  }

  stats.combine_seconds = SecondsSince(t3);

  stats.rows_to_rank.resize(W);
  stats.rows_from_rank = in_rows;
  for (int p = 0; p < W; ++p) {
    stats.rows_to_rank[p] = static_cast<int64_t>(rows[p].size());
    if (p == me) {
      stats.local_rows = in_rows[p];
    } else {
      stats.rows_sent += stats.rows_to_rank[p];
      stats.rows_received += in_rows[p];
    }
  }
  stats_ = std::move(stats);
  return absl::OkStatus();
}

}  // namespace r1
