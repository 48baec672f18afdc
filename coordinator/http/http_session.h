// Session: one client connection of the OpenAI HTTP server — reading requests (bounded header and
// body, one read deadline for a whole request), routing, authentication, the simple routes
// (http_session.cc), and driving its generation requests (session_generation.cc). Internal to
// coordinator/http.
//
// Reading: the first request must arrive whole within read_timeout of the connection's start; on
// a kept-alive connection the next request's first byte may take idle_timeout, then the whole
// request read_timeout. A Content-Length over max_body_bytes is answered 413 right after the
// header, before any of the body is read. Closing after a response (an error, Connection: close,
// the server stopping) stops writing, then reads and discards what the client still sends for at
// most linger_timeout / linger_max_bytes, so that a client writing a large body before it reads
// gets the response rather than a reset.
//
// Generation requests hold no thread: the job (generation_job.h) is started on the server's
// request threads (parsing, prompt, Submit), then driven from the strand — the generator's
// readiness callback posts a "pump" (coalesced: at most one pending), which polls the job and
// writes what it returns; a new poll waits for the previous write (backpressure: a client that
// does not read holds only its own tokens, and a write that takes write_timeout closes the
// connection). While a job runs, an async wait for readability on the socket notices a client
// that closes or resets (a disconnect cancels the generation at once), and a timer fires at the
// request's deadline.
//
// Ownership: shared — the io_context's pending handlers hold references; ServerCore keeps a weak
// one; the generator's callback holds only a weak one. Thread-safety: every member is touched only
// on the connection's strand.
#ifndef R1_COORDINATOR_HTTP_HTTP_SESSION_H_
#define R1_COORDINATOR_HTTP_HTTP_SESSION_H_

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/string_view.h"
#include "coordinator/api/openai_request.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/generation_job.h"
#include "coordinator/http/server_core.h"

namespace r1::http::internal {

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Headers = std::vector<std::pair<boost::beast::http::field, std::string>>;

  // `server`: borrowed, outlives every session.
  Session(ServerCore* server, boost::asio::ip::tcp::socket&& socket);
  ~Session();

  // Starts reading the first request (on the strand).
  void Start();
  // Stop(): idle connections close; with `hard`, in-flight ones are cut too.
  void PostServerStop(bool hard);
  // Stop() after the drain timeout: a running generation ends now (server_shutting_down).
  void PostAbort();

 private:
  using error_code = boost::system::error_code;

  void DoRead();
  void ReadHeader();
  void OnHeader(error_code ec, size_t);
  void ReadBody();
  void OnRead(error_code ec, size_t);
  void OnReadError(error_code ec);
  void HandleRequest(boost::beast::http::request<boost::beast::http::string_body> req);
  void SendSimple(int status, absl::string_view content_type, std::string body, const char* route,
                  const Headers& extra, bool close);
  void SendApiError(const ApiError& e, const char* route, bool close, const Headers& extra = {});
  void Close();
  void DoDrain();
  bool ResponseKeepAlive() const { return keep_alive_ && !server_->stopping_.load(); }
  Headers RetryAfter() const;

  // The generation job (strand, after StartJob).
  void StartJob(api::ApiKind kind, std::string body);
  void OnJobStarted(std::unique_ptr<GenerationJob> job);
  // Calls Pump on the strand (at most one such call pending).
  std::function<void()> MakeNotify();
  void Pump();
  void WriteEventsHeader();
  void WriteEvents(std::string events);
  void WriteJobResponse();
  void EndEvents();
  void WatchClient();
  // Called when a write failed or the peer closed: the job counts 499 and the connection closes.
  void OnClientGone();
  void OnJobDone(bool connection_ok);
  // A write's completion handler for the current job: runs `then(ok)` unless the job changed.
  std::function<void(error_code, size_t)> JobWriteDone(std::function<void(bool)> then);

  ServerCore* server_;
  const OpenAiHttpServerOptions& opts_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::chrono::steady_clock::time_point read_deadline_;  // of the request being read
  bool first_request_ = true;
  bool reading_ = false;
  bool job_active_ = false;  // from StartJob to OnJobDone
  bool closed_ = false;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool response_keep_alive_ = false;  // of the job's response
  bool chunked_ = false;              // the job's event stream uses chunked encoding
  const char* route_ = "other";
  size_t drained_ = 0;
  std::unique_ptr<std::array<char, 65536>> drain_buffer_;  // while lingering

  std::unique_ptr<GenerationJob> job_;
  uint64_t job_serial_ = 0;  // changes when a job ends: later completions of its handlers are stale
  bool writing_ = false;     // a write of the job is in flight
  boost::asio::steady_timer deadline_timer_;
};

inline constexpr char kServerName[] = "r1serve";

// A whole response (Server, Content-Type, Connection and `extra` headers; Content-Length).
std::shared_ptr<boost::beast::http::response<boost::beast::http::string_body>> MakeResponse(
    int status, unsigned version, bool keep_alive, absl::string_view content_type, std::string body,
    const Session::Headers& extra = {});

}  // namespace r1::http::internal

#endif  // R1_COORDINATOR_HTTP_HTTP_SESSION_H_
