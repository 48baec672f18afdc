// r1-http-fake-server: the OpenAI HTTP API over a FakeGenerator, for client-compatibility tests
// (tests/python/test_openai_client_fake.py runs the official openai client against it).
//
// Prints "http_port=N" (the bound port) on the first line of stdout, then serves until SIGINT or
// SIGTERM. SIGUSR1 releases every held request (below).
// Replies are scripted from the prompt text:
//   chat (the prompt ends in "<think>\n"): "Okay, the user wrote: <last user message>.</think>
//       \n\nHello! You said: <last user message>" then EOS;
//   completions: " and that is the end of the story." then EOS;
//   chat whose last user message contains "[[tool:NAME]]": reasoning, then "Calling NAME." and a
//       DeepSeek tool call of NAME with {"q": "<last user message>"} (V3 / R1 format), then EOS;
//   a prompt containing "[[forever]]": tokens until the client goes away (or max_tokens);
//   a prompt containing "[[hold]]": as above, but nothing until the next SIGUSR1
//       (FakeGenerator::Release; the scale test holds 10,000 idle streams this way).
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/api_keys.h"
#include "common/logging.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/http/openai_http_server.h"
#include "coordinator/testing/fake_generator.h"
#include "nlohmann/json.hpp"
#include "prometheus/registry.h"

ABSL_FLAG(std::string, tokenizer, "models/r1-tiny/tokenizer.json", "tokenizer.json to serve with.");
ABSL_FLAG(std::string, address, "127.0.0.1", "Address to bind.");
ABSL_FLAG(int, port, 0, "Port (0 = any free port; printed on stdout).");
ABSL_FLAG(std::string, model_id, "r1-tiny", "Served model id.");
ABSL_FLAG(int, max_model_len, 4096, "Context length.");
ABSL_FLAG(std::string, api_keys_file, "", "File of API keys (one per line); empty = no auth.");
ABSL_FLAG(int, token_delay_ms, 0, "Delay before each generated token.");
ABSL_FLAG(int, max_connections, 256, "Open HTTP connections (more get 503).");
ABSL_FLAG(int, io_threads, 2, "HTTP I/O threads.");
ABSL_FLAG(int, request_threads, 2, "Threads that parse and start generation requests.");
ABSL_FLAG(int, request_timeout_s, 600, "Generation deadline per request.");
ABSL_FLAG(std::string, log_level, "warn", "Log level.");

namespace {

std::string LastUserText(absl::string_view prompt) {
  const absl::string_view user = "<｜User｜>", assistant = "<｜Assistant｜>";
  const size_t u = prompt.rfind(user);
  if (u == absl::string_view::npos) return "";
  absl::string_view rest = prompt.substr(u + user.size());
  return std::string(rest.substr(0, rest.find(assistant)));
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("r1-http-fake-server [--port=0] [--tokenizer=FILE]");
  absl::ParseCommandLine(argc, argv);
  r1::log::Init("http-fake", absl::GetFlag(FLAGS_log_level));

  // Block the stop signals in every thread; main waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto tokenizer = r1::tok::Tokenizer::LoadFromFile(absl::GetFlag(FLAGS_tokenizer));
  if (!tokenizer.ok()) {
    r1::log::Error({}, "{}", tokenizer.status().ToString());
    return 2;
  }
  const r1::tok::Tokenizer* tok = tokenizer->get();
  r1::ServedModel model{absl::GetFlag(FLAGS_model_id), absl::GetFlag(FLAGS_max_model_len),
                        tok->id_limit(), 1700000000};
  r1::testing::FakeGenerator generator(model);
  const absl::Duration delay = absl::Milliseconds(absl::GetFlag(FLAGS_token_delay_ms));
  const std::optional<int32_t> eos = tok->AddedTokenId("<｜end▁of▁sentence｜>");
  generator.SetScript([tok, delay, eos](const r1::GenerationRequest& req) {
    r1::testing::FakeScript script;
    script.delay = delay;
    auto prompt = tok->Decode(req.prompt_token_ids);
    const std::string text = prompt.ok() ? *prompt : "";
    std::string reply;
    script.wait_for_release = absl::StrContains(text, "[[hold]]");
    if (absl::StrContains(text, "[[forever]]")) {
      script.never_ends = true;
      reply = " more";
    } else if (const std::string user = LastUserText(text);
               absl::StrContains(user, "[[tool:") && absl::EndsWith(text, "<think>\n")) {
      const size_t from = user.find("[[tool:") + 7;
      const std::string name = user.substr(from, user.find("]]", from) - from);
      reply = absl::StrCat("A tool is needed.</think>\n\nCalling ", name,
                           ".<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>",
                           name, "\n```json\n",
                           nlohmann::json{{"q", user}}.dump(
                               -1, ' ', false, nlohmann::json::error_handler_t::replace),
                           "\n```<｜tool▁call▁end｜>"
                           "<｜tool▁calls▁end｜>");
    } else if (absl::EndsWith(text, "<think>\n")) {
      const std::string user = LastUserText(text);
      reply = absl::StrCat("Okay, the user wrote: ", user, ".</think>\n\nHello! You said: ", user);
    } else {
      reply = " and that is the end of the story.";
    }
    auto ids = tok->Encode(reply);
    if (ids.ok()) script.tokens = *ids;
    if (!script.never_ends && eos.has_value()) script.tokens.push_back(*eos);
    return script;
  });

  r1::http::OpenAiHttpServerOptions options;
  options.address = absl::GetFlag(FLAGS_address);
  options.port = absl::GetFlag(FLAGS_port);
  options.drain_timeout = absl::Seconds(2);
  options.max_connections = absl::GetFlag(FLAGS_max_connections);
  options.io_threads = absl::GetFlag(FLAGS_io_threads);
  options.request_threads = absl::GetFlag(FLAGS_request_threads);
  options.request_timeout = absl::Seconds(absl::GetFlag(FLAGS_request_timeout_s));
  if (!absl::GetFlag(FLAGS_api_keys_file).empty()) {
    auto keys = r1::LoadApiKeysFile(absl::GetFlag(FLAGS_api_keys_file));
    if (!keys.ok()) {
      r1::log::Error({}, "{}", keys.status().ToString());
      return 2;
    }
    options.api_keys = *keys;
  }
  prometheus::Registry registry;
  r1::http::OpenAiHttpServer server(options, tok, &generator, &registry, nullptr);
  auto port = server.Start();
  if (!port.ok()) {
    r1::log::Error({}, "{}", port.status().ToString());
    return 1;
  }
  std::printf("http_port=%d\n", *port);
  std::fflush(stdout);
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig != SIGUSR1) break;
    generator.Release();
  }
  server.Stop();
  return 0;
}
