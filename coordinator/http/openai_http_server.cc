#include "coordinator/http/openai_http_server.h"

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/detok/incremental_detokenizer.h"
#include "coordinator/http/api_error.h"
#include "common/api_keys.h"
#include "coordinator/http/elastic_thread_pool.h"
#include "coordinator/http/generation_job.h"
#include "coordinator/http/http_metrics.h"
#include "coordinator/http/openai_response.h"
#include "coordinator/http/prompt_builder.h"
#include "prometheus/text_serializer.h"

namespace r1::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using Response = bhttp::response<bhttp::string_body>;
using Headers = std::vector<std::pair<bhttp::field, std::string>>;

constexpr char kServerName[] = "r1serve";
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr size_t kMaxDrainBytes = 1u << 20;
constexpr int kMaxRejecting = 64;

absl::string_view Sv(beast::string_view s) { return absl::string_view(s.data(), s.size()); }

enum class Route { kChat, kCompletions, kModels, kModel, kLive, kReady, kMetrics, kUnknown };

struct RouteInfo {
  Route route;
  const char* label;  // the metrics label
  bhttp::verb method;
};

RouteInfo Classify(absl::string_view path) {
  if (path == "/v1/chat/completions")
    return {Route::kChat, "/v1/chat/completions", bhttp::verb::post};
  if (path == "/v1/completions") return {Route::kCompletions, "/v1/completions", bhttp::verb::post};
  if (path == "/v1/models") return {Route::kModels, "/v1/models", bhttp::verb::get};
  if (absl::StartsWith(path, "/v1/models/") && path.size() > 11) {
    return {Route::kModel, "/v1/models/{id}", bhttp::verb::get};
  }
  if (path == "/live") return {Route::kLive, "/live", bhttp::verb::get};
  if (path == "/ready") return {Route::kReady, "/ready", bhttp::verb::get};
  if (path == "/metrics") return {Route::kMetrics, "/metrics", bhttp::verb::get};
  return {Route::kUnknown, "other", bhttp::verb::unknown};
}

