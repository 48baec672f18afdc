#include "coordinator/http/client_connection_counter.h"

namespace r1::http {

bool ClientConnectionCounter::TryAcquire(absl::string_view client) {
  auto [it, inserted] = counts_.try_emplace(client, 0);
  if (max_per_client_ > 0 && it->second >= max_per_client_) return false;
  ++it->second;
  return true;
}

void ClientConnectionCounter::Release(absl::string_view client) {
  auto it = counts_.find(client);
  if (it == counts_.end()) return;
  if (--it->second <= 0) counts_.erase(it);
}

int ClientConnectionCounter::count(absl::string_view client) const {
  auto it = counts_.find(client);
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace r1::http
