#include "worker/comm/key_value_store.h"

#include "absl/strings/str_cat.h"

namespace r1 {

absl::Status InMemoryKeyValueStore::Set(const std::string& key, const std::string& value) {
  absl::MutexLock lock(&mu_);
  kv_[key] = value;
  return absl::OkStatus();
}

absl::StatusOr<std::string> InMemoryKeyValueStore::Get(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = kv_.find(key);
  if (it == kv_.end()) return absl::NotFoundError(absl::StrCat("no key '", key, "'"));
  return it->second;
}

absl::Status InMemoryKeyValueStore::Wait(const std::vector<std::string>& keys,
                                         absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto all_present = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const std::string& k : keys) {
      if (kv_.count(k) == 0) return false;
    }
    return true;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&all_present), timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("rendezvous keys did not appear within ", absl::FormatDuration(timeout)));
  }
  return absl::OkStatus();
}

size_t InMemoryKeyValueStore::size() const {
  absl::MutexLock lock(&mu_);
  return kv_.size();
}

}  // namespace r1