std::shared_ptr<Response> MakeResponse(int status, unsigned version, bool keep_alive,
                                       absl::string_view content_type, std::string body,
                                       const Headers& extra = {}) {
  auto res = std::make_shared<Response>();
  res->version(version);
  res->result(static_cast<unsigned>(status));
  res->set(bhttp::field::server, kServerName);
  res->set(bhttp::field::content_type,
           beast::string_view(content_type.data(), content_type.size()));
  for (const auto& [field, value] : extra) res->set(field, value);
  res->keep_alive(keep_alive);
  res->body() = std::move(body);
  res->prepare_payload();
  return res;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// No Content-Type is taken as JSON (curl without -H, many scripts); anything else must be JSON
// (application/json or a +json type, parameters allowed). Refusing text/plain and form types also
// keeps browsers from posting to the API cross-site without a CORS preflight.
bool IsJsonContentType(absl::string_view value) {
  value = absl::StripAsciiWhitespace(value.substr(0, value.find(';')));
  if (value.empty()) return true;
  return absl::EqualsIgnoreCase(value, "application/json") ||
         (absl::StartsWithIgnoreCase(value, "application/") &&
          absl::EndsWithIgnoreCase(value, "+json"));
}

// %XX escapes of a path segment (invalid escapes stay as they are).
std::string PercentDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    int hi = -1, lo = -1;
    if (s[i] == '%' && i + 2 < s.size()) {
      hi = HexValue(s[i + 1]);
      lo = HexValue(s[i + 2]);
    }
    if (hi >= 0 && lo >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// A job thread waits for a write on a connection's strand through one of these.
struct Waiter {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool ok = false;
  void Set(bool v) {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    ok = v;
    cv.notify_all();
  }
};

class Session;

// Everything the server's sessions share; OpenAiHttpServer::Impl is this.
class ServerCore {
 public:
  ServerCore(OpenAiHttpServerOptions options, const tok::Tokenizer* tokenizer, Generator* generator,
             prometheus::Registry* registry, std::function<std::string()> metrics_text)
      : options_(std::move(options)),
        tokenizer_(tokenizer),
        generator_(generator),
        registry_(registry),
        metrics_text_(std::move(metrics_text)) {}
  ~ServerCore();

  absl::StatusOr<int> Start();
  void Stop();

  void DoAccept();
  void OnAccept(error_code ec, tcp::socket socket);
  void Unregister(Session* s);
  void ForEachSession(const std::function<void(const std::shared_ptr<Session>&)>& fn);
  bool WaitSessions(absl::Duration timeout);

  OpenAiHttpServerOptions options_;
  const tok::Tokenizer* tokenizer_;
  Generator* generator_;
  prometheus::Registry* registry_;
  std::function<std::string()> metrics_text_;

  std::unique_ptr<HttpMetrics> metrics_;
  std::unique_ptr<PromptBuilder> prompts_;
  ApiKeySet keys_;
  GenerationContext gen_ctx_;
  std::atomic<bool> stopping_{false};    // no new requests; idle connections close
  std::atomic<bool> abort_{false};       // drain timed out: in-flight generations end now
  std::atomic<bool> io_stopped_{false};  // the io_context no longer runs handlers
  std::atomic<int> rejecting_{0};        // over-limit connections being answered 503
  std::unique_ptr<ElasticThreadPool> jobs_;

  absl::Mutex mu_;
  // Registered (not rejected) connections.
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);

  // Declared last: destroyed first (pending handlers own sessions, which use the members above).
  std::unique_ptr<net::io_context> ioc_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::vector<std::thread> io_threads_;
  int port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

// One client connection. Lives on its strand (every member below except fd_ is touched only
// there); a generation job holds a reference and talks to it through ResponseSink, whose calls
// post work to the strand and wait for it.
class Session : public std::enable_shared_from_this<Session>, public ResponseSink {
 public:
  Session(ServerCore* server, tcp::socket&& socket)
      : server_(server), opts_(server->options_), stream_(std::move(socket)) {
    fd_.store(stream_.socket().native_handle());
  }
  ~Session() override { server_->Unregister(this); }

  void Start() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::DoRead, shared_from_this()));
  }
  // Answers 503 (too many connections) and closes.
  void StartRejected() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      ApiError e =
          MakeApiError(503, "Too many connections; retry later.", "", "too_many_connections");
      self->SendSimple(e.http_status, "application/json", e.Json(), "other",
                       {{bhttp::field::retry_after, std::to_string(self->opts_.retry_after_s)}},
                       /*close=*/true);
    });
  }
  // Stop(): idle connections close; with `hard`, in-flight ones are cut too.
  void PostServerStop(bool hard) {
    net::post(stream_.get_executor(), [self = shared_from_this(), hard] {
      if (self->closed_) return;
      error_code ec;
      if (hard) self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      if (!self->job_active_ && (self->reading_ || hard)) self->stream_.cancel();
    });
  }

  // ResponseSink (job thread).
  bool SendJson(int http_status, const std::string& body, int retry_after_s) override;
  bool StartEvents(const std::string& request_id) override;
  bool SendEvents(const std::string& events) override;
  bool EndEvents() override;
  bool ClientGone() override;

 private:
  void DoRead();
  void OnHeader(error_code ec, size_t);
  void ReadBody();
  void OnRead(error_code ec, size_t);
  void OnReadError(error_code ec);
  void HandleRequest(bhttp::request<bhttp::string_body> req);
  void StartJob(ApiKind kind, std::string body);
  void OnJobDone(GenerationResult r);
  void SendSimple(int status, absl::string_view content_type, std::string body, const char* route,
                  const Headers& extra, bool close);
  void SendApiError(const ApiError& e, const char* route, bool close, const Headers& extra = {});
  void Close();
  void DoDrain();
  // Runs `op` on the strand and waits for it to report; false when it failed or never ran.
  bool Await(std::function<void(std::function<void(bool)>)> op);
  std::function<void(error_code, size_t)> WriteDone(std::function<void(bool)> done);
  bool ResponseKeepAlive() const { return keep_alive_ && !server_->stopping_.load(); }

  ServerCore* server_;
  const OpenAiHttpServerOptions& opts_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::atomic<int> fd_{-1};  // for ClientGone; -1 once a write failed
  bool first_request_ = true;
  bool reading_ = false;
  bool job_active_ = false;
  bool closed_ = false;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool response_keep_alive_ = false;  // of the job's response
  bool chunked_ = false;              // the job's event stream uses chunked encoding
  const char* route_ = "other";
  size_t drained_ = 0;
  std::array<char, 4096> drain_buf_{};
};

// ---- reading ---------------------------------------------------------------------------------

void Session::DoRead() {
  if (server_->stopping_.load()) return Close();
  parser_.emplace();
  parser_->body_limit(opts_.max_body_bytes);
  parser_->header_limit(static_cast<std::uint32_t>(opts_.max_header_bytes));
  reading_ = true;
  stream_.expires_after(
      absl::ToChronoMilliseconds(first_request_ ? opts_.read_timeout : opts_.idle_timeout));
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
}

