// The OpenAI HTTP server holds 10,000 concurrent idle SSE streams with a bounded number of threads
// (generation requests hold no thread while they wait for tokens), then finishes every one of
// them. The server is r1-http-fake-server in a child process: its FakeGenerator holds requests
// whose prompt says "[[hold]]" until SIGUSR1. The client is one thread with epoll and non-blocking
// sockets. CTest label `scale`.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace r1::http {
namespace {

constexpr int kStreams = 10000;
constexpr int kMaxServerThreads = 64;
constexpr int kConnectsInFlight = 256;  // streams opened but not yet answered, at most
constexpr char kDone[] = "data: [DONE]\n\n";
constexpr char kLastChunk[] = "0\r\n\r\n";

// The fake server as a child process.
class ServerProcess {
 public:
  ServerProcess() {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      const std::string max = absl::StrCat("--max_connections=", kStreams + 100);
      execl(R1_FAKE_SERVER, R1_FAKE_SERVER, "--port=0", max.c_str(), "--io_threads=2",
            "--request_threads=2", "--log_level=warn", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    // The first line is "http_port=N".
    std::string line;
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (line.find('\n') == std::string::npos && absl::Now() < give_up) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      const ssize_t n = read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    const size_t eq = line.find("http_port=");
    if (eq != std::string::npos) {
      (void)absl::SimpleAtoi(line.substr(eq + 10, line.find('\n', eq) - eq - 10), &port_);
    }
  }
  ~ServerProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  // SIGTERM, then its exit status (-1 when it did not exit within 30 s).
  int Stop() {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 300; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      usleep(100 * 1000);
    }
    return -1;
  }

  // A field of /proc/<pid>/status ("Threads", "VmRSS" in kB); -1 when absent.
  long Status(const std::string& field) const {
    std::ifstream in(absl::StrCat("/proc/", pid_, "/status"));
    std::string line;
    while (std::getline(in, line)) {
      if (!absl::StartsWith(line, field + ":")) continue;
      std::string value = line.substr(field.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      value = value.substr(0, value.find_first_of(" \t"));
      long v = -1;
      return absl::SimpleAtoi(value, &v) ? v : -1;
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

// One client stream.
struct Stream {
  int fd = -1;
  size_t sent = 0;
  std::string received;
  bool opened = false;  // the first SSE event arrived
  bool finished = false;
};

std::string RequestBytes() {
  const std::string body = R"({"model":"r1-tiny","stream":true,"max_tokens":256,)"
                           R"("messages":[{"role":"user","content":"[[hold]] Hi"}]})";
  return absl::StrCat("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                      "Content-Type: application/json\r\nContent-Length: ", body.size(), "\r\n\r\n",
                      body);
}

// Raises this process's open-file limit to `want` (a client socket per stream).
bool RaiseOpenFiles(rlim_t want) {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) != 0) return false;
  if (l.rlim_cur >= want) return true;
  if (l.rlim_max != RLIM_INFINITY && l.rlim_max < want) return false;
  l.rlim_cur = want;
  return setrlimit(RLIMIT_NOFILE, &l) == 0;
}

class Client {
 public:
  explicit Client(int port) : port_(port), request_(RequestBytes()), epoll_(epoll_create1(0)) {}
  ~Client() {
    for (Stream& s : streams_) {
      if (s.fd >= 0) close(s.fd);
    }
    close(epoll_);
  }

  // Opens `n` streams (at most kConnectsInFlight unanswered at once) and waits until each has
  // its first event. False on a connection error or after `timeout`.
  bool Open(int n, absl::Duration timeout) {
    streams_.resize(static_cast<size_t>(n));
    const absl::Time give_up = absl::Now() + timeout;
    int started = 0;
    while (opened_ < n) {
      while (started < n && started - opened_ < kConnectsInFlight) {
        if (!Connect(started)) return false;
        ++started;
      }
      if (absl::Now() > give_up || !Wait(100)) return false;
    }
    return true;
  }

  // Reads until every stream has finished (`kDone` and the last chunk), or `timeout`; calls
  // `tick` between waits.
  bool Finish(absl::Duration timeout, const std::function<void()>& tick) {
    const absl::Time give_up = absl::Now() + timeout;
    while (finished_ < static_cast<int>(streams_.size())) {
      if (absl::Now() > give_up || !Wait(100)) return false;
      tick();
    }
    return true;
  }

  int opened() const { return opened_; }
  int finished() const { return finished_; }
  const std::vector<Stream>& streams() const { return streams_; }
  std::string error() const { return error_; }

 private:
  bool Connect(int i) {
    Stream& s = streams_[static_cast<size_t>(i)];
    s.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.fd < 0) return Fail(absl::StrCat("socket: ", strerror(errno)));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
        errno != EINPROGRESS) {
      return Fail(absl::StrCat("connect: ", strerror(errno)));
    }
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    return epoll_ctl(epoll_, EPOLL_CTL_ADD, s.fd, &ev) == 0 ||
           Fail(absl::StrCat("epoll_ctl: ", strerror(errno)));
  }

