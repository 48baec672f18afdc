// The Engine's MTP speculative decoding (spec §10), for greedy and sampled sequences.
//
// Per speculating sequence (Sequence::mtp), with N = kv.length and tokens t_0 .. t_N (t_N, the
// last, not yet cached):
//   - MTP slot p (p < N) holds the MTP layer's row at position p, computed from the main model's
//     final hidden state h_p and t_{p+1}. After every forward pass the slots of the newly cached
//     positions run in one MTP forward (catching up); the last slot, N − 1, predicts t_{N+1}:
//     the first draft. Draft j > 1 feeds back the MTP output of the previous slot (after
//     shared_head.norm, as h is after model.norm) with draft j − 1 at slot N + j − 2; those rows
//     are provisional and rewritten by the next catch-up.
//   - The next step verifies k drafts as one item [t_N, d_1 .. d_k] at positions N .. N + k with
//     logits at every position (absorbed attention per position, as a plain decode computes it).
//     Greedy verification (speculative_sampler.h) emits the accepted drafts and the target's
//     token after them; a sampled sequence is verified stochastically (drafts accepted with
//     probability p(d), a rejected one replaced by a draw from p without d), so every emitted
//     token follows the target's distribution, with draws keyed by (seed, position). kv.length is
//     set back to just past the last accepted position, so the rejected positions' rows are
//     overwritten later (main and MTP layer alike).
// The MTP layer's rows live in the same paged blocks as the main layers' (cache layer
// num_hidden_layers), so a block table, a rollback, a preemption or a prefix-cache hit covers
// both. A reused prefix block brings the MTP rows its first sequence computed; a block first
// computed by a sequence that did not speculate holds none, which lowers acceptance only.
// Verification makes the output exact whatever the drafts are.
//
// In an expert-parallel group (EngineOptions::lockstep) the MTP layer's MoE is an exchange every
// rank must join: Draft runs exactly k MTP passes after every step on every rank (empty ones
// where a rank has nothing to draft), so the group's ranks, which all run the same k (checked
// when the group forms, worker/service/group_link.h), keep making the same exchanges; a rank
// that drifted fails the next exchange with DataLoss (worker/comm/ep_moe.h).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "worker/engine/engine.h"
#include "worker/engine/speculative_sampler.h"

