#include "worker/comm/gloo_communicator.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/alltoallv.h>
#include <gloo/barrier.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <exception>
#include <mutex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "worker/comm/gloo_store.h"

namespace r1 {
namespace {

std::chrono::milliseconds ToMillis(absl::Duration d) {
  // Gloo adds timeouts to steady_clock::now(): keep them finite and at least 1 ms.
  const absl::Duration capped = std::min(d, absl::Hours(100));
  return std::chrono::milliseconds(std::max<int64_t>(1, absl::ToInt64Milliseconds(capped)));
}

// A timeout anywhere (ours or Gloo's) is DeadlineExceeded; any other transport error means a peer
// or its connection went away.
absl::Status FromGlooError(absl::string_view what, absl::string_view message) {
  const std::string text = absl::StrCat(what, ": ", message);
  if (absl::StrContains(message, "DEADLINE_EXCEEDED") || absl::StrContains(message, "Timed out") ||
      absl::StrContains(message, "imeout")) {
    return absl::DeadlineExceededError(text);
  }
  return absl::UnavailableError(text);
}

using ReduceFn = void (*)(void*, const void*, const void*, size_t);

template <typename T>
ReduceFn ReduceFor(ReduceOp op) {
  return op == ReduceOp::kSum ? static_cast<ReduceFn>(&gloo::sum<T>)
                              : static_cast<ReduceFn>(&gloo::max<T>);
}

// Gloo's TCP pairs write with writev(), which raises SIGPIPE when the peer has closed its end: a
// peer that died (or already failed its own collective and closed) would kill this process instead
// of failing the collective with an error. Ignoring SIGPIPE turns that into EPIPE, which Gloo
// reports as an IoException. Process-wide, once; every server here wants EPIPE anyway.
void IgnoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

}  // namespace

absl::StatusOr<std::unique_ptr<GlooCommunicator>> GlooCommunicator::Create(
    const GlooOptions& options, KeyValueStore* store) {
  if (options.size < 1 || options.rank < 0 || options.rank >= options.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("gloo: rank ", options.rank, " of a group of ", options.size));
  }
  if (store == nullptr) return absl::InvalidArgumentError("gloo: no rendezvous store");
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("gloo: connect timeout must be positive");
  }
  IgnoreSigpipe();
  const std::string where = absl::StrCat("gloo bootstrap (rank ", options.rank, " of ",
                                         options.size, ", prefix '", options.prefix, "')");
  try {
    gloo::transport::tcp::attr attr;
    if (!options.iface.empty()) {
      attr.iface = options.iface;
    } else {
      attr.hostname = options.hostname;
    }
    std::shared_ptr<gloo::transport::Device> device = gloo::transport::tcp::CreateDevice(attr);
    auto context = std::make_shared<gloo::rendezvous::Context>(options.rank, options.size);
    context->setTimeout(ToMillis(options.connect_timeout));
    GlooStoreAdapter adapter(store, options.prefix + "gloo/", options.connect_timeout);
    context->connectFullMesh(adapter, device);
    return std::unique_ptr<GlooCommunicator>(
        new GlooCommunicator(options.rank, options.size, std::move(context)));
  } catch (const gloo::IoException& e) {
    return FromGlooError(where, e.what());
  } catch (const std::exception& e) {
    // gloo::EnforceNotMet (a bad address, an unknown interface) and the like.
    return absl::UnavailableError(absl::StrCat(where, ": ", e.what()));
  }
}

GlooCommunicator::GlooCommunicator(int rank, int size, std::shared_ptr<gloo::Context> context)
    : rank_(rank), size_(size), context_(std::move(context)) {}

GlooCommunicator::~GlooCommunicator() = default;

absl::Status GlooCommunicator::health() const {
  absl::MutexLock lock(&state_mu_);
  return health_;
}

absl::Status GlooCommunicator::Fail(absl::Status st) {
  {
    absl::MutexLock lock(&state_mu_);
    if (aborted_) {
      st = absl::AbortedError(absl::StrCat("communicator aborted (", st.message(), ")"));
    }
    if (health_.ok()) health_ = st;
  }
  // The group cannot continue: let every peer know now rather than at its own timeout.
  CloseConnections();
  return st;
}

