// Table state in CUDA device memory (--device=cuda): p, m, v and vmax are
// cudaMalloc'd arrays, stepped by the fused kernel of kernels/adam_cuda.h.
//
// Data path: a push's gradient is copied into a pinned host staging buffer
// of a "lane" (a stream, a 256 KiB pinned buffer, a 256 KiB device gradient
// buffer; the server has a few, reused, never allocated per request),
// uploaded on the lane's stream, and applied by a kernel on the same
// stream; the call returns once the stream is done, so a reply still means
// "applied". Pulls and checkpoint copies come back the same way through
// the staging buffer. Calls from different threads take different lanes,
// so one push's upload overlaps another's kernel.
//
// A failed copy or kernel is sticky: the backend's Health() turns to the
// error, every later call of every part fails, and the server stops
// serving (its state may be half-updated; restart it from its checkpoint).
//
// Built with or without CUDA: without it (or without a usable device)
// CudaStateBackend fails with the kernels' error (UNIMPLEMENTED /
// FAILED_PRECONDITION) and nothing else here is reached.
#ifndef ADAMASYNC_SERVER_CUDA_PART_STATE_H_
#define ADAMASYNC_SERVER_CUDA_PART_STATE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "server/part_state.h"

namespace adamasync {

struct CudaBackendOptions {
  // CUDA device number (as in --device=cuda:N).
  int device = 0;
  // Staging lanes: calls that may copy or step at the same time.
  // REQUIRES: >= 1.
  int lanes = 4;
};

// Opens the device, creates the lanes. INVALID_ARGUMENT for a device number
// out of range or lanes < 1; FAILED_PRECONDITION without a usable device;
// UNIMPLEMENTED in a build without CUDA.
absl::StatusOr<std::shared_ptr<StateBackend>> CudaStateBackend(const CudaBackendOptions& options);

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_CUDA_PART_STATE_H_
