#include "common/tokenizer/added_tokens.h"

#include <algorithm>

namespace r1::tok {

void AddedTokenMatcher::Trie::Add(absl::string_view s, int32_t token) {
  if (s.empty()) return;
  first_.set(static_cast<unsigned char>(s[0]));
  size_t node = 0;
  for (unsigned char b : s) {
    auto& ch = nodes_[node].children;
    auto it = std::lower_bound(ch.begin(), ch.end(), b,
                               [](const auto& c, unsigned char v) { return c.first < v; });
    if (it != ch.end() && it->first == b) {
      node = static_cast<size_t>(it->second);
      continue;
    }
    const auto child = static_cast<int32_t>(nodes_.size());
    ch.insert(it, {b, child});  // `ch` is not used after nodes_ grows
    nodes_.emplace_back();
    node = static_cast<size_t>(child);
  }
  if (nodes_[node].token < 0) nodes_[node].token = token;  // first of duplicates wins
}

int32_t AddedTokenMatcher::Trie::LongestAt(absl::string_view text, size_t pos, size_t* len) const {
  int32_t found = -1;
  size_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    const auto& ch = nodes_[node].children;
    auto it = std::lower_bound(ch.begin(), ch.end(), b,
                               [](const auto& c, unsigned char v) { return c.first < v; });
    if (it == ch.end() || it->first != b) break;
    node = static_cast<size_t>(it->second);
    if (nodes_[node].token >= 0) {
      found = nodes_[node].token;
      *len = i + 1 - pos;
    }
  }
  return found;
}

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) {
  special_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    special_.push_back(tokens[i].special);
    (tokens[i].normalized ? normalized_ : raw_).Add(tokens[i].content, static_cast<int32_t>(i));
  }
}

void AddedTokenMatcher::SplitPass(absl::string_view text, const Segment& seg, const Trie& trie,
                                  AddedTokenMatching matching, std::vector<Segment>* out) const {
  size_t gap = seg.begin;
  size_t i = seg.begin;
  const absl::string_view window = text.substr(0, seg.end);
  while (i < seg.end) {
    if (!trie.MayStartWith(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    size_t len = 0;
    const int32_t token = trie.LongestAt(window, i, &len);
    if (token < 0) {
      ++i;
      continue;
    }
    // A skipped special token stays plain text, and the search resumes after it (as Hugging
    // Face's find_matches does), so nothing inside it is matched either.
    if (matching == AddedTokenMatching::kNonSpecial && special_[static_cast<size_t>(token)]) {
      i += len;
      continue;
    }
    if (gap < i) out->push_back({gap, i, -1});
    out->push_back({i, i + len, token});
    i += len;
    gap = i;
  }
  if (gap < seg.end) out->push_back({gap, seg.end, -1});
}

void AddedTokenMatcher::Split(absl::string_view text, AddedTokenMatching matching,
                              std::vector<Segment>* out) const {
  if (text.empty()) return;
  const Segment all{0, text.size(), -1};
  if (matching == AddedTokenMatching::kNone) {
    out->push_back(all);
    return;
  }
  if (normalized_.empty()) {
    SplitPass(text, all, raw_, matching, out);
    return;
  }
  std::vector<Segment> first;
  SplitPass(text, all, raw_, matching, &first);
  for (const Segment& s : first) {
    if (s.token >= 0) {
      out->push_back(s);
    } else {
      SplitPass(text, s, normalized_, matching, out);
    }
  }
}

void AddedTokenMatcher::SplitRaw(absl::string_view text, AddedTokenMatching matching,
                                 std::vector<Segment>* out) const {
  if (text.empty()) return;
  const Segment all{0, text.size(), -1};
  if (matching == AddedTokenMatching::kNone) {
    out->push_back(all);
    return;
  }
  SplitPass(text, all, raw_, matching, out);
}

void AddedTokenMatcher::SplitNormalized(absl::string_view normalized_text,
                                        AddedTokenMatching matching,
                                        std::vector<Segment>* out) const {
  if (normalized_text.empty()) return;
  const Segment all{0, normalized_text.size(), -1};
  if (matching == AddedTokenMatching::kNone) {
    out->push_back(all);
    return;
  }
  SplitPass(normalized_text, all, normalized_, matching, out);
}

}  // namespace r1::tok