void Session::OnHeader(error_code ec, size_t) {
  if (ec) return OnReadError(ec);
  const auto& req = parser_->get();
  if (req.version() >= 11 && !parser_->is_done() &&
      beast::iequals(req[bhttp::field::expect], "100-continue")) {
    stream_.expires_after(absl::ToChronoMilliseconds(opts_.write_timeout));
    net::async_write(stream_, net::buffer(kContinue, sizeof(kContinue) - 1),
                     [self = shared_from_this()](error_code wec, size_t) {
                       if (wec) return self->Close();
                       self->ReadBody();
                     });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  if (parser_->is_done()) return OnRead({}, 0);
  stream_.expires_after(absl::ToChronoMilliseconds(opts_.read_timeout));
  bhttp::async_read(stream_, buffer_, *parser_,
                    beast::bind_front_handler(&Session::OnRead, shared_from_this()));
}

void Session::OnRead(error_code ec, size_t) {
  if (ec) return OnReadError(ec);
  reading_ = false;
  stream_.expires_never();
  first_request_ = false;
  HandleRequest(parser_->release());
}

void Session::OnReadError(error_code ec) {
  reading_ = false;
  stream_.expires_never();
  if (ec == bhttp::error::body_limit) {
    server_->metrics_->Rejected("body_too_large");
    return SendApiError(MakeApiError(413,
                                     absl::StrCat("The request body exceeds the limit of ",
                                                  opts_.max_body_bytes, " bytes."),
                                     "", "request_too_large"),
                        "other", /*close=*/true);
  }
  if (ec == bhttp::error::header_limit) {
    server_->metrics_->Rejected("invalid_request");
    return SendApiError(MakeApiError(431,
                                     absl::StrCat("The request header exceeds the limit of ",
                                                  opts_.max_header_bytes, " bytes."),
                                     "", "header_too_large"),
                        "other", /*close=*/true);
  }
  const bool partial = parser_.has_value() && parser_->got_some();
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
      ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
    server_->metrics_->Rejected("invalid_request");
    return SendApiError(MakeApiError(400, absl::StrCat("Malformed HTTP request: ", ec.message()),
                                     "", "bad_http_request"),
                        "other", /*close=*/true);
  }
  if (ec == beast::error::timeout && partial) {
    // The peer started a request and stalled; the socket is already closed by the timeout.
    server_->metrics_->Rejected("timeout");
  }
  Close();
}

// ---- routing ---------------------------------------------------------------------------------

