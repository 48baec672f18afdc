// How a connection (Session, http_session.h) drives its generation request without a thread of
// its own: the job is started on the server's request threads, then pumped from the connection's
// strand whenever the generator says tokens arrived, a write finished, the deadline passed or the
// server aborts; meanwhile the client's socket is watched for a close.
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <utility>

#include "coordinator/http/http_session.h"

namespace r1::http::internal {
namespace {

namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// The events one write carries at most; more wait for the next pump (after the write).
constexpr size_t kMaxEventBytes = 64 << 10;

enum class Peer { kConnected, kGone, kUnknown };

// Whether the peer of `fd` has closed or reset its connection (its bytes stay unread).
Peer PeerState(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return Peer::kGone;  // orderly close
  if (n > 0) return Peer::kConnected;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Peer::kUnknown;
  return Peer::kGone;
}

}  // namespace

void Session::StartJob(api::ApiKind kind, std::string body) {
  job_active_ = true;
  const absl::Time received = absl::Now();
  // Parsing, the prompt's tokenization and Submit are CPU work: off the I/O threads.
  net::post(*server_->request_pool_, [self = shared_from_this(), kind, body = std::move(body),
                                      received] {
    auto job = std::make_shared<std::unique_ptr<GenerationJob>>(
        GenerationJob::Start(&self->server_->gen_ctx_, kind, body, received));
    net::post(self->stream_.get_executor(), [self, job] { self->OnJobStarted(std::move(*job)); });
  });
}

void Session::OnJobStarted(std::unique_ptr<GenerationJob> job) {
  job_ = std::move(job);
  if (server_->abort_.load()) job_->Abort();
  if (!job_->streaming() && job_->done()) return WriteJobResponse();  // refused
  WatchClient();
  if (job_->deadline() != absl::InfiniteFuture()) {
    const absl::Duration left = std::max(job_->deadline() - absl::Now(), absl::ZeroDuration());
    deadline_timer_.expires_after(absl::ToChronoNanoseconds(left));
    deadline_timer_.async_wait([self = shared_from_this(), serial = job_serial_](error_code ec) {
      if (!ec && serial == self->job_serial_) self->Pump();
    });
  }
  job_->SetNotify(MakeNotify());
  if (job_->streaming()) return WriteEventsHeader();
  Pump();
}

std::function<void()> Session::MakeNotify() {
  // Called under a generator handle's lock, on any thread: only posts. The flag coalesces a burst
  // of arrivals into one pending pump; the pump clears it before it polls, so nothing is missed.
  auto pending = std::make_shared<std::atomic<bool>>(false);
  std::weak_ptr<Session> weak = weak_from_this();
  auto executor = stream_.get_executor();
  const uint64_t serial = job_serial_;
  return [pending, weak, executor, serial] {
    if (pending->exchange(true)) return;
    net::post(executor, [pending, weak, serial] {
      pending->store(false);
      std::shared_ptr<Session> self = weak.lock();
      if (self != nullptr && self->job_serial_ == serial) self->Pump();
    });
  };
}

void Session::Pump() {
  if (job_ == nullptr || writing_) return;  // a finished write pumps again
  std::string events = job_->Poll(kMaxEventBytes);
  if (!events.empty()) return WriteEvents(std::move(events));
  if (job_->done()) {
    if (job_->http_status() == 499) return OnJobDone(false);
    return job_->streaming() ? EndEvents() : WriteJobResponse();
  }
  if (job_->more()) {
    net::post(stream_.get_executor(), [self = shared_from_this(), serial = job_serial_] {
      if (serial == self->job_serial_) self->Pump();
    });
  }
}

std::function<void(error_code, size_t)> Session::JobWriteDone(std::function<void(bool)> then) {
  writing_ = true;
  stream_.expires_after(absl::ToChronoMilliseconds(opts_.write_timeout));
  return [self = shared_from_this(), serial = job_serial_, then = std::move(then)](error_code ec,
                                                                                   size_t) {
    if (serial != self->job_serial_) return;
    self->writing_ = false;
    self->stream_.expires_never();
    then(!ec);
  };
}

void Session::WriteEventsHeader() {
  auto res = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::ok, version_);
  res->set(bhttp::field::server, kServerName);
  res->set(bhttp::field::content_type, "text/event-stream; charset=utf-8");
  res->set(bhttp::field::cache_control, "no-cache");
  res->set("X-Accel-Buffering", "no");
  res->set("X-Request-Id", job_->request_id());
  chunked_ = version_ >= 11;
  response_keep_alive_ = chunked_ && ResponseKeepAlive();
  res->keep_alive(response_keep_alive_);
  if (chunked_) res->chunked(true);
  auto sr = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(*res);
  auto done = JobWriteDone([this](bool ok) { ok ? Pump() : OnClientGone(); });
  bhttp::async_write_header(stream_, *sr,
                            [res, sr, done](error_code ec, size_t n) { done(ec, n); });
}

void Session::WriteEvents(std::string events) {
  auto data = std::make_shared<std::string>(std::move(events));
  auto done = JobWriteDone([this](bool ok) { ok ? Pump() : OnClientGone(); });
  auto handler = [data, done](error_code ec, size_t n) { done(ec, n); };
  if (chunked_) {
    net::async_write(stream_, bhttp::make_chunk(net::buffer(*data)), handler);
  } else {
    net::async_write(stream_, net::buffer(*data), handler);
  }
}

void Session::EndEvents() {
  if (!chunked_) return OnJobDone(true);  // HTTP/1.0: the close ends the stream
  net::async_write(stream_, bhttp::make_chunk_last(),
                   JobWriteDone([this](bool ok) { OnJobDone(ok); }));
}

void Session::WriteJobResponse() {
  const JsonResponse& r = job_->response();
  Headers extra;
  if (r.retry_after_s > 0) {
    extra.emplace_back(bhttp::field::retry_after, std::to_string(r.retry_after_s));
  }
  response_keep_alive_ = ResponseKeepAlive();
  auto res = MakeResponse(r.http_status, version_, response_keep_alive_, "application/json", r.body,
                          extra);
  auto done = JobWriteDone([this](bool ok) { OnJobDone(ok); });
  bhttp::async_write(stream_, *res, [res, done](error_code ec, size_t n) { done(ec, n); });
}

void Session::WatchClient() {
  // Readable while a response is being generated: the client closed or reset its connection, or
  // it sent its next request early (pipelining) — then failed writes notice a later close.
  stream_.socket().async_wait(tcp::socket::wait_read,
                              [self = shared_from_this(), serial = job_serial_](error_code ec) {
                                if (ec || serial != self->job_serial_) return;
                                switch (PeerState(self->stream_.socket().native_handle())) {
                                  case Peer::kGone:
                                    return self->OnClientGone();
                                  case Peer::kUnknown:
                                    return self->WatchClient();
                                  case Peer::kConnected:
                                    return;
                                }
                              });
}

void Session::OnClientGone() {
  if (job_ == nullptr) return;
  job_->ClientGone();
  OnJobDone(false);
}

void Session::OnJobDone(bool connection_ok) {
  job_.reset();  // cancels what still runs; its callbacks stop before this returns
  ++job_serial_;
  writing_ = false;
  job_active_ = false;
  error_code ec;
  deadline_timer_.cancel();
  stream_.socket().cancel(ec);  // the client watch (and a write cut short)
  stream_.expires_never();
  if (connection_ok && response_keep_alive_ && !server_->stopping_.load()) return DoRead();
  Close();
}

}  // namespace r1::http::internal
