#include "worker/comm/gloo_store.h"

#include <gloo/common/error.h>

#include "absl/strings/str_cat.h"

namespace r1 {
namespace {

[[noreturn]] void Throw(const absl::Status& st) { throw gloo::IoException(st.ToString()); }

}  // namespace

GlooStoreAdapter::GlooStoreAdapter(KeyValueStore* store, std::string prefix, absl::Duration timeout)
    : store_(store), prefix_(std::move(prefix)), timeout_(timeout) {}

std::vector<std::string> GlooStoreAdapter::Prefixed(const std::vector<std::string>& keys) const {
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (const std::string& k : keys) out.push_back(prefix_ + k);
  return out;
}

void GlooStoreAdapter::set(const std::string& key, const std::vector<char>& data) {
  absl::Status st = store_->Set(prefix_ + key, std::string(data.begin(), data.end()));
  if (!st.ok()) Throw(st);
}

std::vector<char> GlooStoreAdapter::get(const std::string& key) {
  wait({key});
  absl::StatusOr<std::string> v = store_->Get(prefix_ + key);
  if (!v.ok()) Throw(v.status());
  return std::vector<char>(v->begin(), v->end());
}

void GlooStoreAdapter::wait(const std::vector<std::string>& keys) {
  absl::Status st = store_->Wait(Prefixed(keys), timeout_);
  if (!st.ok()) Throw(st);
}

void GlooStoreAdapter::wait(const std::vector<std::string>& keys,
                            const std::chrono::milliseconds& timeout) {
  // Gloo passes its context timeout here; a non-positive one means "none": use ours.
  const absl::Duration t = timeout.count() > 0 ? absl::FromChrono(timeout) : timeout_;
  absl::Status st = store_->Wait(Prefixed(keys), t);
  if (!st.ok()) Throw(st);
}

}  // namespace r1
