#include "coordinator/detok/stop_strings.h"

#include <algorithm>
#include <utility>

namespace r1::detok {

size_t TruncateAtStop(absl::string_view text, const std::vector<std::string>& stops,
                      std::optional<std::string>* matched) {
  size_t best_end = absl::string_view::npos;
  size_t best_begin = text.size();
  const std::string* best = nullptr;
  for (const std::string& s : stops) {
    if (s.empty()) continue;
    const size_t at = text.find(s);
    if (at == absl::string_view::npos) continue;
    const size_t end = at + s.size();
    if (best == nullptr || end < best_end || (end == best_end && at < best_begin)) {
      best_end = end;
      best_begin = at;
      best = &s;
    }
  }
  if (matched != nullptr) {
    if (best != nullptr) {
      *matched = *best;
    } else {
      matched->reset();
    }
  }
  return best_begin;
}

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) {
  for (std::string& s : stops) {
    if (s.empty()) continue;
    max_len_ = std::max(max_len_, s.size());
    stops_.push_back(std::move(s));
  }
}

bool StopStringMatcher::Append(absl::string_view text, std::string* emit) {
  if (stopped()) return true;
  if (stops_.empty()) {
    emit->append(text.data(), text.size());
    return false;
  }
  held_.append(text.data(), text.size());
  // `held_` holds no complete stop string (it would have matched before), so the earliest-ending
  // occurrence in it ends in the new text.
  std::optional<std::string> matched;
  const size_t cut = TruncateAtStop(held_, stops_, &matched);
  if (matched.has_value()) {
    emit->append(held_, 0, cut);
    held_.clear();
    matched_ = std::move(matched);
    return true;
  }
  // Keep the longest suffix that is a proper prefix of a stop string.
  size_t keep = 0;
  const absl::string_view h(held_);
  for (const std::string& s : stops_) {
    for (size_t n = std::min(h.size(), s.size() - 1); n > keep; --n) {
      if (h.substr(h.size() - n) == absl::string_view(s).substr(0, n)) {
        keep = n;
        break;
      }
    }
  }
  emit->append(held_, 0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return false;
}

void StopStringMatcher::Finish(std::string* emit) {
  if (!stopped()) emit->append(held_);
  held_.clear();
}

}  // namespace r1::detok