void Session::HandleRequest(bhttp::request<bhttp::string_body> req) {
  version_ = req.version();
  keep_alive_ = req.keep_alive();
  absl::string_view target = Sv(req.target());
  const absl::string_view path = target.substr(0, target.find('?'));
  const RouteInfo route = Classify(path);
  route_ = route.label;
  if (server_->stopping_.load()) {
    return SendApiError(
        MakeApiError(503, "The server is shutting down.", "", "server_shutting_down"), route.label,
        /*close=*/true, {{bhttp::field::retry_after, std::to_string(opts_.retry_after_s)}});
  }
  if (route.route != Route::kLive && route.route != Route::kReady && !server_->keys_.empty() &&
      !server_->keys_.Authorizes(Sv(req[bhttp::field::authorization]))) {
    server_->metrics_->Rejected("unauthorized");
    return SendApiError(MakeApiError(401,
                                     "Missing or incorrect API key. Send it as "
                                     "'Authorization: Bearer <key>'.",
                                     "", "invalid_api_key"),
                        route.label, false, {{bhttp::field::www_authenticate, "Bearer"}});
  }
  if (route.route == Route::kUnknown) {
    return SendApiError(
        MakeApiError(404, absl::StrCat("Invalid URL (", Sv(req.method_string()), " ", path, ")"),
                     "", "unknown_url"),
        route.label, false);
  }
  if (req.method() != route.method) {
    return SendApiError(
        MakeApiError(405,
                     absl::StrCat("Method ", Sv(req.method_string()), " is not allowed on ", path,
                                  "; use ", Sv(bhttp::to_string(route.method)), "."),
                     "", "method_not_allowed"),
        route.label, false, {{bhttp::field::allow, std::string(bhttp::to_string(route.method))}});
  }
  switch (route.route) {
    case Route::kChat:
    case Route::kCompletions: {
      if (!IsJsonContentType(Sv(req[bhttp::field::content_type]))) {
        server_->metrics_->Rejected("unsupported_media_type");
        return SendApiError(MakeApiError(415,
                                         absl::StrCat("Unsupported Content-Type '",
                                                      Sv(req[bhttp::field::content_type]),
                                                      "'; send the body as 'application/json'."),
                                         "", "unsupported_media_type"),
                            route.label, false);
      }
      return StartJob(route.route == Route::kChat ? ApiKind::kChat : ApiKind::kCompletion,
                      std::move(req.body()));
    }
    case Route::kLive:
      return SendSimple(200, "application/json", R"({"status":"ok"})", route.label, {}, false);
    case Route::kReady:
      if (server_->generator_->Ready()) {
        return SendSimple(200, "application/json", R"({"status":"ready"})", route.label, {}, false);
      }
      return SendApiError(MakeApiError(503, "No engine group can serve yet.", "", "not_ready"),
                          route.label, false,
                          {{bhttp::field::retry_after, std::to_string(opts_.retry_after_s)}});
    case Route::kModels:
      return SendSimple(200, "application/json", DumpJson(ModelList(server_->generator_->Model())),
                        route.label, {}, false);
    case Route::kModel: {
      const ServedModel model = server_->generator_->Model();
      const std::string wanted = PercentDecode(path.substr(11));
      if (wanted != model.id) {
        return SendApiError(
            MakeApiError(404, absl::StrCat("The model '", wanted, "' does not exist."), "model",
                         "model_not_found"),
            route.label, false);
      }
      return SendSimple(200, "application/json", DumpJson(ModelObject(model)), route.label, {},
                        false);
    }
    case Route::kMetrics: {
      std::string text;
      if (server_->metrics_text_) {
        text = server_->metrics_text_();
      } else if (server_->registry_ != nullptr) {
        text = prometheus::TextSerializer().Serialize(server_->registry_->Collect());
      } else {
        return SendApiError(MakeApiError(404, "No metrics are exported.", "", "unknown_url"),
                            route.label, false);
      }
      return SendSimple(200, "text/plain; version=0.0.4; charset=utf-8", std::move(text),
                        route.label, {}, false);
    }
    case Route::kUnknown:
      break;
  }
}

void Session::StartJob(ApiKind kind, std::string body) {
  job_active_ = true;
  const absl::Time received = absl::Now();
  auto self = shared_from_this();
  const bool scheduled =
      server_->jobs_->TrySchedule([self, kind, body = std::move(body), received]() {
        GenerationResult r =
            RunGeneration(self->server_->gen_ctx_, kind, body, received, self.get());
        net::post(self->stream_.get_executor(), [self, r] { self->OnJobDone(r); });
      });
  if (!scheduled) {
    job_active_ = false;
    server_->metrics_->Rejected("stream_limit");
    SendApiError(
        MakeApiError(503, "Too many requests in flight; retry later.", "", "too_many_requests"),
        route_, true, {{bhttp::field::retry_after, std::to_string(opts_.retry_after_s)}});
  }
}

void Session::OnJobDone(GenerationResult r) {
  job_active_ = false;
  if (r.connection_ok && response_keep_alive_ && !server_->stopping_.load()) return DoRead();
  Close();
}

// ---- writing (strand) ------------------------------------------------------------------------

void Session::SendSimple(int status, absl::string_view content_type, std::string body,
                         const char* route, const Headers& extra, bool close) {
  server_->metrics_->RequestDone(route, status);
  const bool keep = !close && ResponseKeepAlive();
  auto res = MakeResponse(status, version_, keep, content_type, std::move(body), extra);
  stream_.expires_after(absl::ToChronoMilliseconds(opts_.write_timeout));
  bhttp::async_write(stream_, *res, [self = shared_from_this(), res, keep](error_code ec, size_t) {
    self->stream_.expires_never();
    if (ec || !keep || self->server_->stopping_.load()) return self->Close();
    self->DoRead();
  });
}

void Session::SendApiError(const ApiError& e, const char* route, bool close, const Headers& extra) {
  SendSimple(e.http_status, "application/json", e.Json(), route, extra, close);
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec || !stream_.socket().is_open()) {
    fd_.store(-1);
    stream_.socket().close(ec);
    return;
  }
  // Read what the client still sends (e.g. the rest of an oversized body) before closing, so
  // that it sees our response instead of a reset.
  stream_.expires_after(server_->stopping_.load() ? std::chrono::milliseconds(100)
                                                  : std::chrono::milliseconds(1000));
  DoDrain();
}

