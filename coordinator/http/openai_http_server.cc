#include "coordinator/http/openai_http_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <utility>

#include <boost/beast/core/bind_handler.hpp>

#include "absl/strings/str_cat.h"
#include "common/api_keys.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/detok/incremental_detokenizer.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/http_session.h"
#include "coordinator/http/server_core.h"

namespace r1::http {
namespace internal {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// Connections answered by ConnectionRejector and lingering at once; past this they are answered
// and closed without lingering.
constexpr size_t kMaxLingeringRefusals = 4096;

// The address a connection is counted under: IPv4 as dotted quad (also when it reaches an IPv6
// listener as ::ffff:a.b.c.d), IPv6 as text; "" when the peer is already gone.
std::string ClientKey(const tcp::socket& socket) {
  error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) return "";
  net::ip::address address = peer.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  }
  return address.to_string();
}

// Raises the soft limit on open files towards `wanted` (at most the hard limit): every
// connection and lingering refusal is a descriptor, and the common default soft limit of 1024
// would fail accept() long before max_connections.
void RaiseOpenFileLimit(rlim_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted) return;
  const rlim_t raised = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = raised;
  if (raised > before && setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    log::Info({}, "http: open file limit raised from {} to {}", before, raised);
  }
  if (raised < wanted) {
    log::Warn({}, "http: open file limit {} is below the {} the connection limits may need", raised,
              wanted);
  }
}

std::shared_ptr<const std::string> Refusal(int status, absl::string_view message,
                                           absl::string_view code, int retry_after_s) {
  return std::make_shared<const std::string>(
      CloseResponse(status, MakeApiError(status, message, "", code).Json(), retry_after_s));
}

}  // namespace

ServerCore::ServerCore(OpenAiHttpServerOptions options, const tok::Tokenizer* tokenizer,
                       Generator* generator, prometheus::Registry* registry,
                       std::function<std::string()> metrics_text)
    : options_(std::move(options)),
      tokenizer_(tokenizer),
      generator_(generator),
      registry_(registry),
      metrics_text_(std::move(metrics_text)) {}

ServerCore::~ServerCore() {
  Stop();
  if (request_pool_ != nullptr) request_pool_->join();
  acceptor_.reset();
  ioc_.reset();  // destroys pending handlers (and the sessions they own) while members live
}

absl::StatusOr<int> ServerCore::Start() {
  if (started_) return absl::FailedPreconditionError("OpenAiHttpServer: already started");
  const auto& o = options_;
  if (tokenizer_ == nullptr || generator_ == nullptr) {
    return absl::InvalidArgumentError("OpenAiHttpServer: tokenizer and generator are required");
  }
  RETURN_IF_ERROR(ValidateOpenAiHttpServerOptions(o));
  ASSIGN_OR_RETURN(metrics_, api::RequestMetrics::Create(registry_));
  ASSIGN_OR_RETURN(prompts_, api::PromptBuilder::CreateWithChatTemplate(
                                 tokenizer_, o.eos_token, o.chat_template, o.chat_template_origin));
  keys_ = ApiKeySet(o.api_keys);
  gen_ctx_.env.tokenizer = tokenizer_;
  gen_ctx_.env.generator = generator_;
  gen_ctx_.env.prompts = prompts_.get();
  gen_ctx_.env.metrics = metrics_.get();
  gen_ctx_.env.skip_ids = detok::SpecialIdsExceptThink(*tokenizer_);
  gen_ctx_.env.extra_eos_ids = o.extra_eos_ids;
  gen_ctx_.request_timeout = o.request_timeout;
  gen_ctx_.retry_after_s = o.retry_after_s;
  {
    absl::MutexLock lock(&mu_);
    clients_ = ClientConnectionCounter(o.max_connections_per_client);
  }
  server_limit_response_ =
      Refusal(503, "Too many connections; retry later.", "too_many_connections", o.retry_after_s);
  client_limit_response_ =
      Refusal(429,
              absl::StrCat("Too many connections from this client (the limit is ",
                           o.max_connections_per_client, "); retry later."),
              "too_many_client_connections", o.retry_after_s);
  shutting_down_response_ =
      Refusal(503, "The server is shutting down.", "server_shutting_down", o.retry_after_s);
  rejector_ = std::make_unique<ConnectionRejector>(ConnectionRejectorOptions{
      kMaxLingeringRefusals, o.linger_timeout, std::max<size_t>(o.linger_max_bytes, 1)});
  RaiseOpenFileLimit(static_cast<rlim_t>(o.max_connections) + kMaxLingeringRefusals + 1024);

  error_code ec;
  const net::ip::address address = net::ip::make_address(o.address, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad listen address '", o.address, "'"));
  ioc_ = std::make_unique<net::io_context>(o.io_threads);
  acceptor_ = std::make_unique<tcp::acceptor>(net::make_strand(*ioc_));
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(o.port));
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", o.address, ":", o.port, ": ", ec.message()));
  }
  port_ = acceptor_->local_endpoint(ec).port();
  request_pool_ = std::make_unique<net::thread_pool>(static_cast<size_t>(o.request_threads));
  work_.emplace(net::make_work_guard(*ioc_));
  DoAccept();
  for (int i = 0; i < o.io_threads; ++i) {
    io_threads_.emplace_back([this] {
      while (true) {
        try {
          ioc_->run();
          return;
        } catch (const std::exception& e) {
          log::Error({}, "http: handler threw: {}", e.what());
        }
      }
    });
  }
  started_ = true;
  log::Info({},
            "http: OpenAI API listening on {}:{} (io_threads={} request_threads={} "
            "max_connections={} max_connections_per_client={} auth={})",
            o.address, port_, o.io_threads, o.request_threads, o.max_connections,
            o.max_connections_per_client, keys_.empty() ? "off" : "on");
  return port_;
}

