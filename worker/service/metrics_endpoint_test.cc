// MetricsEndpoint over real loopback sockets: the registry's text at GET /metrics, HEAD, 404,
// 405, a silent client that does not block others, bad addresses and a taken port.
#include "worker/service/metrics_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace r1 {
namespace {

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Sends `request` and reads the whole answer (the server closes after one).
std::string Exchange(int port, const std::string& request) {
  const int fd = Connect(port);
  if (fd < 0) return "";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return "";
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

class MetricsEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    prometheus::BuildCounter()
        .Name("r1_test_events_total")
        .Help("Test events.")
        .Register(*registry_)
        .Add({{"kind", "a"}})
        .Increment(3);
    auto ep = MetricsEndpoint::Start("127.0.0.1:0", registry_);
    ASSERT_TRUE(ep.ok()) << ep.status();
    endpoint_ = std::move(*ep);
    ASSERT_GT(endpoint_->port(), 0);
  }
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<MetricsEndpoint> endpoint_;
};

TEST_F(MetricsEndpointTest, ServesTheRegistry) {
  const std::string r = Exchange(endpoint_->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_NE(r.find("text/plain; version=0.0.4"), std::string::npos) << r;
  EXPECT_NE(r.find("r1_test_events_total{kind=\"a\"} 3"), std::string::npos) << r;
  // HEAD: the headers only.
  const std::string h = Exchange(endpoint_->port(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(h.rfind("HTTP/1.1 200", 0), 0u) << h;
  EXPECT_EQ(h.find("r1_test_events_total"), std::string::npos) << h;
}

TEST_F(MetricsEndpointTest, OtherPathsAndMethodsAreRefused) {
  EXPECT_EQ(
      Exchange(endpoint_->port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 404", 0),
      0u);
  EXPECT_EQ(Exchange(endpoint_->port(), "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .rfind("HTTP/1.1 405", 0),
            0u);
  EXPECT_EQ(Exchange(endpoint_->port(),
                     "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
                .rfind("HTTP/1.1 413", 0),
            0u);
  // Garbage: closed without an answer, and the endpoint keeps serving.
  EXPECT_EQ(Exchange(endpoint_->port(), "\x01\x02 nonsense\r\n\r\n"), "");
  EXPECT_EQ(Exchange(endpoint_->port(), "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
                .rfind("HTTP/1.1 200", 0),
            0u);
}

TEST_F(MetricsEndpointTest, ASilentClientDoesNotBlockOthers) {
  const int silent = Connect(endpoint_->port());
  ASSERT_GE(silent, 0);
  const std::string r = Exchange(endpoint_->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  close(silent);
}

TEST(MetricsEndpointStartTest, BadAddressesAndATakenPort) {
  auto registry = std::make_shared<prometheus::Registry>();
  for (const char* bad : {"", "8080", "host:", "127.0.0.1:x", "127.0.0.1:70000", "nohost:80"}) {
    auto ep = MetricsEndpoint::Start(bad, registry);
    EXPECT_EQ(ep.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(MetricsEndpoint::Start("127.0.0.1:0", nullptr).ok());
  auto first = MetricsEndpoint::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(first.ok());
  auto second = MetricsEndpoint::Start("127.0.0.1:" + std::to_string((*first)->port()), registry);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

}  // namespace
}  // namespace r1
