// adam_cuda.h for builds without the CUDA toolkit
// (-DADAMASYNC_ENABLE_CUDA=OFF): every call returns UNIMPLEMENTED.
#include "kernels/adam_cuda.h"

namespace adamasync {
namespace kernels {
namespace {

absl::Status NoCuda() {
  return absl::UnimplementedError("this build has no CUDA support (ADAMASYNC_ENABLE_CUDA=OFF)");
}

}  // namespace

absl::Status AdamCudaAsync(const AdamScalars&, const float*, AdamSpan, size_t, const CudaStream&) {
  return NoCuda();
}

absl::Status AdamCudaDevice(const AdamScalars&, const float*, AdamSpan, size_t) { return NoCuda(); }

absl::StatusOr<std::unique_ptr<AdamCudaMultiTensor>> AdamCudaMultiTensor::Create(
    const AdamCudaMultiOptions&) {
  return NoCuda();
}

AdamCudaMultiTensor::~AdamCudaMultiTensor() = default;

absl::Status AdamCudaMultiTensor::ApplyAsync(absl::Span<const AdamCudaTensor>, const CudaStream&) {
  return NoCuda();
}

}  // namespace kernels
}  // namespace adamasync