namespace r1 {

void Engine::ResetSpeculation(Sequence& s) {
  s.mtp_length = 0;
  s.mtp_hidden.clear();
  s.drafts.clear();
}

int Engine::DraftBudget(const Sequence& s) const {
  if (!s.mtp || s.generated < s.req.min_tokens) return 0;
  // Every verified item emits up to k + 1 tokens; none past max_new_tokens or the context.
  const int64_t by_length = static_cast<int64_t>(s.req.max_new_tokens) - s.generated - 1;
  const int64_t by_context = context_limit() - static_cast<int64_t>(s.tokens.size()) - 1;
  return static_cast<int>(
      std::max<int64_t>(0, std::min<int64_t>({spec_k_, by_length, by_context})));
}

int Engine::DraftsToVerify(const Sequence& s, int budget) const {
  if (s.drafts.empty()) return 0;
  const int k = std::min({static_cast<int>(s.drafts.size()), DraftBudget(s), budget - 1});
  return std::max(k, 0);
}

absl::Status Engine::ForwardAndVerify(std::vector<ForwardItem>& items,
                                      const std::vector<int>& verify,
                                      std::vector<TokenChoice>* chosen,
                                      std::vector<SpeculativeResult>* verified) {
  // Greedy drafts verified greedily need only each row's argmax: the model chooses every row
  // where the logits are (a device backend then downloads token ids, not k + 1 vocabulary rows
  // per sequence). Sampled verification needs the target's distributions: the logits come back.
  bool all_plain = true;
  for (size_t i = 0; i < items.size(); ++i) {
    if (verify[i] > 0 && items[i].choose != nullptr && !PlainGreedy(*items[i].choose)) {
      all_plain = false;
    }
  }
  if (all_plain) return ChooseAndVerifyGreedy(items, verify, chosen, verified);
  std::vector<std::vector<float>> logits;
  if (auto st = model_->Forward(items, cache_, &logits); !st.ok()) return st;
  const int64_t V = model_->config().vocab_size;
  const int64_t valid = options_.valid_vocab;
  // Every row the host chooses from, in one block: one per choosing item, k + 1 per item that
  // verifies greedily. Sampled verifying items are verified from their raw rows below.
  std::vector<float> rows;
  std::vector<const TokenChoiceSpec*> specs;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].choose == nullptr) continue;
    const int64_t n = verify[i] + 1;
    if (static_cast<int64_t>(logits[i].size()) != n * V) {
      return absl::InternalError(absl::StrCat("forward item ", i, ": ", n, " rows expected"));
    }
    if (verify[i] > 0 && items[i].choose->temperature > 0) continue;
    rows.insert(rows.end(), logits[i].begin(), logits[i].end());
    specs.insert(specs.end(), n, items[i].choose);
  }
  std::vector<TokenChoice> got;
  if (auto st = ChooseTokensOnHost(rows.data(), V, V, valid, specs, &got); !st.ok()) return st;
  chosen->assign(items.size(), {});
  verified->assign(items.size(), {});
  size_t r = 0;
  std::vector<float> p, q, row;
  for (size_t i = 0; i < items.size(); ++i) {
    const TokenChoiceSpec* spec = items[i].choose;
    if (spec == nullptr) continue;
    if (verify[i] == 0) {
      (*chosen)[i] = std::move(got[r++]);
      continue;
    }
    const std::vector<int> drafts(items[i].tokens.begin() + 1, items[i].tokens.end());
    absl::StatusOr<SpeculativeResult> result;
    if (spec->temperature <= 0) {
      std::vector<int> target;
      for (int j = 0; j <= verify[i]; ++j) target.push_back(got[r++].id);
      result = VerifyGreedy(drafts, target);
    } else {
      // The target's distributions at the k + 1 positions (the draw's own: temperature, top-k,
      // top-p over the valid ids; a speculating sequence has no bias, ban or penalty), and the
      // drafts' (greedy, so one-hot). Draws keyed by (seed, position of the token drawn).
      p.clear();
      q.assign(static_cast<size_t>(verify[i]) * valid, 0.0f);
      for (int j = 0; j <= verify[i]; ++j) {
        SamplingDistribution(&logits[i][j * V], valid, spec->temperature, spec->top_k, spec->top_p,
                             &row);
        p.insert(p.end(), row.begin(), row.end());
        if (j < verify[i]) q[j * valid + drafts[j]] = 1.0f;
      }
      result = VerifyStochastic(drafts, p, q, valid, spec->seed,
                                static_cast<uint64_t>(items[i].start) + 1);
    }
    if (!result.ok()) return result.status();  // sizes and ids are the engine's own: a bug
    (*verified)[i] = std::move(*result);
  }
  return absl::OkStatus();
}

absl::Status Engine::ChooseAndVerifyGreedy(std::vector<ForwardItem>& items,
                                           const std::vector<int>& verify,
                                           std::vector<TokenChoice>* chosen,
                                           std::vector<SpeculativeResult>* verified) {
  std::vector<TokenChoice> rows;
  if (auto st = model_->ForwardAndChoose(items, cache_, options_.valid_vocab, &rows); !st.ok()) {
    return st;
  }
  chosen->assign(items.size(), {});
  verified->assign(items.size(), {});
  size_t r = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const size_t n = static_cast<size_t>(LogitRowCount(items[i]));
    if (r + n > rows.size()) return absl::InternalError("verification: rows missing");
    if (items[i].choose != nullptr && verify[i] > 0) {
      const std::vector<int> drafts(items[i].tokens.begin() + 1, items[i].tokens.end());
      std::vector<int> target;
      for (size_t j = 0; j < n; ++j) target.push_back(rows[r + j].id);
      absl::StatusOr<SpeculativeResult> result = VerifyGreedy(drafts, target);
      if (!result.ok()) return result.status();  // sizes and ids are the engine's own: a bug
      (*verified)[i] = std::move(*result);
    } else if (items[i].choose != nullptr) {
      (*chosen)[i] = std::move(rows[r + n - 1]);
    }
    r += n;
  }
  return absl::OkStatus();
}

absl::Status Engine::MtpPass(const std::vector<MtpItem>& slots, std::vector<int>* drafts,
                             std::vector<std::vector<float>>* hidden) {
  const absl::Status st = model_->MtpDraft(slots, cache_, options_.valid_vocab, drafts, hidden);
  if (st.ok() && drafts->size() != slots.size()) {
    return absl::InternalError("MTP pass: one draft per slot expected");  // a model bug
  }
  if (!st.ok() && last_step_.draft_status.ok()) last_step_.draft_status = st;
  if (!st.ok() && options_.lockstep && !slots.empty()) {
    // Refused before its exchange (a bug in the slots), this rank would be one exchange behind
    // its peers: an empty pass takes its place. After a failed exchange the executor has aborted
    // the group's communicator, so this pass fails at once as well.
    std::vector<int> unused_drafts;
    std::vector<std::vector<float>> unused_hidden;
    model_->MtpDraft({}, cache_, options_.valid_vocab, &unused_drafts, &unused_hidden)
        .IgnoreError();
  }
  return st;
}

