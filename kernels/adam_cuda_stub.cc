// adam_cuda.h for builds without the CUDA toolkit.
#include "kernels/adam_cuda.h"

namespace adamasync {
namespace kernels {

bool CudaCompiledIn() { return false; }

absl::StatusOr<int> CudaDeviceCount() {
  return absl::UnimplementedError("this build has no CUDA support (ADAMASYNC_ENABLE_CUDA=OFF)");
}

absl::Status AdamCudaDevice(const AdamScalars&, const float*, AdamSpan, size_t) {
  return absl::UnimplementedError("this build has no CUDA support (ADAMASYNC_ENABLE_CUDA=OFF)");
}

}  // namespace kernels
}  // namespace adamasync
