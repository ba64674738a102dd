// Adam on a CUDA device, behind a plain C++ interface (no CUDA types), so
// the server and the tests build the same with or without the toolkit.
// Without CUDA support compiled in, every call returns UNIMPLEMENTED.
//
// The kernels apply AdamElement (adam_math.h), the same per-element code the
// CPU kernel runs, compiled with --fmad=false: for equal AdamScalars a GPU
// step is bit-identical to AdamCpu (tests/kernels/adam_cuda_test.cc).
// AdamScalars carry the step's constants already rounded on the host
// (MakeAdamScalars: bias corrections in double, as PyTorch computes them).
//
// Memory access: 16-byte (float4) loads and stores when every array of a
// tensor is 16-byte aligned; when all of them are misaligned by the same
// amount (spans that start at the same element offset into 16-byte-aligned
// buffers) the first 1-3 elements are peeled off and the rest is
// vectorised; otherwise a scalar path. Grids are sized to the device (SM
// count x resident blocks per SM from the occupancy API) and loop.
//
// Pointers are device pointers; the arrays of one tensor must not overlap.
// A call enqueues work on `stream` and returns; an error of the kernel
// itself is reported by a later synchronisation (CudaStream::Synchronize).
//
// Example:
//   absl::StatusOr<CudaStream> stream = CudaStream::Create();
//   AdamScalars s = MakeAdamScalars(config, step);
//   RETURN_IF_ERROR(AdamCudaAsync(s, grad, {p, m, v, vmax}, n, *stream));
//   RETURN_IF_ERROR(stream->Synchronize());
#ifndef ADAMASYNC_KERNELS_ADAM_CUDA_H_
#define ADAMASYNC_KERNELS_ADAM_CUDA_H_

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/adam_cpu.h"
#include "kernels/adam_math.h"
#include "kernels/cuda_device.h"
#include "kernels/device_buffer.h"

namespace adamasync {
namespace kernels {

// Enqueues one step on elements [0, n) of `state` with gradient `grad`.
// INVALID_ARGUMENT (nothing enqueued) when n > 0 and a pointer the step
// needs is null (vmax only with s.amsgrad).
absl::Status AdamCudaAsync(const AdamScalars& s, const float* grad, AdamSpan state, size_t n,
                           const CudaStream& stream);

// AdamCudaAsync on the legacy default stream, then waits for completion and
// reports the kernel's own errors.
absl::Status AdamCudaDevice(const AdamScalars& s, const float* grad, AdamSpan state, size_t n);

// One tensor of a multi-tensor step: its own constants (so tensors at
// different step counts or with different hyper-parameters share a launch),
// gradient and state.
struct AdamCudaTensor {
  AdamScalars scalars;
  const float* grad = nullptr;
  AdamSpan state;  // vmax needed only with scalars.amsgrad
  size_t n = 0;
};

struct AdamCudaMultiOptions {
  // Elements a block works on before it takes the next chunk (PyTorch's
  // multi_tensor_apply uses 65536). Small tensors take one chunk each.
  // REQUIRES: a multiple of 1024, at most 2^24. Default 16384.
  size_t chunk_elements = 16384;
};

// Applies one step to many tensors in one kernel launch, like PyTorch's
// fused Adam: the host packs a descriptor per tensor and a chunk-to-tensor
// map into a reused pinned staging buffer, one async copy puts them on the
// device, and each block of the launch walks its chunks.
//
// Thread-compatible: one thread at a time per object (an object owns one
// staging area). Calls may use different streams; each launch waits for the
// previous launch of the same object to have consumed its descriptors.
//
// Example:
//   absl::StatusOr<std::unique_ptr<AdamCudaMultiTensor>> multi =
//       AdamCudaMultiTensor::Create({});
//   std::vector<AdamCudaTensor> parts = ...;  // one per segment
//   RETURN_IF_ERROR((*multi)->ApplyAsync(parts, stream));
class AdamCudaMultiTensor {
 public:
  // INVALID_ARGUMENT for options that break their REQUIRES; UNIMPLEMENTED
  // without CUDA. Allocates nothing on the device until the first call.
  static absl::StatusOr<std::unique_ptr<AdamCudaMultiTensor>> Create(
      const AdamCudaMultiOptions& options);

  AdamCudaMultiTensor(const AdamCudaMultiTensor&) = delete;
  AdamCudaMultiTensor& operator=(const AdamCudaMultiTensor&) = delete;
  // Waits for its last launch before freeing the descriptors.
  ~AdamCudaMultiTensor();

  // Enqueues one step of every tensor on `stream`. Blocks the host only
  // while the previous call's descriptor upload is still in flight.
  // INVALID_ARGUMENT (nothing enqueued) for a tensor with n > 0 and a
  // needed pointer null, or more than 2^31 chunks in all. Tensors with
  // n == 0 are skipped; an empty list enqueues nothing.
  absl::Status ApplyAsync(absl::Span<const AdamCudaTensor> tensors, const CudaStream& stream);

  // Device bytes of descriptors and chunk map held (grows to the largest
  // call so far).
  size_t workspace_bytes() const { return device_.bytes(); }

 private:
  AdamCudaMultiTensor(const AdamCudaMultiOptions& options, CudaEvent uploaded, CudaEvent consumed);

  const AdamCudaMultiOptions options_;
  PinnedHostBuffer staging_;  // descriptors then chunk map, written by the host
  DeviceBuffer device_;       // their copy the kernel reads
  CudaEvent uploaded_;        // after the last staging -> device copy
  CudaEvent consumed_;        // after the last kernel that read device_
  bool launched_ = false;     // the events have been recorded
};

}  // namespace kernels
}  // namespace adamasync

#endif  // ADAMASYNC_KERNELS_ADAM_CUDA_H_
