// The parameters of the Communicator conformance suite (communicator_conformance.h): where a
// test's buffers live (TestMemory, TestBuffer) and one configuration under test (ConformanceCase).
// Needs no CUDA; the GPU cases are in cuda_test_envs.h.
#ifndef R1_WORKER_COMM_TESTING_CONFORMANCE_CASE_H_
#define R1_WORKER_COMM_TESTING_CONFORMANCE_CASE_H_

#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "worker/comm/communicator.h"
#include "worker/comm/key_value_store.h"

namespace r1::testing {

// Where a test's buffers live. Implementations are thread-safe.
class TestMemory {
 public:
  virtual ~TestMemory() = default;
  virtual std::string name() const = 0;
  // Memory usable by the calling rank's thread; null for 0 bytes.
  virtual void* Alloc(size_t bytes) = 0;
  virtual void Free(void* p) = 0;
  virtual void Upload(void* dst, const void* src, size_t bytes) = 0;    // host → buffer
  virtual void Download(void* dst, const void* src, size_t bytes) = 0;  // buffer → host
};

class HostMemory final : public TestMemory {
 public:
  std::string name() const override { return "host"; }
  void* Alloc(size_t bytes) override { return bytes == 0 ? nullptr : std::malloc(bytes); }
  void Free(void* p) override { std::free(p); }
  void Upload(void* dst, const void* src, size_t bytes) override {
    if (bytes > 0) std::memcpy(dst, src, bytes);
  }
  void Download(void* dst, const void* src, size_t bytes) override {
    if (bytes > 0) std::memcpy(dst, src, bytes);
  }
};

// `n` elements of T in a TestMemory, freed on destruction.
template <typename T>
class TestBuffer {
 public:
  TestBuffer(TestMemory* memory, size_t n)
      : memory_(memory), n_(n), data_(static_cast<T*>(memory->Alloc(n * sizeof(T)))) {}
  TestBuffer(TestMemory* memory, const std::vector<T>& init) : TestBuffer(memory, init.size()) {
    Set(init);
  }
  ~TestBuffer() { memory_->Free(data_); }
  TestBuffer(const TestBuffer&) = delete;
  TestBuffer& operator=(const TestBuffer&) = delete;

  void Set(const std::vector<T>& v) {
    ASSERT_EQ(v.size(), n_);
    memory_->Upload(data_, v.data(), n_ * sizeof(T));
  }
  std::vector<T> Get() const {
    std::vector<T> v(n_);
    memory_->Download(v.data(), data_, n_ * sizeof(T));
    return v;
  }
  absl::Span<T> span() { return absl::MakeSpan(data_, n_); }
  absl::Span<const T> cspan() const { return absl::MakeConstSpan(data_, n_); }

 private:
  TestMemory* const memory_;
  const size_t n_;
  T* const data_;
};

// CUDA streams for the stream-ordered collective (Communicator::AllToAllVOnStream), on the
// calling rank's current device; handles are cudaStream_t as void*. Thread-safe.
class TestStreams {
 public:
  virtual ~TestStreams() = default;
  virtual void* Create() = 0;
  virtual void Synchronize(void* stream) = 0;
  virtual void Destroy(void* stream) = 0;
};

// One configuration under test.
struct ConformanceCase {
  std::string name;  // e.g. "GlooW2Host"
  int world = 2;     // ranks of the groups the collective tests build
  // Creates rank `rank` of a group of `world`; called on that rank's thread after enter_rank.
  std::function<absl::StatusOr<std::unique_ptr<Communicator>>(
      KeyValueStore* store, const std::string& prefix, int rank, int world,
      absl::Duration connect_timeout)>
      create;
  // Called first on every rank thread (e.g. makes the rank's GPU current); nullable.
  std::function<void(int rank)> enter_rank;
  std::shared_ptr<TestMemory> memory = std::make_shared<HostMemory>();
  // Streams for a stream-ordered communicator's AllToAllVOnStream; null where it is not (the test
  // then expects Unimplemented).
  std::shared_ptr<TestStreams> streams;
  // Whether Abort() on one rank makes peers blocked on it fail long before their timeouts (Gloo
  // closes its sockets; NCCL's shared-memory and P2P transports have no such signal).
  bool abort_wakes_peers = true;
  // Whether Abort() from another thread ends this rank's own call in flight at once (else by
  // that call's timeout).
  bool abort_wakes_own_call = false;
  // Non-empty: why this case cannot run here (printed to stderr, then the test is skipped).
  std::function<std::string()> skip_reason;
};

inline std::string ConformanceCaseName(const ::testing::TestParamInfo<ConformanceCase>& info) {
  return info.param.name;
}

}  // namespace r1::testing

#endif  // R1_WORKER_COMM_TESTING_CONFORMANCE_CASE_H_
