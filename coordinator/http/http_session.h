// Session: one client connection of the OpenAI HTTP server — reading requests (bounded header and
// body, one read deadline for a whole request), routing, authentication, the simple routes, and
// the writes a generation job makes through ResponseSink. Internal to coordinator/http.
//
// Reading: the first request must arrive whole within read_timeout of the connection's start; on
// a kept-alive connection the next request's first byte may take idle_timeout, then the whole
// request read_timeout. A Content-Length over max_body_bytes is answered 413 right after the
// header, before any of the body is read. Closing after a response (an error, Connection: close,
// the server stopping) stops writing, then reads and discards what the client still sends for at
// most linger_timeout / linger_max_bytes, so that a client writing a large body before it reads
// gets the response rather than a reset.
//
// Ownership: shared — the io_context's pending handlers and a running generation job hold
// references; ServerCore keeps a weak one. Thread-safety: every member is touched only on the
// connection's strand, except `fd_` (atomic, for ClientGone); the ResponseSink calls come from the
// job's thread and post their work to the strand, then wait for it.
#ifndef R1_COORDINATOR_HTTP_HTTP_SESSION_H_
#define R1_COORDINATOR_HTTP_HTTP_SESSION_H_

#include <array>
#include <atomic>
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
#include "coordinator/http/api_error.h"
#include "coordinator/http/generation_job.h"
#include "coordinator/http/server_core.h"

namespace r1::http::internal {

class Session : public std::enable_shared_from_this<Session>, public ResponseSink {
 public:
  using Headers = std::vector<std::pair<boost::beast::http::field, std::string>>;

  // `server`: borrowed, outlives every session.
  Session(ServerCore* server, boost::asio::ip::tcp::socket&& socket);
  ~Session() override;

  // Starts reading the first request (on the strand).
  void Start();
  // Stop(): idle connections close; with `hard`, in-flight ones are cut too.
  void PostServerStop(bool hard);

  // ResponseSink (job thread).
  bool SendJson(int http_status, const std::string& body, int retry_after_s) override;
  bool StartEvents(const std::string& request_id) override;
  bool SendEvents(const std::string& events) override;
  bool EndEvents() override;
  bool ClientGone() override;

 private:
  using error_code = boost::system::error_code;

  void DoRead();
  void ReadHeader();
  void OnHeader(error_code ec, size_t);
  void ReadBody();
  void OnRead(error_code ec, size_t);
  void OnReadError(error_code ec);
  void HandleRequest(boost::beast::http::request<boost::beast::http::string_body> req);
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
  Headers RetryAfter() const;

  ServerCore* server_;
  const OpenAiHttpServerOptions& opts_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::atomic<int> fd_{-1};                              // for ClientGone; -1 once a write failed
  std::chrono::steady_clock::time_point read_deadline_;  // of the request being read
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
  std::unique_ptr<std::array<char, 65536>> drain_buffer_;  // while lingering
};

}  // namespace r1::http::internal

#endif  // R1_COORDINATOR_HTTP_HTTP_SESSION_H_