void ServerCore::DoAccept() {
  acceptor_->async_accept(net::make_strand(*ioc_),
                          boost::beast::bind_front_handler(&ServerCore::OnAccept, this));
}

void ServerCore::OnAccept(error_code ec, tcp::socket socket) {
  if (!acceptor_->is_open()) return;
  if (ec) {
    if (ec != net::error::operation_aborted) {
      log::Warn({}, "http: accept failed: {}", ec.message());
      // Out of file descriptors and the like: try again shortly, not in a tight loop.
      auto timer = std::make_shared<net::steady_timer>(acceptor_->get_executor(),
                                                       std::chrono::milliseconds(50));
      timer->async_wait([this, timer](error_code) { DoAccept(); });
      return;
    }
    return DoAccept();
  }
  if (stopping_.load()) {
    metrics_->Rejected("shutting_down");
    metrics_->RequestDone("other", 503);
    rejector_->Reject(std::move(socket), shutting_down_response_);
    return;
  }
  // Accepts run one at a time (one pending async_accept), so the counts checked here cannot grow
  // before the session is registered below; they only shrink as sessions end.
  std::string client = ClientKey(socket);
  Admission admission = Admission::kServe;
  {
    absl::MutexLock lock(&mu_);
    const int per_client = options_.max_connections_per_client;
    if (per_client > 0 && clients_.count(client) >= per_client) {
      admission = Admission::kClientLimit;  // the client's own share is used up: its 429
    } else if (sessions_.size() >= static_cast<size_t>(options_.max_connections)) {
      admission = Admission::kServerLimit;
    } else {
      clients_.TryAcquire(client);
    }
  }
  if (admission != Admission::kServe) {
    Refuse(std::move(socket), admission);
  } else {
    auto session = std::make_shared<Session>(this, std::move(socket));
    {
      absl::MutexLock lock(&mu_);
      sessions_.emplace(session.get(), Registered{session, std::move(client)});
    }
    session->Start();
  }
  DoAccept();
}

void ServerCore::Refuse(tcp::socket socket, Admission why) {
  const bool client_limit = why == Admission::kClientLimit;
  metrics_->Rejected(client_limit ? "client_connection_limit" : "connection_limit");
  metrics_->RequestDone("other", client_limit ? 429 : 503);
  rejector_->Reject(std::move(socket),
                    client_limit ? client_limit_response_ : server_limit_response_);
}

void ServerCore::Unregister(Session* session) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  clients_.Release(it->second.client);
  sessions_.erase(it);
}

void ServerCore::ForEachSession(const std::function<void(const std::shared_ptr<Session>&)>& fn) {
  std::vector<std::shared_ptr<Session>> live;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [ptr, registered] : sessions_) {
      if (auto s = registered.session.lock()) live.push_back(std::move(s));
    }
  }
  for (const auto& s : live) fn(s);
}

bool ServerCore::WaitSessions(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto empty = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return sessions_.empty(); };
  return mu_.AwaitWithTimeout(absl::Condition(&empty), timeout);
}

void ServerCore::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  net::post(acceptor_->get_executor(), [this] {
    error_code ec;
    acceptor_->close(ec);
  });
  ForEachSession([](const std::shared_ptr<Session>& s) { s->PostServerStop(false); });
  if (!WaitSessions(options_.drain_timeout)) {
    // In-flight generations are cancelled and end their responses with an error; connections
    // that still do not finish (a client not reading) are cut.
    log::Warn({}, "http: drain timeout; cancelling in-flight requests");
    abort_.store(true);
    ForEachSession([](const std::shared_ptr<Session>& s) { s->PostAbort(); });
    if (!WaitSessions(absl::Seconds(1))) {
      ForEachSession([](const std::shared_ptr<Session>& s) { s->PostServerStop(true); });
      WaitSessions(absl::Seconds(2));
    }
  }
  work_.reset();
  ioc_->stop();
  for (std::thread& t : io_threads_) t.join();
  io_threads_.clear();
  // A request still being started posts its job to the stopped io_context, which drops it.
  request_pool_->join();
  log::Info({}, "http: stopped");
}

}  // namespace internal

// ---- public ----------------------------------------------------------------------------------

class OpenAiHttpServer::Impl : public internal::ServerCore {
 public:
  Impl(OpenAiHttpServerOptions options, const tok::Tokenizer* tokenizer, Generator* generator,
       prometheus::Registry* registry, std::function<std::string()> metrics_text)
      : internal::ServerCore(std::move(options), tokenizer, generator, registry,
                             std::move(metrics_text)) {}
};

OpenAiHttpServer::OpenAiHttpServer(OpenAiHttpServerOptions options, const tok::Tokenizer* tokenizer,
                                   Generator* generator, prometheus::Registry* registry,
                                   std::function<std::string()> metrics_text)
    : impl_(std::make_unique<Impl>(std::move(options), tokenizer, generator, registry,
                                   std::move(metrics_text))) {}

OpenAiHttpServer::~OpenAiHttpServer() = default;

absl::StatusOr<int> OpenAiHttpServer::Start() { return impl_->Start(); }
void OpenAiHttpServer::Stop() { impl_->Stop(); }
int OpenAiHttpServer::port() const { return impl_->port_; }

}  // namespace r1::http