void Engine::Draft(const std::vector<ForwardItem>& items, const std::vector<uint64_t>& item_ids,
                   const std::vector<std::vector<float>>& hidden) {
  const int64_t d = model_->config().hidden_size;
  // In lockstep (an expert-parallel group) every MTP pass is an exchange of the MTP layer's MoE
  // that every rank joins: each step runs exactly spec_k_ passes (the catch-up and spec_k_ − 1
  // chained depths), with no slots where this rank has nothing to draft. Alone, passes without
  // slots are skipped.
  const bool lockstep = options_.lockstep;
  // 1. Catch up: the slots of every position this step cached.
  std::vector<MtpItem> slots;
  std::vector<Sequence*> seqs;
  for (size_t i = 0; i < items.size(); ++i) {
    auto found = sequences_.find(item_ids[i]);
    if (found == sequences_.end() || !found->second.mtp) continue;  // finished, or not speculating
    Sequence& s = found->second;
    const int64_t kept = s.kv.length - items[i].start;  // positions cached (after any rollback)
    if (kept <= 0 || static_cast<int64_t>(hidden[i].size()) < kept * d) {
      s.mtp = false;  // the model returned no hidden states: speculation cannot go on
      ResetSpeculation(s);
      continue;
    }
    s.mtp_hidden.insert(s.mtp_hidden.end(), hidden[i].begin(), hidden[i].begin() + kept * d);
    const int64_t m = s.kv.length - s.mtp_length;
    if (m * d != static_cast<int64_t>(s.mtp_hidden.size())) {
      s.mtp = false;  // bookkeeping out of step: stop speculating rather than draft from garbage
      ResetSpeculation(s);
      continue;
    }
    slots.push_back(
        {&s.kv, s.mtp_length,
         std::vector<int>(s.tokens.begin() + s.mtp_length + 1, s.tokens.begin() + s.kv.length + 1),
         s.mtp_hidden.data()});
    seqs.push_back(&s);
  }
  if (slots.empty() && !lockstep) return;
  std::vector<int> drafted;
  std::vector<std::vector<float>> out;
  if (!MtpPass(slots, &drafted, &out).ok()) {
    for (Sequence* s : seqs) {
      s->mtp = false;
      ResetSpeculation(*s);
    }
    seqs.clear();  // no drafts; in lockstep the chained passes still run, empty
  }
  // 2. The first draft of every decoding sequence; how many each may chain.
  std::vector<Sequence*> chain;
  std::vector<int> want;
  std::vector<std::vector<float>> chain_hidden;
  for (size_t j = 0; j < seqs.size(); ++j) {
    Sequence& s = *seqs[j];
    s.mtp_length = s.kv.length;
    s.mtp_hidden.clear();
    if (static_cast<int64_t>(s.tokens.size()) != s.kv.length + 1) continue;  // mid-prefill
    int k = DraftBudget(s);
    if (k <= 0) continue;
    // Rows for the verification (and the chained slots); fewer drafts if the blocks are short.
    if (!cache_.Reserve(&s.kv, s.kv.length + k + 1).ok()) {
      k = static_cast<int>(std::clamp<int64_t>(s.kv.capacity() - s.kv.length + 1, 1, k));
    }
    s.drafts = {drafted[j]};
    if (k > 1) {
      chain.push_back(&s);
      want.push_back(k);
      chain_hidden.push_back(std::move(out[j]));
    }
  }
  // 3. Chained drafts, one MTP slot per sequence per depth.
  for (int depth = 2; depth <= spec_k_ && (lockstep || !chain.empty()); ++depth) {
    slots.clear();
    std::vector<size_t> which;
    for (size_t j = 0; j < chain.size(); ++j) {
      if (want[j] < depth) continue;
      Sequence& s = *chain[j];
      slots.push_back({&s.kv, s.kv.length + depth - 2, {s.drafts.back()}, chain_hidden[j].data()});
      which.push_back(j);
    }
    if (slots.empty() && !lockstep) break;
    if (!MtpPass(slots, &drafted, &out).ok()) {
      if (!lockstep) break;  // keep the drafts so far
      chain.clear();
      continue;
    }
    for (size_t r = 0; r < which.size(); ++r) {
      chain[which[r]]->drafts.push_back(drafted[r]);
      chain_hidden[which[r]] = std::move(out[r]);
    }
  }
}

}  // namespace r1
