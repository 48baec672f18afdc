// r1-coordinator: the cluster's front door (OpenAI-compatible HTTP + gRPC), worker registry, group
// formation, expert placement and routing. CPU only; never links CUDA.
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/logging.h"

ABSL_FLAG(std::string, http_address, "127.0.0.1:8000", "OpenAI-compatible HTTP listen address.");
ABSL_FLAG(std::string, grpc_address, "127.0.0.1:50051",
          "gRPC listen address (public Inference API, worker Attach, Rendezvous, Admin).");
ABSL_FLAG(std::string, model, "", "Model directory (config.json, tokenizer.json, safetensors).");
ABSL_FLAG(int, group_size, 1, "Workers per engine group (expert-parallel degree).");
ABSL_FLAG(std::string, api_key_file, "", "File with one accepted API key per line (optional).");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error or off.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "r1-coordinator --model=DIR --group-size=N [--http_address=HOST:PORT]\n"
      "Serves DeepSeek-R1 over an OpenAI-compatible API from a cluster of r1-worker processes.");
  absl::ParseCommandLine(argc, argv);
  r1::log::Init("coordinator", absl::GetFlag(FLAGS_log_level));
  r1::log::Error({}, "the serving front end is not part of this build yet; see README.md (status)");
  return 2;
}