void GlooCommunicator::Abort() {
  {
    absl::MutexLock lock(&state_mu_);
    if (aborted_) return;
    aborted_ = true;
    if (health_.ok()) health_ = absl::AbortedError("communicator aborted");
  }
  CloseConnections();
}

void GlooCommunicator::CloseConnections() {
  // A hard close (the peer sees a reset): peers blocked on this rank fail at once. Pairs take
  // their own lock, so this may race with a collective; this rank's own call in flight, if any,
  // still ends at its timeout (Gloo 2022 has no public way to wake it).
  for (int i = 0; i < size_; ++i) {
    if (i == rank_) continue;
    try {
      if (auto& pair = context_->getPair(i)) pair->close();
    } catch (const std::exception&) {
      // Already gone.
    }
  }
}

template <typename Body>
absl::Status GlooCommunicator::Run(absl::string_view what, Body&& body) {
  absl::MutexLock lock(&call_mu_);
  if (absl::Status st = health(); !st.ok()) return st;
  const std::string where = absl::StrCat("gloo ", what, " (rank ", rank_, " of ", size_, ")");
  try {
    body(next_tag_++);
    return absl::OkStatus();
  } catch (const gloo::IoException& e) {
    return Fail(FromGlooError(where, e.what()));
  } catch (const std::exception& e) {
    return Fail(absl::InternalError(absl::StrCat(where, ": ", e.what())));
  }
}

absl::Status GlooCommunicator::DoAllToAllV(const char* send, const std::vector<int64_t>& send_bytes,
                                           char* recv, const std::vector<int64_t>& recv_bytes,
                                           absl::Duration timeout) {
  if (send_bytes[rank_] != recv_bytes[rank_]) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllToAllV: rank ", rank_, " sends ", send_bytes[rank_],
                     " bytes to itself but expects ", recv_bytes[rank_]));
  }
  return Run("alltoallv", [&](uint32_t tag) {
    // Gloo memcpy's the local block even when empty: never hand it a null pointer.
    char dummy = 0;
    gloo::AlltoallvOptions opts(context_);
    opts.setInput<char>(send != nullptr ? const_cast<char*>(send) : &dummy, send_bytes);
    opts.setOutput<char>(recv != nullptr ? recv : &dummy, recv_bytes);
    opts.setTag(tag);
    opts.setTimeout(ToMillis(timeout));
    gloo::alltoallv(opts);
  });
}

absl::Status GlooCommunicator::DoAllGather(const char* send, int64_t bytes, char* recv,
                                           absl::Duration timeout) {
  if (bytes == 0) return DoBarrier(timeout);  // still a collective: peers must be alive
  return Run("allgather", [&](uint32_t tag) {
    gloo::AllgatherOptions opts(context_);
    opts.setInput<char>(const_cast<char*>(send), static_cast<size_t>(bytes));
    opts.setOutput<char>(recv, static_cast<size_t>(bytes) * size_);
    opts.setTag(tag);
    opts.setTimeout(ToMillis(timeout));
    gloo::allgather(opts);
  });
}

absl::Status GlooCommunicator::DoAllReduce(void* data, int64_t n, DataType type, ReduceOp op,
                                           absl::Duration timeout) {
  if (n == 0) return DoBarrier(timeout);
  return Run("allreduce", [&](uint32_t tag) {
    gloo::AllreduceOptions opts(context_);
    if (type == DataType::kInt64) {
      opts.setOutput(static_cast<int64_t*>(data), static_cast<size_t>(n));
      opts.setReduceFunction(ReduceFor<int64_t>(op));
    } else {
      opts.setOutput(static_cast<float*>(data), static_cast<size_t>(n));
      opts.setReduceFunction(ReduceFor<float>(op));
    }
    opts.setTag(tag);
    opts.setTimeout(ToMillis(timeout));
    gloo::allreduce(opts);
  });
}

absl::Status GlooCommunicator::DoBarrier(absl::Duration timeout) {
  return Run("barrier", [&](uint32_t tag) {
    gloo::BarrierOptions opts(context_);
    opts.setTag(tag);
    opts.setTimeout(ToMillis(timeout));
    gloo::barrier(opts);
  });
}

}  // namespace r1
