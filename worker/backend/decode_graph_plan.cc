#include "worker/backend/decode_graph_plan.h"

#include <algorithm>
#include <utility>

namespace r1 {

int64_t DecodeGraphTokens(int64_t tokens) {
  if (tokens <= 0 || tokens > kMaxDecodeGraphTokens) return 0;
  if (tokens <= 8) {
    int64_t b = 1;
    while (b < tokens) b *= 2;
    return b;
  }
  const int64_t step = tokens <= 128 ? 16 : tokens <= 256 ? 32 : 64;
  return (tokens + step - 1) / step * step;
}

int64_t DecodeGraphMaxLen(int64_t max_len) {
  int64_t b = 256;
  while (b < max_len) b *= 2;
  return b;
}

int64_t DecodeGraphTableWidth(int64_t max_pages) {
  int64_t pages = 8;
  while (pages < max_pages) pages *= 2;
  return pages;
}

void PadWithFillers(BatchTokens* t, int64_t tokens, int64_t filler_block) {
  for (int64_t i = static_cast<int64_t>(t->ids.size()); i < tokens; ++i) {
    t->ids.push_back(0);
    t->positions.push_back(0);
    t->slots.push_back(static_cast<int32_t>(filler_block * kBlockTokens));
    t->seq_lens.push_back(1);
  }
}

int64_t DecodeGraphStepTokens(const std::vector<ForwardItem>& items) {
  int64_t n = 0;
  for (const ForwardItem& it : items) {
    const int64_t t = static_cast<int64_t>(it.tokens.size());
    // Several tokens qualify only as a verification (absorbed form, every row's logits).
    if (t > 1 && !(it.decode_attention && it.all_logits)) return 0;
    n += t;
  }
  return n > kMaxDecodeGraphTokens ? 0 : n;
}

DecodeGraphTable::DecodeGraphTable(int capacity, std::function<void(Handle)> destroy)
    : capacity_(std::max(capacity, 1)), destroy_(std::move(destroy)) {}

DecodeGraphTable::~DecodeGraphTable() { Clear(); }

void DecodeGraphTable::Drop(Entry& e) {
  if (e.graph != nullptr) destroy_(e.graph);
  e.graph = nullptr;
}

void DecodeGraphTable::Clear() {
  for (auto& [key, e] : entries_) Drop(e);
  entries_.clear();
}

int64_t DecodeGraphTable::graphs() const {
  int64_t n = 0;
  for (const auto& [key, e] : entries_) n += e.graph != nullptr ? 1 : 0;
  return n;
}

DecodeGraphAction DecodeGraphTable::Lookup(const DecodeGraphKey& key, uint64_t generation,
                                           Handle* handle) {
  *handle = nullptr;
  Entry& e = entries_[key];
  e.last_use = ++clock_;
  if (e.failed) return DecodeGraphAction::kEager;
  if (e.graph != nullptr && e.graph_generation == generation) {
    *handle = e.graph;
    ++replays_;
    return DecodeGraphAction::kReplay;
  }
  Drop(e);  // captured on buffers since replaced
  if (e.warm && e.warm_generation == generation) return DecodeGraphAction::kCapture;
  return DecodeGraphAction::kEager;
}

void DecodeGraphTable::Warmed(const DecodeGraphKey& key, uint64_t generation) {
  Entry& e = entries_[key];
  e.warm = true;
  e.warm_generation = generation;
  EvictBeyondCapacity();
}

void DecodeGraphTable::Captured(const DecodeGraphKey& key, uint64_t generation, Handle handle) {
  Entry& e = entries_[key];
  Drop(e);
  e.graph = handle;
  e.graph_generation = generation;
  e.last_use = ++clock_;
  ++captures_;
  EvictBeyondCapacity();
}

void DecodeGraphTable::Failed(const DecodeGraphKey& key) {
  Entry& e = entries_[key];
  Drop(e);
  e.failed = true;
  ++failures_;
}

void DecodeGraphTable::EvictBeyondCapacity() {
  // Graphs beyond the capacity go least recently used first; so do entries (warm marks and
  // failures) beyond eight times it, so the table stays bounded whatever keys come.
  auto evict = [this](bool graphs_only, int64_t limit) {
    while (true) {
      int64_t count = 0;
      auto oldest = entries_.end();
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (graphs_only && it->second.graph == nullptr) continue;
        ++count;
        if (oldest == entries_.end() || it->second.last_use < oldest->second.last_use) oldest = it;
      }
      if (count <= limit || oldest == entries_.end()) return;
      Drop(oldest->second);
      if (!graphs_only) entries_.erase(oldest);
    }
  };
  evict(/*graphs_only=*/true, capacity_);
  evict(/*graphs_only=*/false, 8 * static_cast<int64_t>(capacity_));
}

}  // namespace r1
