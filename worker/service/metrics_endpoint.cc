#include "worker/service/metrics_endpoint.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace r1 {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::uint32_t kMaxHeaderBytes = 8 << 10;
constexpr std::chrono::seconds kTimeout(10);
constexpr int kMaxConnections = 64;

// One connection: read one request, answer, close. Lives on the endpoint's single thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket&& socket, std::shared_ptr<prometheus::Registry> registry,
             std::atomic<int>* open)
      : stream_(std::move(socket)), registry_(std::move(registry)), open_(open) {}
  ~Connection() { open_->fetch_sub(1); }

  void Start() {
    parser_.header_limit(kMaxHeaderBytes);
    parser_.body_limit(0);
    stream_.expires_after(kTimeout);
    bhttp::async_read(stream_, buffer_, parser_,
                      [self = shared_from_this()](error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(error_code ec) {
    if (ec == bhttp::error::body_limit) return Answer(bhttp::status::payload_too_large, "", false);
    if (ec) return;  // timed out or malformed: nothing useful to say, close
    const auto& req = parser_.get();
    const bool head = req.method() == bhttp::verb::head;
    if (req.method() != bhttp::verb::get && !head) {
      return Answer(bhttp::status::method_not_allowed, "GET /metrics\n", head);
    }
    beast::string_view target = req.target();
    const auto query = target.find('?');
    if (query != beast::string_view::npos) target = target.substr(0, query);
    if (target != "/metrics") return Answer(bhttp::status::not_found, "GET /metrics\n", head);
    Answer(bhttp::status::ok, prometheus::TextSerializer().Serialize(registry_->Collect()), head);
  }

  void Answer(bhttp::status status, std::string body, bool head) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(status, 11);
    res->set(bhttp::field::content_type, status == bhttp::status::ok
                                             ? "text/plain; version=0.0.4; charset=utf-8"
                                             : "text/plain; charset=utf-8");
    res->keep_alive(false);
    res->body() = std::move(body);
    res->prepare_payload();
    if (head) res->body().clear();  // Content-Length stays that of the GET answer
    stream_.expires_after(kTimeout);
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res](error_code, size_t) {
      error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bhttp::request_parser<bhttp::empty_body> parser_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::atomic<int>* open_;
};

}  // namespace

struct MetricsEndpoint::Impl {
  // Before ioc: pending handlers, destroyed with ioc, hold connections that count in `open`.
  std::shared_ptr<prometheus::Registry> registry;
  std::atomic<int> open{0};
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  int port = 0;

  void Accept() {
    acceptor.async_accept([this](error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) {
        if (open.fetch_add(1) >= kMaxConnections) {
          open.fetch_sub(1);
          error_code ignored;
          socket.close(ignored);
        } else {
          std::make_shared<Connection>(std::move(socket), registry, &open)->Start();
        }
      }
      Accept();
    });
  }
};

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& address, std::shared_ptr<prometheus::Registry> registry) {
  if (registry == nullptr) return absl::InvalidArgumentError("metrics endpoint: no registry");
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "': expected HOST:PORT"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto impl = std::make_unique<Impl>();
  impl->registry = std::move(registry);
  error_code ec;
  const net::ip::address ip = net::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "': '", host, "' is not an IP address"));
  }
  const tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("metrics endpoint: cannot listen on ", address, ": ", ec.message()));
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->ioc.run(); });
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(std::move(impl)));
}

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsEndpoint::~MetricsEndpoint() {
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int MetricsEndpoint::port() const { return impl_->port; }

}  // namespace r1
