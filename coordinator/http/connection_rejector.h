// ConnectionRejector: answers the connections the HTTP server will not serve (over
// max_connections, over a client's share, shutting down) with one prebuilt response and closes
// them politely — cheaply, so that a flood of connections is answered rather than dropped.
//
// Each rejected connection costs a socket, a timer and a 16 KiB buffer for at most
// `linger_timeout`: the response is written (it fits the socket's send buffer, so this does not
// wait for the client), the sending side is shut down, and what the client still sends (its
// request) is read and discarded until it closes, `linger_max_bytes` were read, or the time is
// up. Reading until the client's close is what lets a client that writes its whole request
// before reading see the response instead of a connection reset.
//
// At most `max_lingering` connections linger at once; beyond that a rejection writes the
// response without waiting, shuts down sending and closes at once (a client still sending may
// then see a reset, but never a connection closed without an answer when its request was
// already read).
//
//   ConnectionRejector rejector({.max_lingering = 4096, .linger_timeout = absl::Seconds(2)});
//   rejector.Reject(std::move(socket), response);   // on the socket's executor
//
// Thread-safe (the count of lingering connections is atomic; each connection lives on its
// socket's executor). Connections in progress own themselves and the shared count, so they may
// outlive the rejector; they end with their io_context.
#ifndef R1_COORDINATOR_HTTP_CONNECTION_REJECTOR_H_
#define R1_COORDINATOR_HTTP_CONNECTION_REJECTOR_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>  // before Asio: Boost 1.74 uses std::exchange without it

#include <boost/asio.hpp>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace r1::http {

struct ConnectionRejectorOptions {
  size_t max_lingering = 4096;
  absl::Duration linger_timeout = absl::Seconds(2);
  size_t linger_max_bytes = 1u << 20;
};

class ConnectionRejector {
 public:
  explicit ConnectionRejector(ConnectionRejectorOptions options);

  // Writes `response` (a complete HTTP response that says Connection: close) and closes the
  // connection as described above.
  void Reject(boost::asio::ip::tcp::socket socket, std::shared_ptr<const std::string> response);

  // Connections now lingering.
  int lingering() const { return lingering_->load(); }

 private:
  ConnectionRejectorOptions options_;
  std::shared_ptr<std::atomic<int>> lingering_ = std::make_shared<std::atomic<int>>(0);
};

// A complete HTTP/1.1 response with a JSON body, `Connection: close` and, when
// retry_after_s > 0, `Retry-After`.
std::string CloseResponse(int http_status, absl::string_view json_body, int retry_after_s);

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_CONNECTION_REJECTOR_H_
