// MetricsEndpoint: serves a prometheus::Registry in the Prometheus text format at GET /metrics
// (HTTP/1.1, Boost.Beast), for the worker's --metrics_address.
//
// Why not prometheus-cpp's Exposer: it runs civetweb, which creates its threads with a fixed
// ~100 KiB stack. glibc places a process's static TLS on every thread's stack, and the CUDA
// worker links libraries whose static TLS alone exceeds that (cuBLASLt ~92 KiB, OpenBLAS 60 KiB),
// so civetweb cannot start a single thread there. This endpoint runs on one thread of its own
// with the default stack.
//
// Bounds: request headers ≤ 8 KiB, no request body, 10 s to read a request and write the answer,
// at most 64 connections at once (more are closed at accept). GET or HEAD of /metrics → 200;
// other paths 404; other methods 405. One request per connection (Connection: close).
//
// Owns its thread and socket; Start() binds before returning; the destructor stops and joins.
// The registry is shared (collections happen on the endpoint's thread; prometheus-cpp makes that
// safe against concurrent recording).
#ifndef R1_WORKER_SERVICE_METRICS_ENDPOINT_H_
#define R1_WORKER_SERVICE_METRICS_ENDPOINT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"

namespace r1 {

class MetricsEndpoint {
 public:
  // `address` is HOST:PORT; port 0 picks a free port (see port()).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& address, std::shared_ptr<prometheus::Registry> registry);
  ~MetricsEndpoint();

  int port() const;

 private:
  struct Impl;
  explicit MetricsEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1

#endif  // R1_WORKER_SERVICE_METRICS_ENDPOINT_H_
