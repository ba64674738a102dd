// CUDA implementation of the single-tensor calls of adam_cuda.h: one fused
// elementwise kernel built on the same AdamElement as the CPU kernel.
#include <cuda_runtime.h>

#include "kernels/adam_cuda.h"
#include "kernels/adam_cuda_ranges.cuh"
#include "kernels/cuda_internal.h"

namespace adamasync {
namespace kernels {
namespace {

constexpr int kThreads = 256;

// One step on [0, n): a grid-stride loop over the tensor (AdamRange splits
// it into the scalar head, float4 body and scalar tail).
template <bool kAmsgrad>
__global__ void __launch_bounds__(kThreads)
    AdamKernel(AdamScalars s, const float* __restrict__ grad, float* __restrict__ p,
               float* __restrict__ m, float* __restrict__ v, float* __restrict__ vmax, size_t n,
               size_t head, bool vector) {
  const size_t first = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  internal::AdamRange<kAmsgrad>(s, grad, p, m, v, vmax, head, vector, 0, n, first, stride);
}

template <bool kAmsgrad>
absl::Status Launch(const AdamScalars& s, const float* grad, AdamSpan st, size_t n,
                    const CudaStream& stream) {
  const internal::AdamLayout layout = internal::LayoutOf(grad, st, kAmsgrad, n);
  // The longest loop any thread runs decides how many threads are useful.
  const size_t rest = n - layout.head;
  const size_t items = layout.vector ? rest / 4 + rest % 4 : n;
  const void* kernel = reinterpret_cast<const void*>(&AdamKernel<kAmsgrad>);
  absl::StatusOr<int> resident = internal::ResidentBlocks(kernel, kThreads);
  if (!resident.ok()) return resident.status();
  const size_t wanted = (items + kThreads - 1) / kThreads;
  const unsigned blocks =
      static_cast<unsigned>(wanted < static_cast<size_t>(*resident) ? wanted : *resident);
  float* vmax = kAmsgrad ? st.vmax : nullptr;
  size_t head = layout.head;
  bool vector = layout.vector;
  void* args[] = {
      const_cast<AdamScalars*>(&s), &grad, &st.p, &st.m, &st.v, &vmax, &n, &head, &vector};
  return internal::CudaStatus(
      cudaLaunchKernel(kernel, dim3(blocks), dim3(kThreads), args, 0, internal::StreamOf(stream)),
      "Adam kernel launch");
}

}  // namespace

absl::Status AdamCudaAsync(const AdamScalars& s, const float* grad, AdamSpan state, size_t n,
                           const CudaStream& stream) {
  if (n == 0) return absl::OkStatus();
  if (grad == nullptr || state.p == nullptr || state.m == nullptr || state.v == nullptr ||
      (s.amsgrad && state.vmax == nullptr)) {
    return absl::InvalidArgumentError(
        "AdamCudaAsync: null grad, p, m, v (or vmax with amsgrad) for a non-empty tensor");
  }
  return s.amsgrad ? Launch<true>(s, grad, state, n, stream)
                   : Launch<false>(s, grad, state, n, stream);
}

absl::Status AdamCudaDevice(const AdamScalars& s, const float* grad, AdamSpan state, size_t n) {
  if (n == 0) return absl::OkStatus();
  const CudaStream default_stream;
  if (absl::Status st = AdamCudaAsync(s, grad, state, n, default_stream); !st.ok()) return st;
  return internal::CudaStatus(cudaStreamSynchronize(nullptr), "Adam kernel");
}

}  // namespace kernels
}  // namespace adamasync
