#include "worker/engine/engine.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "worker/engine/speculative_sampler.h"

namespace r1 {
namespace {

double SecondsSince(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

// Draft tokens per step in effect: the option, when the model runs an MTP module.
int SpeculativeTokens(const ForwardModel& model, const EngineOptions& options) {
  return model.mtp_layers() > 0 ? std::max(options.speculative_tokens, 0) : 0;
}

}  // namespace

Engine::Engine(std::shared_ptr<const ModelWeights> weights, ModelOptions model,
               EngineOptions options)
    : Engine(std::make_unique<CpuModel>(std::move(weights), model), options) {}

Engine::Engine(std::unique_ptr<ForwardModel> model, EngineOptions options)
    : model_(std::move(model)),
      options_(options),
      cache_(static_cast<int>(model_->config().num_hidden_layers) +
                 (SpeculativeTokens(*model_, options) > 0 ? model_->mtp_layers() : 0),
             options.kv_blocks, model_->row_size(), options.bf16_kv,
             model_->uses_host_cache_rows()),
      spec_k_(SpeculativeTokens(*model_, options)) {
  if (options_.valid_vocab <= 0) options_.valid_vocab = model_->config().vocab_size;
}

int64_t Engine::context_limit() const {
  const int64_t model_limit = model_->config().max_position_embeddings;
  return options_.max_model_len > 0 ? std::min(options_.max_model_len, model_limit) : model_limit;
}

int Engine::running() const {
  int n = 0;
  for (const auto& [id, s] : sequences_) n += s.admitted ? 1 : 0;
  return n;
}

int64_t Engine::queued_tokens() const {
  int64_t n = 0;
  for (const auto& [id, s] : sequences_) {
    n += static_cast<int64_t>(s.tokens.size()) - s.kv.length - 1;
  }
  return std::max<int64_t>(n, 0);
}

int Engine::waiting() const { return static_cast<int>(waiting_.size()); }

absl::Status Engine::Submit(SequenceRequest r) {
  const ModelConfig& c = model_->config();
  if (r.prompt.empty()) return absl::InvalidArgumentError("prompt is empty");
  for (int t : r.prompt) {
    if (t < 0 || t >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token id ", t, " is out of range"));
    }
  }
  if (r.max_new_tokens <= 0) return absl::InvalidArgumentError("max_new_tokens must be > 0");
  if (r.min_tokens < 0) return absl::InvalidArgumentError("min_tokens must be >= 0");
  if (static_cast<int64_t>(r.prompt.size()) >= context_limit()) {
    return absl::InvalidArgumentError(absl::StrCat("prompt of ", r.prompt.size(),
                                                   " tokens leaves no room in the context of ",
                                                   context_limit()));
  }
  const int64_t blocks_needed =
      (static_cast<int64_t>(r.prompt.size()) + 1 + kBlockTokens - 1) / kBlockTokens;
  if (blocks_needed > cache_.num_blocks()) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt of ", r.prompt.size(), " tokens exceeds the KV cache capacity"));
  }
  if (auto st = ValidateSamplingParams(r.sampling, options_.valid_vocab); !st.ok()) return st;
  if (sequences_.count(r.id)) {
    return absl::AlreadyExistsError(absl::StrCat("sequence ", r.id, " already exists"));
  }
  Sequence s;
  s.tokens = r.prompt;
  const SamplingParams& p = r.sampling;
  s.choice.temperature = p.temperature;
  s.choice.top_k = p.top_k;
  s.choice.top_p = p.top_p;
  s.choice.seed = p.seed;
  s.choice.presence_penalty = p.presence_penalty;
  s.choice.frequency_penalty = p.frequency_penalty;
  s.choice.repetition_penalty = p.repetition_penalty;
  s.choice.logprobs = p.logprobs;
  s.choice.top_logprobs = p.logprobs ? p.top_logprobs : 0;
  s.mtp =
      spec_k_ > 0 && r.speculative && !s.choice.penalized() && p.logit_bias.empty() && !p.logprobs;
  s.req = std::move(r);
  if (s.choice.penalized()) {
    for (int t : s.tokens) Remember(s, t, 0);
  }
  const uint64_t id = s.req.id;
  sequences_.emplace(id, std::move(s));
  waiting_.push_back(id);
  return absl::OkStatus();
}

void Engine::Remember(Sequence& s, int32_t id, int32_t output_count) {
  auto [it, inserted] = s.history_index.try_emplace(id, s.history.size());
  if (inserted) {
    s.history.emplace_back(id, output_count);
  } else {
    s.history[it->second].second += output_count;
  }
}

const TokenChoiceSpec* Engine::ChoiceFor(Sequence& s) const {
  TokenChoiceSpec& c = s.choice;
  c.offset = s.tokens.size();  // the position of the token chosen: a replayable draw
  c.history = c.penalized() ? &s.history : nullptr;
  c.bias = s.req.sampling.logit_bias;
  if (s.generated < s.req.min_tokens) {
    // Too early to end: the ending ids cannot be chosen.
    const int64_t vocab = model_->config().vocab_size;
    const int eos = model_->config().eos_token_id;
    if (eos >= 0 && eos < vocab) c.bias.emplace_back(eos, -INFINITY);
    for (int id : s.req.stop_ids) {
      if (id >= 0 && id < vocab) c.bias.emplace_back(id, -INFINITY);
    }
  }
  return &c;
}

void Engine::Cancel(uint64_t id) {
  auto it = sequences_.find(id);
  if (it != sequences_.end()) it->second.cancelled = true;
}

void Engine::Finish(Sequence& s, FinishReason reason, std::vector<SequenceOutput>* out) {
  cache_.Release(&s.kv);
  auto found = std::find_if(out->begin(), out->end(),
                            [&](const SequenceOutput& o) { return o.id == s.req.id; });
  if (found == out->end()) {
    out->push_back({s.req.id, {}, reason, "", {}});
  } else {
    found->finish = reason;
  }
  const uint64_t id = s.req.id;
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
  sequences_.erase(id);
}

bool Engine::PreemptOne(uint64_t after_order) {
  Sequence* victim = nullptr;
  for (auto& [id, s] : sequences_) {
    if (!s.admitted || s.admit_order <= after_order) continue;
    if (victim == nullptr || s.admit_order > victim->admit_order) victim = &s;
  }
  if (victim == nullptr) return false;
  cache_.Release(&victim->kv);  // recomputed from victim->tokens when re-admitted
  ResetSpeculation(*victim);
  victim->admitted = false;
  waiting_.push_front(victim->req.id);
  ++preemptions_;
  return true;
}

absl::StatusOr<std::vector<SequenceOutput>> Engine::Step() {
  last_step_ = {};
  const absl::Time t0 = absl::Now();
  std::vector<SequenceOutput> out;
  std::vector<uint64_t> cancelled;
  for (auto& [id, s] : sequences_) {
    if (s.cancelled) cancelled.push_back(id);
  }
  for (uint64_t id : cancelled) Finish(sequences_.at(id), FinishReason::kCancelled, &out);

  std::vector<ForwardItem> items;
  std::vector<uint64_t> item_ids;
  std::vector<int> verify;  // per item: drafts it verifies (0: none)
  int budget = options_.max_step_tokens;
  // 1. Decodes (one token each) for admitted sequences whose prompt is fully cached.
  std::vector<uint64_t> decoders;
  for (auto& [id, s] : sequences_) {
    if (s.admitted && static_cast<int64_t>(s.tokens.size()) - s.kv.length == 1) {
      decoders.push_back(id);
    }
  }
  std::sort(decoders.begin(), decoders.end(), [&](uint64_t a, uint64_t b) {
    return sequences_.at(a).admit_order < sequences_.at(b).admit_order;
  });
  for (uint64_t id : decoders) {
    if (budget <= 0) break;
    Sequence& s = sequences_.at(id);
    if (!s.admitted) continue;  // preempted by an earlier decoder of this step
    // Drafts to verify: only if their rows fit without preempting anyone.
    int k = DraftsToVerify(s, budget);
    if (k > 0 && !cache_.Reserve(&s.kv, s.kv.length + 1 + k).ok()) k = 0;
    // Only sequences admitted after this one may be preempted for it (none of them is in
    // `items` yet, since decoders go in admission order); failing that, it waits itself.
    while (!cache_.Reserve(&s.kv, s.kv.length + 1).ok()) {
      if (!PreemptOne(s.admit_order)) break;
    }
    if (s.kv.capacity() < s.kv.length + 1) {
      cache_.Release(&s.kv);
      ResetSpeculation(s);
      s.admitted = false;
      waiting_.push_front(id);
      ++preemptions_;
      continue;
    }
    ForwardItem item{&s.kv, {s.tokens.back()}, s.kv.length, false, ChoiceFor(s)};
    if (k > 0) {  // the last token and k drafts, logits at every position
      item.tokens.insert(item.tokens.end(), s.drafts.begin(), s.drafts.begin() + k);
      item.all_logits = true;
      item.decode_attention = true;
    }
    items.push_back(std::move(item));
    item_ids.push_back(id);
    verify.push_back(k);
    budget -= 1 + k;
    last_step_.decode_tokens += 1 + k;
  }
  // 2. Prefill chunks: admitted sequences mid-prefill, then waiting ones in FIFO order.
  std::vector<uint64_t> prefills;
  for (auto& [id, s] : sequences_) {
    if (s.admitted && static_cast<int64_t>(s.tokens.size()) - s.kv.length > 1) {
      prefills.push_back(id);
    }
  }
  for (uint64_t id : waiting_) prefills.push_back(id);
  int running_now = running();
  std::vector<uint64_t> admitted_now;
  for (uint64_t id : prefills) {
    if (budget <= 0) break;
    Sequence& s = sequences_.at(id);
    if (!s.admitted && running_now >= options_.max_running) break;
    // A sequence being admitted first takes the cached blocks its tokens start with.
    const int64_t reused = !s.admitted && options_.prefix_caching && s.kv.blocks.empty()
                               ? cache_.AcquirePrefix(&s.kv, s.tokens)
                               : 0;
    const int64_t remaining = static_cast<int64_t>(s.tokens.size()) - s.kv.length;
    const int64_t chunk = std::min<int64_t>(remaining, budget);
    if (!cache_.Reserve(&s.kv, s.kv.length + chunk).ok()) {
      if (!s.admitted) cache_.Release(&s.kv);  // a waiting sequence holds no blocks
      break;
    }
    if (!s.admitted) {
      s.admitted = true;
      s.admit_order = ++admit_counter_;
      ++running_now;
      admitted_now.push_back(id);
      if (options_.prefix_caching) {
        prefix_cache_queries_ += s.tokens.size();
        prefix_cache_hits_ += static_cast<uint64_t>(reused);
      }
      // Reused blocks bring their MTP rows (those their first sequence computed).
      s.mtp_length = s.kv.length;
      s.mtp_hidden.clear();
    }
    const bool ends_prompt = chunk == remaining;
    items.push_back(
        {&s.kv,
         std::vector<int>(s.tokens.begin() + s.kv.length, s.tokens.begin() + s.kv.length + chunk),
         s.kv.length, false, ends_prompt ? ChoiceFor(s) : nullptr});
    item_ids.push_back(id);
    verify.push_back(0);
    budget -= static_cast<int>(chunk);
    last_step_.prefill_tokens += chunk;
  }
  for (uint64_t id : admitted_now) {
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
  }
  last_step_.schedule_seconds = SecondsSince(t0);
  if (items.empty() && !options_.lockstep) return out;

  last_step_.ran_forward = true;
  last_step_.sequences = static_cast<int>(items.size());
  const absl::Time t1 = absl::Now();
  // Speculating sequences also return their final hidden states, the MTP module's input.
  std::vector<std::vector<float>> hidden(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (sequences_.at(item_ids[i]).mtp) items[i].hidden = &hidden[i];
  }
  std::vector<TokenChoice> chosen;
  std::vector<SpeculativeResult> verified;
  const absl::Status st =
      spec_k_ > 0 ? ForwardAndVerify(items, verify, &chosen, &verified)
                  : model_->ForwardAndChoose(items, cache_, options_.valid_vocab, &chosen);
  last_step_.forward_seconds = SecondsSince(t1);
  last_step_.decode_graph = model_->last_decode_graph();
  if (!st.ok()) {
    last_step_.forward_failed = true;
    ++forward_errors_;
    for (uint64_t id : item_ids) {
      out.push_back({id, {}, FinishReason::kError, std::string(st.message()), {}});
      Sequence& s = sequences_.at(id);
      cache_.Release(&s.kv);
      sequences_.erase(id);
    }
    return out;
  }

  const absl::Time t2 = absl::Now();
  const ModelConfig& c = model_->config();
  std::vector<std::pair<uint64_t, FinishReason>> finishing;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].choose == nullptr) continue;  // mid-prefill chunk
    Sequence& s = sequences_.at(item_ids[i]);
    s.drafts.clear();
    std::vector<int> emit;
    if (verify[i] > 0) {
      const int accepted = verified[i].accepted;
      emit = std::move(verified[i].tokens);
      ++last_step_.speculative_sequences;
      last_step_.draft_tokens += verify[i];
      last_step_.accepted_drafts += accepted;
      last_step_.accepted_per_sequence.push_back(accepted);
      ++spec_steps_;
      spec_drafts_ += verify[i];
      spec_accepted_ += accepted;
      spec_emitted_ += emit.size();
    } else {
      emit = {chosen[i].id};
    }
    SequenceOutput o{s.req.id, {}, FinishReason::kNone, "", {}};
    FinishReason reason = FinishReason::kNone;
    for (int tok : emit) {
      s.tokens.push_back(tok);
      ++s.generated;
      if (s.choice.penalized()) Remember(s, tok, 1);
      o.new_tokens.push_back(tok);
      const bool stop =
          (tok == c.eos_token_id && !s.req.ignore_eos) ||
          std::find(s.req.stop_ids.begin(), s.req.stop_ids.end(), tok) != s.req.stop_ids.end();
      if (stop) {
        reason = FinishReason::kStop;
      } else if (s.generated >= s.req.max_new_tokens ||
                 static_cast<int64_t>(s.tokens.size()) >= context_limit()) {
        reason = FinishReason::kLength;
      }
      if (reason != FinishReason::kNone) break;
    }
    // Rejected drafts' rows are rolled back: every emitted token but the last is cached.
    if (verify[i] > 0) s.kv.length = static_cast<int64_t>(s.tokens.size()) - 1;
    if (s.req.sampling.logprobs) o.logprobs.push_back(std::move(chosen[i]));
    out.push_back(std::move(o));
    if (reason != FinishReason::kNone) finishing.push_back({s.req.id, reason});
  }
  if (options_.prefix_caching) {
    // Blocks filled by this step (prompt or generated tokens) become reusable.
    for (size_t i = 0; i < items.size(); ++i) {
      Sequence& s = sequences_.at(item_ids[i]);
      cache_.RegisterFullBlocks(&s.kv, s.tokens);
    }
  }
  for (const auto& [id, reason] : finishing) Finish(sequences_.at(id), reason, &out);
  last_step_.sample_seconds = SecondsSince(t2);
  if (spec_k_ > 0) {
    const absl::Time t3 = absl::Now();
    Draft(items, item_ids, hidden);
    last_step_.draft_seconds = SecondsSince(t3);
  }
  return out;
}

}  // namespace r1
