// CUDA implementation of AdamCudaMultiTensor (adam_cuda.h): many tensors,
// one launch, as PyTorch's multi_tensor_apply does it. The host packs the
// plan (adam_cuda_multi_plan.cuh: a descriptor per tensor and a chunk ->
// tensor map) into reused pinned memory, one async copy moves it to the
// device, and every block of a grid sized to the device walks chunks
// c = blockIdx.x, + gridDim.x, ...
#include <cuda_runtime.h>

#include <utility>

#include "kernels/adam_cuda.h"
#include "kernels/adam_cuda_multi_plan.cuh"
#include "kernels/cuda_internal.h"

namespace adamasync {
namespace kernels {
namespace {

using internal::MultiTensorDescriptor;
using internal::MultiTensorPlanSize;

constexpr int kThreads = 256;

// At most 64 registers, so that 4 blocks (1024 threads) fit on an SM.
__global__ void __launch_bounds__(kThreads, 4)
    AdamMultiKernel(const MultiTensorDescriptor* __restrict__ descriptors,
                    const unsigned int* __restrict__ chunk_tensor, unsigned int chunks,
                    unsigned int chunk_elements) {
  for (unsigned int c = blockIdx.x; c < chunks; c += gridDim.x) {
    // A copy in registers: the stores to p, m, v cannot then force the
    // compiler to reload the descriptor.
    const MultiTensorDescriptor d = descriptors[chunk_tensor[c]];
    internal::AdamChunk(d, c - d.first_chunk, chunk_elements, threadIdx.x, blockDim.x);
  }
}

// Room for `need` bytes, grown geometrically so that a slowly growing
// workload does not reallocate on every call.
size_t Grown(size_t have, size_t need) {
  size_t size = have > 4096 ? have : 4096;
  while (size < need) size *= 2;
  return size;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdamCudaMultiTensor>> AdamCudaMultiTensor::Create(
    const AdamCudaMultiOptions& options) {
  if (options.chunk_elements == 0 || options.chunk_elements % 1024 != 0 ||
      options.chunk_elements > (size_t{1} << 24)) {
    return absl::InvalidArgumentError(
        "AdamCudaMultiOptions.chunk_elements must be a multiple of 1024 in [1024, 2^24]");
  }
  absl::StatusOr<CudaEvent> uploaded = CudaEvent::Create();
  if (!uploaded.ok()) return uploaded.status();
  absl::StatusOr<CudaEvent> consumed = CudaEvent::Create();
  if (!consumed.ok()) return consumed.status();
  return std::unique_ptr<AdamCudaMultiTensor>(
      new AdamCudaMultiTensor(options, *std::move(uploaded), *std::move(consumed)));
}

AdamCudaMultiTensor::AdamCudaMultiTensor(const AdamCudaMultiOptions& options, CudaEvent uploaded,
                                         CudaEvent consumed)
    : options_(options), uploaded_(std::move(uploaded)), consumed_(std::move(consumed)) {}

AdamCudaMultiTensor::~AdamCudaMultiTensor() {
  // Errors here would be a device fault some stream already reported.
  consumed_.Synchronize().IgnoreError();
  uploaded_.Synchronize().IgnoreError();
}

absl::Status AdamCudaMultiTensor::ApplyAsync(absl::Span<const AdamCudaTensor> tensors,
                                             const CudaStream& stream) {
  const size_t chunk = options_.chunk_elements;
  absl::StatusOr<MultiTensorPlanSize> plan = internal::SizeMultiTensorPlan(tensors, chunk);
  if (!plan.ok()) return plan.status();
  if (plan->descriptors == 0) return absl::OkStatus();

  // The previous upload must have read the staging area before it is
  // rewritten (or freed).
  if (absl::Status st = uploaded_.Synchronize(); !st.ok()) return st;
  if (staging_.bytes() < plan->bytes) {
    const size_t had = staging_.bytes();
    staging_ = PinnedHostBuffer();
    absl::StatusOr<PinnedHostBuffer> grown = PinnedHostBuffer::Allocate(Grown(had, plan->bytes));
    if (!grown.ok()) return grown.status();
    staging_ = *std::move(grown);
  }
  internal::WriteMultiTensorPlan(tensors, chunk, *plan, staging_.data());

  // The device copy may be overwritten once the last kernel that read it
  // is done: on the same stream it already is; on another, wait for it.
  if (device_.bytes() < plan->bytes) {
    if (absl::Status st = consumed_.Synchronize(); !st.ok()) return st;
    const size_t had = device_.bytes();
    device_ = DeviceBuffer();
    absl::StatusOr<DeviceBuffer> grown = DeviceBuffer::Allocate(Grown(had, plan->bytes));
    if (!grown.ok()) return grown.status();
    device_ = *std::move(grown);
  } else if (absl::Status st = consumed_.MakeStreamWait(stream); !st.ok()) {
    return st;
  }
  if (absl::Status st = CopyToDeviceAsync(staging_.data(), plan->bytes, stream, device_.data());
      !st.ok()) {
    return st;
  }
  if (absl::Status st = uploaded_.Record(stream); !st.ok()) return st;

  const void* kernel = reinterpret_cast<const void*>(&AdamMultiKernel);
  absl::StatusOr<int> resident = internal::ResidentBlocks(kernel, kThreads);
  if (!resident.ok()) return resident.status();
  const size_t blocks = plan->chunks < static_cast<size_t>(*resident) ? plan->chunks : *resident;
  const auto* device_descriptors = static_cast<const MultiTensorDescriptor*>(device_.data());
  const auto* device_map = reinterpret_cast<const unsigned int*>(
      static_cast<const char*>(device_.data()) + plan->map_offset);
  unsigned int chunk_count = static_cast<unsigned int>(plan->chunks);
  unsigned int chunk_elements = static_cast<unsigned int>(chunk);
  void* args[] = {&device_descriptors, &device_map, &chunk_count, &chunk_elements};
  ADAMASYNC_CUDA_RETURN_IF_ERROR(
      cudaLaunchKernel(kernel, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), args, 0,
                       internal::StreamOf(stream)),
      "Adam multi-tensor kernel launch");
  return consumed_.Record(stream);
}

}  // namespace kernels
}  // namespace adamasync
