// Adam on a CUDA device, behind a plain C++ interface (no CUDA types), so
// the server and the tests build the same with or without the toolkit.
// Without CUDA support compiled in, every call returns UNIMPLEMENTED.
#ifndef ADAMASYNC_KERNELS_ADAM_CUDA_H_
#define ADAMASYNC_KERNELS_ADAM_CUDA_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/adam_cpu.h"
#include "kernels/adam_math.h"

namespace adamasync {
namespace kernels {

// True when this build contains the CUDA kernels.
bool CudaCompiledIn();

// The number of usable CUDA devices; FAILED_PRECONDITION (with the CUDA
// error) when the driver or a device is missing, UNIMPLEMENTED without CUDA.
absl::StatusOr<int> CudaDeviceCount();

// Applies one step on device memory: `grad` and every pointer of `state`
// are device pointers. Runs on the default stream of the current device and
// waits for completion.
absl::Status AdamCudaDevice(const AdamScalars& s, const float* grad, AdamSpan state, size_t n);

}  // namespace kernels
}  // namespace adamasync

#endif  // ADAMASYNC_KERNELS_ADAM_CUDA_H_
