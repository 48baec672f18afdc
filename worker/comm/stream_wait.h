// A bounded wait on a CUDA stream that carries stream-ordered collectives
// (Communicator::AllToAllVOnStream): a peer that never joins leaves the stream undrained for
// ever, so every host wait on such a stream goes through here.
#ifndef R1_WORKER_COMM_STREAM_WAIT_H_
#define R1_WORKER_COMM_STREAM_WAIT_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "worker/comm/communicator.h"

namespace r1 {

// Polls `stream` (a cudaStream_t, as void*) until its work has finished, yielding then sleeping
// briefly between polls. Returns the CUDA error if the stream failed, `comm`'s health as soon as
// it is not OK (an aborted or failed communicator: its transfers will never complete), and
// DeadlineExceeded at `deadline`; `what` names the wait in the message. Does not abort `comm`:
// the caller decides.
absl::Status WaitForStreamWithPeers(void* stream, const Communicator& comm, absl::Time deadline,
                                    absl::string_view what);

}  // namespace r1

#endif  // R1_WORKER_COMM_STREAM_WAIT_H_
