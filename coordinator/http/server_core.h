// ServerCore: what the OpenAI HTTP server's connections share — options, tokenizer, generator,
// metrics, API keys, the request threads (where generation requests are parsed and started), the
// Asio io_context and acceptor, the registry of open connections with their per-client counts,
// and the rejection path. OpenAiHttpServer's
// implementation (openai_http_server.cc) and its sessions (http_session.cc) use it; nothing else
// includes this header.
//
// Accepting (one accept at a time, on the acceptor's strand): a connection from a client that
// already has max_connections_per_client open is answered 429 at once; one past max_connections
// 503; one arriving while the server stops 503 too — each through ConnectionRejector, so that
// every refused connection gets its answer. Others become a Session, registered here until it is
// destroyed.
//
// Ownership: created and destroyed by OpenAiHttpServer. The tokenizer, generator and registry are
// borrowed. Thread-safety: Start and Stop from the owner's thread; `mu_` guards the connection
// registry; the flags are atomics; everything else is set in Start before any thread runs and
// read-only afterwards.
#ifndef R1_COORDINATOR_HTTP_SERVER_CORE_H_
#define R1_COORDINATOR_HTTP_SERVER_CORE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>  // before Asio: Boost 1.74 uses std::exchange without it
#include <vector>

#include <boost/asio.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/api_keys.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/api/prompt_builder.h"
#include "coordinator/api/request_metrics.h"
#include "coordinator/core/generator.h"
#include "coordinator/http/client_connection_counter.h"
#include "coordinator/http/connection_rejector.h"
#include "coordinator/http/generation_job.h"
#include "coordinator/http/http_server_options.h"
#include "prometheus/registry.h"

namespace r1::http::internal {

class Session;

class ServerCore {
 public:
  ServerCore(OpenAiHttpServerOptions options, const tok::Tokenizer* tokenizer, Generator* generator,
             prometheus::Registry* registry, std::function<std::string()> metrics_text);
  ~ServerCore();
  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  absl::StatusOr<int> Start();
  void Stop();

  // A session is going away (its destructor): forget it and its client's count.
  void Unregister(Session* session);

  OpenAiHttpServerOptions options_;
  const tok::Tokenizer* tokenizer_;
  Generator* generator_;
  prometheus::Registry* registry_;
  std::function<std::string()> metrics_text_;

  std::unique_ptr<api::RequestMetrics> metrics_;
  std::unique_ptr<api::PromptBuilder> prompts_;
  ApiKeySet keys_;
  GenerationContext gen_ctx_;
  std::atomic<bool> stopping_{false};  // no new requests; idle connections close
  std::atomic<bool> abort_{false};     // drain timed out: in-flight generations end now
  // Parses requests and starts their generations (GenerationJob::Start), off the I/O threads.
  std::unique_ptr<boost::asio::thread_pool> request_pool_;
  int port_ = 0;

 private:
  struct Registered {
    std::weak_ptr<Session> session;
    std::string client;  // the address counted in `clients_`
  };
  enum class Admission { kServe, kClientLimit, kServerLimit };

  void DoAccept();
  void OnAccept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);
  // Refuses `socket` with one of the prebuilt responses below (counted in the metrics).
  void Refuse(boost::asio::ip::tcp::socket socket, Admission why);
  void ForEachSession(const std::function<void(const std::shared_ptr<Session>&)>& fn);
  bool WaitSessions(absl::Duration timeout);

  absl::Mutex mu_;
  std::unordered_map<Session*, Registered> sessions_ ABSL_GUARDED_BY(mu_);
  ClientConnectionCounter clients_ ABSL_GUARDED_BY(mu_){0};

  // Prebuilt refusals (Connection: close, Retry-After).
  std::shared_ptr<const std::string> server_limit_response_;
  std::shared_ptr<const std::string> client_limit_response_;
  std::shared_ptr<const std::string> shutting_down_response_;
  std::unique_ptr<ConnectionRejector> rejector_;

  // Declared last: destroyed first (pending handlers own sessions, which use the members above).
  std::unique_ptr<boost::asio::io_context> ioc_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> io_threads_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace r1::http::internal

#endif  // R1_COORDINATOR_HTTP_SERVER_CORE_H_
