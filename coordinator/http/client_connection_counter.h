// ClientConnectionCounter: open connections per client address, for the HTTP server's
// per-client connection limit (OpenAiHttpServerOptions::max_connections_per_client). One client
// that opens many connections, silent ones included, cannot take the places of everyone else:
// past its share it is refused at once (429) while other clients are still served.
//
//   ClientConnectionCounter counter(/*max_per_client=*/64);
//   if (!counter.TryAcquire(address)) Refuse();   // already 64 open from `address`
//   ...                                            // the connection closes:
//   counter.Release(address);
//
// A value type, not thread-safe: the server calls it under its own mutex. Entries are removed
// when their count drops to zero, so memory follows the open connections.
#ifndef R1_COORDINATOR_HTTP_CLIENT_CONNECTION_COUNTER_H_
#define R1_COORDINATOR_HTTP_CLIENT_CONNECTION_COUNTER_H_

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace r1::http {

class ClientConnectionCounter {
 public:
  // `max_per_client` <= 0: no limit (every TryAcquire succeeds; counts are still kept).
  explicit ClientConnectionCounter(int max_per_client) : max_per_client_(max_per_client) {}

  // Counts one more connection from `client` unless it already has `max_per_client`.
  bool TryAcquire(absl::string_view client);
  // One connection from `client` closed (ignored when it has none).
  void Release(absl::string_view client);
  int count(absl::string_view client) const;
  size_t clients() const { return counts_.size(); }

 private:
  int max_per_client_;
  absl::flat_hash_map<std::string, int> counts_;
};

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_CLIENT_CONNECTION_COUNTER_H_