  // One epoll wait and its events; false on an error.
  bool Wait(int timeout_ms) {
    epoll_event events[512];
    const int n = epoll_wait(epoll_, events, 512, timeout_ms);
    if (n < 0) return errno == EINTR || Fail(absl::StrCat("epoll_wait: ", strerror(errno)));
    for (int k = 0; k < n; ++k) {
      const int i = static_cast<int>(events[k].data.u32);
      Stream& s = streams_[static_cast<size_t>(i)];
      if ((events[k].events & EPOLLOUT) && s.sent < request_.size() && !Send(i)) return false;
      if ((events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !Receive(i)) return false;
    }
    return true;
  }

  bool Send(int i) {
    Stream& s = streams_[static_cast<size_t>(i)];
    const ssize_t n = send(s.fd, request_.data() + s.sent, request_.size() - s.sent, MSG_NOSIGNAL);
    if (n < 0) {
      return errno == EAGAIN || Fail(absl::StrCat("stream ", i, ": send: ", strerror(errno)));
    }
    s.sent += static_cast<size_t>(n);
    if (s.sent < request_.size()) return true;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    return epoll_ctl(epoll_, EPOLL_CTL_MOD, s.fd, &ev) == 0;
  }

  bool Receive(int i) {
    Stream& s = streams_[static_cast<size_t>(i)];
    char buf[4096];
    for (;;) {
      const ssize_t n = recv(s.fd, buf, sizeof(buf), 0);
      if (n > 0) {
        s.received.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EAGAIN) break;
      if (s.finished) break;
      return Fail(absl::StrCat("stream ", i, " closed by the server after ", s.received.size(),
                               " bytes: ", s.received.substr(0, 300)));
    }
    if (!s.opened && absl::StrContains(s.received, "data: ")) {
      s.opened = true;
      ++opened_;
    }
    if (!s.finished && absl::StrContains(s.received, kDone) &&
        absl::EndsWith(s.received, kLastChunk)) {
      s.finished = true;
      ++finished_;
      epoll_ctl(epoll_, EPOLL_CTL_DEL, s.fd, nullptr);
      close(s.fd);
      s.fd = -1;
    }
    return true;
  }

  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  const int port_;
  const std::string request_;
  const int epoll_;
  std::vector<Stream> streams_;
  int opened_ = 0;
  int finished_ = 0;
  std::string error_;
};

TEST(HttpScaleTest, TenThousandIdleStreamsOnBoundedThreads) {
  ASSERT_TRUE(RaiseOpenFiles(kStreams + 256))
      << "the open-file hard limit must allow " << kStreams + 256 << " descriptors";
  ServerProcess server;
  ASSERT_GT(server.pid(), 0);
  ASSERT_GT(server.port(), 0) << "r1-http-fake-server did not print its port";

  Client client(server.port());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(client.Open(kStreams, absl::Seconds(120)))
      << client.error() << " (" << client.opened() << " streams open)";
  const absl::Duration open_time = absl::Now() - start;

  // Every stream is idle: its generation waits for the release.
  absl::SleepFor(absl::Milliseconds(500));
  const long threads = server.Status("Threads");
  const long rss_kb = server.Status("VmRSS");
  std::printf("%d idle SSE streams opened in %.1f s: server threads=%ld, RSS=%.1f MiB\n", kStreams,
              absl::ToDoubleSeconds(open_time), threads, static_cast<double>(rss_kb) / 1024.0);
  ::testing::Test::RecordProperty("server_threads", static_cast<int>(threads));
  ::testing::Test::RecordProperty("server_rss_kib", static_cast<int>(rss_kb));
  EXPECT_GT(threads, 0);
  EXPECT_LE(threads, kMaxServerThreads);
  for (const Stream& s : client.streams()) {
    ASSERT_FALSE(absl::StrContains(s.received, kDone)) << "a held stream finished early";
  }

  // Release every generation; each stream then gets its answer and ends.
  ASSERT_EQ(kill(server.pid(), SIGUSR1), 0);
  long max_threads = threads;
  const bool finished = client.Finish(
      absl::Seconds(120), [&] { max_threads = std::max(max_threads, server.Status("Threads")); });
  ASSERT_TRUE(finished) << client.error() << " (" << client.finished() << " of " << kStreams
                        << " streams finished)";
  EXPECT_LE(max_threads, kMaxServerThreads);
  std::printf(
      "released: every stream finished in %.1f s; peak server threads=%ld, peak RSS=%.1f MiB\n",
      absl::ToDoubleSeconds(absl::Now() - start - open_time), max_threads,
      static_cast<double>(server.Status("VmHWM")) / 1024.0);
  for (const Stream& s : client.streams()) {
    ASSERT_TRUE(absl::StrContains(s.received, "HTTP/1.1 200")) << s.received.substr(0, 300);
    ASSERT_TRUE(absl::StrContains(s.received, R"("finish_reason":"stop")"))
        << s.received.substr(0, 2000);
  }
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace r1::http
