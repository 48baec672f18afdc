#include "coordinator/http/connection_rejector.h"

#include <sys/socket.h>

#include <array>
#include <utility>

#include <boost/beast/http/status.hpp>

#include "absl/strings/str_cat.h"

namespace r1::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// One rejected connection: write, shut down sending, read and discard until the client closes
// or the limits run out, close. Every handler runs on the socket's executor.
class RejectedConnection : public std::enable_shared_from_this<RejectedConnection> {
 public:
  RejectedConnection(tcp::socket socket, std::shared_ptr<const std::string> response,
                     std::shared_ptr<std::atomic<int>> lingering, size_t max_bytes)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        response_(std::move(response)),
        lingering_(std::move(lingering)),
        max_bytes_(max_bytes) {}
  ~RejectedConnection() { --*lingering_; }

  void Start(absl::Duration linger) {
    timer_.expires_after(absl::ToChronoMilliseconds(linger));
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->Finish();
    });
    net::async_write(socket_, net::buffer(*response_),
                     [self = shared_from_this()](error_code ec, size_t) {
                       if (ec) return self->Finish();
                       error_code ignored;
                       self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                       self->Discard();
                     });
  }

 private:
  void Discard() {
    socket_.async_read_some(net::buffer(buffer_),
                            [self = shared_from_this()](error_code ec, size_t n) {
                              self->discarded_ += n;
                              if (!ec && self->discarded_ < self->max_bytes_) {
                                return self->Discard();
                              }
                              self->Finish();
                            });
  }
  void Finish() {
    error_code ignored;
    timer_.cancel(ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  std::shared_ptr<const std::string> response_;
  std::shared_ptr<std::atomic<int>> lingering_;
  size_t max_bytes_;
  size_t discarded_ = 0;
  std::array<char, 16384> buffer_{};
};

}  // namespace

ConnectionRejector::ConnectionRejector(ConnectionRejectorOptions options)
    : options_(std::move(options)) {}

void ConnectionRejector::Reject(tcp::socket socket, std::shared_ptr<const std::string> response) {
  if (lingering_->fetch_add(1) < static_cast<int>(options_.max_lingering)) {
    auto c = std::make_shared<RejectedConnection>(std::move(socket), std::move(response),
                                                  lingering_, options_.linger_max_bytes);
    c->Start(options_.linger_timeout);
    return;
  }
  --*lingering_;
  // Past the cap: a fresh socket's send buffer takes the few hundred bytes at once.
  const int fd = socket.native_handle();
  [[maybe_unused]] const ssize_t sent =
      ::send(fd, response->data(), response->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

std::string CloseResponse(int http_status, absl::string_view json_body, int retry_after_s) {
  const auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(http_status));
  return absl::StrCat(
      "HTTP/1.1 ", http_status, " ", absl::string_view(reason.data(), reason.size()),
      "\r\nServer: r1serve\r\nContent-Type: application/json\r\n",
      retry_after_s > 0 ? absl::StrCat("Retry-After: ", retry_after_s, "\r\n") : "",
      "Connection: close\r\nContent-Length: ", json_body.size(), "\r\n\r\n", json_body);
}

}  // namespace r1::http
