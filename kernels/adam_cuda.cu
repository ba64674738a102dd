// CUDA implementation of adam_cuda.h: one fused elementwise kernel built on
// the same AdamElement as the CPU kernel.
#include <cuda_runtime.h>

#include <string>

#include "kernels/adam_cuda.h"

namespace adamasync {
namespace kernels {
namespace {

template <bool kAmsgrad>
__global__ void AdamKernel(AdamScalars s, const float* __restrict__ grad, float* __restrict__ p,
                           float* __restrict__ m, float* __restrict__ v, float* __restrict__ vmax,
                           size_t n) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    float pi = p[i], mi = m[i], vi = v[i];
    float vmaxi = kAmsgrad ? vmax[i] : 0.0f;
    AdamElement(s, grad[i], pi, mi, vi, vmaxi);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
    if (kAmsgrad) vmax[i] = vmaxi;
  }
}

absl::Status FromCuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  return absl::FailedPreconditionError(std::string(what) + ": " + cudaGetErrorString(err));
}

}  // namespace

bool CudaCompiledIn() { return true; }

absl::StatusOr<int> CudaDeviceCount() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) return FromCuda(err, "cudaGetDeviceCount");
  if (count == 0) return absl::FailedPreconditionError("no CUDA device present");
  return count;
}

absl::Status AdamCudaDevice(const AdamScalars& s, const float* grad, AdamSpan state, size_t n) {
  if (n == 0) return absl::OkStatus();
  int device = 0, sms = 0;
  if (auto st = FromCuda(cudaGetDevice(&device), "cudaGetDevice"); !st.ok()) return st;
  if (auto st = FromCuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
                         "cudaDeviceGetAttribute");
      !st.ok()) {
    return st;
  }
  constexpr int kThreads = 256;
  const size_t wanted = (n + kThreads - 1) / kThreads;
  const int blocks = static_cast<int>(wanted < static_cast<size_t>(sms) * 8 ? wanted : sms * 8);
  if (s.amsgrad) {
    AdamKernel<true><<<blocks, kThreads>>>(s, grad, state.p, state.m, state.v, state.vmax, n);
  } else {
    AdamKernel<false><<<blocks, kThreads>>>(s, grad, state.p, state.m, state.v, nullptr, n);
  }
  if (auto st = FromCuda(cudaGetLastError(), "Adam kernel launch"); !st.ok()) return st;
  return FromCuda(cudaDeviceSynchronize(), "Adam kernel");
}

}  // namespace kernels
}  // namespace adamasync