void Session::DoDrain() {
  stream_.async_read_some(net::buffer(drain_buf_),
                          [self = shared_from_this()](error_code ec, size_t n) {
                            self->drained_ += n;
                            if (!ec && self->drained_ < kMaxDrainBytes) return self->DoDrain();
                            self->fd_.store(-1);
                            error_code ignored;
                            self->stream_.socket().close(ignored);
                          });
}

// ---- ResponseSink (job thread) ---------------------------------------------------------------

bool Session::Await(std::function<void(std::function<void(bool)>)> op) {
  auto waiter = std::make_shared<Waiter>();
  net::post(stream_.get_executor(), [self = shared_from_this(), waiter, op = std::move(op)] {
    if (!self->stream_.socket().is_open()) return waiter->Set(false);
    op([waiter](bool ok) { waiter->Set(ok); });
  });
  const absl::Time give_up = absl::Now() + opts_.write_timeout + absl::Seconds(5);
  std::unique_lock<std::mutex> lock(waiter->mu);
  while (!waiter->done) {
    if (server_->io_stopped_.load() || absl::Now() > give_up) return false;
    waiter->cv.wait_for(lock, std::chrono::milliseconds(100));
  }
  return waiter->ok;
}

std::function<void(error_code, size_t)> Session::WriteDone(std::function<void(bool)> done) {
  return [self = shared_from_this(), done = std::move(done)](error_code ec, size_t) {
    self->stream_.expires_never();
    if (ec) self->fd_.store(-1);
    done(!ec);
  };
}

bool Session::SendJson(int http_status, const std::string& body, int retry_after_s) {
  Headers extra;
  if (retry_after_s > 0)
    extra.emplace_back(bhttp::field::retry_after, std::to_string(retry_after_s));
  return Await([this, http_status, body, extra](std::function<void(bool)> done) {
    response_keep_alive_ = ResponseKeepAlive();
    auto res =
        MakeResponse(http_status, version_, response_keep_alive_, "application/json", body, extra);
    stream_.expires_after(absl::ToChronoMilliseconds(opts_.write_timeout));
    auto finish = WriteDone(std::move(done));
    bhttp::async_write(stream_, *res, [res, finish](error_code ec, size_t n) { finish(ec, n); });
  });
}

bool Session::StartEvents(const std::string& request_id) {
  return Await([this, request_id](std::function<void(bool)> done) {
    auto res = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::ok, version_);
    res->set(bhttp::field::server, kServerName);
    res->set(bhttp::field::content_type, "text/event-stream; charset=utf-8");
    res->set(bhttp::field::cache_control, "no-cache");
    res->set("X-Accel-Buffering", "no");
    res->set("X-Request-Id", request_id);
    chunked_ = version_ >= 11;
    response_keep_alive_ = chunked_ && ResponseKeepAlive();
    res->keep_alive(response_keep_alive_);
    if (chunked_) res->chunked(true);
    auto sr = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(*res);
    stream_.expires_after(absl::ToChronoMilliseconds(opts_.write_timeout));
    auto finish = WriteDone(std::move(done));
    bhttp::async_write_header(stream_, *sr,
                              [res, sr, finish](error_code ec, size_t n) { finish(ec, n); });
  });
}

bool Session::SendEvents(const std::string& events) {
  auto data = std::make_shared<std::string>(events);
  return Await([this, data](std::function<void(bool)> done) {
    stream_.expires_after(absl::ToChronoMilliseconds(opts_.write_timeout));
    auto finish = WriteDone(std::move(done));
    auto handler = [data, finish](error_code ec, size_t n) { finish(ec, n); };
    if (chunked_) {
      net::async_write(stream_, bhttp::make_chunk(net::buffer(*data)), handler);
    } else {
      net::async_write(stream_, net::buffer(*data), handler);
    }
  });
}

bool Session::EndEvents() {
  return Await([this](std::function<void(bool)> done) {
    if (!chunked_) return done(true);
    stream_.expires_after(absl::ToChronoMilliseconds(opts_.write_timeout));
    net::async_write(stream_, bhttp::make_chunk_last(), WriteDone(std::move(done)));
  });
}

bool Session::ClientGone() {
  const int fd = fd_.load();
  if (fd < 0) return true;
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;  // orderly close
  if (n < 0) return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  return false;  // bytes waiting (a pipelined request): still connected
}

