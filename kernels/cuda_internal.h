// Helpers shared by the CUDA-built files of kernels/ (never included by
// code built without CUDA, never exported): CUDA errors as absl::Status,
// stream handles, and grid sizes from the occupancy API.
#ifndef ADAMASYNC_KERNELS_CUDA_INTERNAL_H_
#define ADAMASYNC_KERNELS_CUDA_INTERNAL_H_

#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda_device.h"

namespace adamasync {
namespace kernels {
namespace internal {

// OK for cudaSuccess; otherwise `what` and the CUDA error, as
// RESOURCE_EXHAUSTED for cudaErrorMemoryAllocation, INVALID_ARGUMENT for
// cudaErrorInvalidDevice, else FAILED_PRECONDITION (no driver, no device,
// a sticky kernel fault: nothing a caller can fix by retrying).
absl::Status CudaStatus(cudaError_t err, const char* what);

inline cudaStream_t StreamOf(const CudaStream& stream) {
  return static_cast<cudaStream_t>(stream.native_handle());
}

// SM count x the most blocks of `threads_per_block` threads of `kernel`
// (no dynamic shared memory) resident on one SM of the current device:
// the grid that keeps every SM full without a second wave. Cached per
// (kernel, device, threads); thread-safe.
absl::StatusOr<int> ResidentBlocks(const void* kernel, int threads_per_block);

}  // namespace internal
}  // namespace kernels
}  // namespace adamasync

#define ADAMASYNC_CUDA_RETURN_IF_ERROR(expr, what)                   \
  do {                                                               \
    const ::absl::Status adamasync_cuda_status_ =                    \
        ::adamasync::kernels::internal::CudaStatus((expr), (what));  \
    if (!adamasync_cuda_status_.ok()) return adamasync_cuda_status_; \
  } while (false)

#endif  // ADAMASYNC_KERNELS_CUDA_INTERNAL_H_
