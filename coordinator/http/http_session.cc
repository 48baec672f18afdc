#include "coordinator/http/http_session.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/version.h"
#include "coordinator/http/openai_response.h"
#include "prometheus/text_serializer.h"

namespace r1::http::internal {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using Response = bhttp::response<bhttp::string_body>;
using Headers = Session::Headers;

constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
// A kept-alive connection's wait for the next request reads at most this much before parsing.
constexpr size_t kFirstReadBytes = 4096;

absl::string_view Sv(beast::string_view s) { return absl::string_view(s.data(), s.size()); }

enum class Route {
  kChat,
  kCompletions,
  kModels,
  kModel,
  kLive,
  kReady,
  kHealth,
  kVersion,
  kMetrics,
  kUnknown
};

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
  if (path == "/health") return {Route::kHealth, "/health", bhttp::verb::get};
  if (path == "/version") return {Route::kVersion, "/version", bhttp::verb::get};
  if (path == "/metrics") return {Route::kMetrics, "/metrics", bhttp::verb::get};
  return {Route::kUnknown, "other", bhttp::verb::unknown};
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

}  // namespace

std::shared_ptr<Response> MakeResponse(int status, unsigned version, bool keep_alive,
                                       absl::string_view content_type, std::string body,
                                       const Headers& extra) {
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

// ---- lifetime --------------------------------------------------------------------------------

Session::Session(ServerCore* server, tcp::socket&& socket)
    : server_(server),
      opts_(server->options_),
      stream_(std::move(socket)),
      deadline_timer_(stream_.get_executor()) {}

Session::~Session() { server_->Unregister(this); }

void Session::Start() {
  net::dispatch(stream_.get_executor(),
                beast::bind_front_handler(&Session::DoRead, shared_from_this()));
}

void Session::PostServerStop(bool hard) {
  net::post(stream_.get_executor(), [self = shared_from_this(), hard] {
    if (self->closed_) return;
    error_code ec;
    if (hard) self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    if (!self->job_active_ && (self->reading_ || hard)) self->stream_.cancel();
  });
}

void Session::PostAbort() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->job_ == nullptr) return;  // none, or still starting (OnJobStarted checks abort_)
    self->job_->Abort();
    self->Pump();
  });
}

Headers Session::RetryAfter() const {
  return {{bhttp::field::retry_after, std::to_string(opts_.retry_after_s)}};
}

// ---- reading ---------------------------------------------------------------------------------

void Session::DoRead() {
  if (server_->stopping_.load()) return Close();
  reading_ = true;
  parser_.reset();
  if (first_request_ || buffer_.size() > 0) return ReadHeader();
  // Kept alive: wait for the next request's first bytes, then give it read_timeout whole.
  stream_.expires_after(absl::ToChronoMilliseconds(opts_.idle_timeout));
  stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          [self = shared_from_this()](error_code ec, size_t n) {
                            self->buffer_.commit(n);
                            if (ec) return self->OnReadError(ec);
                            self->ReadHeader();
                          });
}

void Session::ReadHeader() {
  parser_.emplace();
  parser_->body_limit(opts_.max_body_bytes);
  parser_->header_limit(static_cast<std::uint32_t>(opts_.max_header_bytes));
  // One deadline for the whole request (header and body): a slow or silent client holds its
  // connection for at most read_timeout.
  read_deadline_ = std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       absl::ToChronoNanoseconds(opts_.read_timeout));
  stream_.expires_at(read_deadline_);
  // A Content-Length over body_limit fails here (bhttp::error::body_limit), before the body.
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
  stream_.expires_at(read_deadline_);
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
    server_->metrics_->Rejected("header_too_large");
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
        /*close=*/true, RetryAfter());
  }
  if (route.route != Route::kLive && route.route != Route::kReady &&
      route.route != Route::kHealth && route.route != Route::kVersion && !server_->keys_.empty() &&
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
      return StartJob(route.route == Route::kChat ? api::ApiKind::kChat : api::ApiKind::kCompletion,
                      std::move(req.body()));
    }
    case Route::kLive:
      return SendSimple(200, "application/json", R"({"status":"ok"})", route.label, {}, false);
    case Route::kVersion:
      return SendSimple(200, "application/json", DumpJson({{"version", kVersion}}), route.label, {},
                        false);
    case Route::kHealth:  // for load balancers: as /ready
    case Route::kReady:
      if (server_->generator_->Ready()) {
        return SendSimple(200, "application/json", R"({"status":"ready"})", route.label, {}, false);
      }
      return SendApiError(MakeApiError(503, "No engine group can serve yet.", "", "not_ready"),
                          route.label, false, RetryAfter());
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
  const absl::Duration linger = server_->stopping_.load()
                                    ? std::min(opts_.linger_timeout, absl::Milliseconds(100))
                                    : opts_.linger_timeout;
  if (ec || !stream_.socket().is_open() || linger <= absl::ZeroDuration() ||
      opts_.linger_max_bytes == 0) {
    stream_.socket().close(ec);
    return;
  }
  // Read and discard what the client still sends (e.g. the rest of an oversized body, which it
  // may write whole before reading) until it closes, so that it reads our response instead of a
  // reset; bounded in time and bytes.
  stream_.expires_after(absl::ToChronoMilliseconds(linger));
  drain_buffer_ = std::make_unique<std::array<char, 65536>>();
  DoDrain();
}

void Session::DoDrain() {
  stream_.async_read_some(net::buffer(*drain_buffer_),
                          [self = shared_from_this()](error_code ec, size_t n) {
                            self->drained_ += n;
                            if (!ec && self->drained_ < self->opts_.linger_max_bytes) {
                              return self->DoDrain();
                            }
                            error_code ignored;
                            self->stream_.socket().close(ignored);
                          });
}

}  // namespace r1::http::internal