// ---- server ----------------------------------------------------------------------------------

ServerCore::~ServerCore() {
  Stop();
  acceptor_.reset();
  ioc_.reset();  // destroys pending handlers (and the sessions they own) while members live
}

absl::StatusOr<int> ServerCore::Start() {
  if (started_) return absl::FailedPreconditionError("OpenAiHttpServer: already started");
  const auto& o = options_;
  if (tokenizer_ == nullptr || generator_ == nullptr) {
    return absl::InvalidArgumentError("OpenAiHttpServer: tokenizer and generator are required");
  }
  if (o.io_threads < 1 || o.io_threads > 256 || o.max_connections < 1 || o.port < 0 ||
      o.port > 65535 || o.max_body_bytes == 0 || o.max_header_bytes < 1024 ||
      o.read_timeout <= absl::ZeroDuration() || o.idle_timeout <= absl::ZeroDuration() ||
      o.write_timeout <= absl::ZeroDuration() || o.request_timeout <= absl::ZeroDuration() ||
      o.poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("OpenAiHttpServer: invalid options");
  }
  for (const std::string& k : o.api_keys) {
    if (k.empty()) return absl::InvalidArgumentError("OpenAiHttpServer: empty API key");
  }
  ASSIGN_OR_RETURN(metrics_, HttpMetrics::Create(registry_));
  ASSIGN_OR_RETURN(prompts_, PromptBuilder::Create(tokenizer_, o.eos_token));
  keys_ = ApiKeySet(o.api_keys);
  gen_ctx_.env.tokenizer = tokenizer_;
  gen_ctx_.env.generator = generator_;
  gen_ctx_.env.prompts = prompts_.get();
  gen_ctx_.env.metrics = metrics_.get();
  gen_ctx_.env.skip_ids = detok::SpecialIdsExceptThink(*tokenizer_);
  gen_ctx_.request_timeout = o.request_timeout;
  gen_ctx_.poll_interval = o.poll_interval;
  gen_ctx_.retry_after_s = o.retry_after_s;
  gen_ctx_.abort = &abort_;

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
  jobs_ = std::make_unique<ElasticThreadPool>(static_cast<size_t>(o.max_connections));
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
  log::Info({}, "http: OpenAI API listening on {}:{} (io_threads={} max_connections={} auth={})",
            o.address, port_, o.io_threads, o.max_connections, keys_.empty() ? "off" : "on");
  return port_;
}

void ServerCore::DoAccept() {
  acceptor_->async_accept(net::make_strand(*ioc_),
                          beast::bind_front_handler(&ServerCore::OnAccept, this));
}

void ServerCore::OnAccept(error_code ec, tcp::socket socket) {
  if (stopping_.load() || !acceptor_->is_open()) return;
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
  size_t open;
  {
    absl::MutexLock lock(&mu_);
    open = sessions_.size();
  }
  if (open >= static_cast<size_t>(options_.max_connections)) {
    metrics_->Rejected("connection_limit");
    if (rejecting_.load() < kMaxRejecting) {
      ++rejecting_;
      auto s = std::make_shared<Session>(this, std::move(socket));
      s->StartRejected();
    } else {
      error_code ignored;
      socket.close(ignored);
    }
  } else {
    auto s = std::make_shared<Session>(this, std::move(socket));
    {
      absl::MutexLock lock(&mu_);
      sessions_.emplace(s.get(), s);
    }
    s->Start();
  }
  DoAccept();
}

void ServerCore::Unregister(Session* s) {
  absl::MutexLock lock(&mu_);
  if (sessions_.erase(s) == 0) {
    --rejecting_;  // a rejected connection was never registered
  }
}

void ServerCore::ForEachSession(const std::function<void(const std::shared_ptr<Session>&)>& fn) {
  std::vector<std::shared_ptr<Session>> live;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [ptr, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
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
    if (!WaitSessions(options_.poll_interval * 4 + absl::Seconds(1))) {
      ForEachSession([](const std::shared_ptr<Session>& s) { s->PostServerStop(true); });
      WaitSessions(absl::Seconds(2));
    }
  }
  work_.reset();
  ioc_->stop();
  io_stopped_.store(true);
  for (std::thread& t : io_threads_) t.join();
  io_threads_.clear();
  jobs_->Shutdown();
  log::Info({}, "http: stopped");
}

}  // namespace

// ---- public ----------------------------------------------------------------------------------

class OpenAiHttpServer::Impl : public ServerCore {
 public:
  using ServerCore::ServerCore;
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
