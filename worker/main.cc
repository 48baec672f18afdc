// r1-worker: one process per GPU (or per CPU host with --device=cpu). It dials the coordinator,
// receives its share of the model, and runs the forward pass for its engine group.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/logging.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "Coordinator gRPC address (host:port).");
ABSL_FLAG(std::string, device, "cpu", "Backend: cpu or cuda[:N].");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:0",
          "Where to serve Prometheus /metrics (host:port; port 0 picks one).");
ABSL_FLAG(double, kv_cache_fraction, 0.9, "Fraction of free device memory for the KV cache.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error or off.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "r1-worker --coordinator=HOST:PORT --device=cpu|cuda[:N]\n"
      "Holds one shard of a DeepSeek-V3/R1 engine group and runs its forward pass.");
  absl::ParseCommandLine(argc, argv);
  r1::log::Init("worker", absl::GetFlag(FLAGS_log_level));
  r1::log::Error({}, "the serving loop is not part of this build yet; see README.md (status)");
  return 2;
}
