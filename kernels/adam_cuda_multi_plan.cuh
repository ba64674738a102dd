// The plan of one multi-tensor Adam launch (adam_cuda_multi.cu), as
// PyTorch's multi_tensor_apply lays it out: a descriptor per non-empty
// tensor, then a chunk -> tensor map with one entry per chunk. Block b of
// the launch applies chunks b, b + gridDim.x, ...; chunk k of a tensor
// covers elements [head + k*C, head + (k+1)*C) clipped to n, and chunk 0
// also covers the peeled head [0, head), so every chunk after the first
// starts 16-byte aligned when the tensor takes the float4 path.
//
// Host packing and the per-chunk device loop live here together so that
// tests/kernels/adam_cuda_emulation_test.cu can run both on the host.
// Included only by .cu files; not part of any interface.
#ifndef ADAMASYNC_KERNELS_ADAM_CUDA_MULTI_PLAN_CUH_
#define ADAMASYNC_KERNELS_ADAM_CUDA_MULTI_PLAN_CUH_

#include <cstddef>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/adam_cuda.h"
#include "kernels/adam_cuda_ranges.cuh"

namespace adamasync {
namespace kernels {
namespace internal {

// One tensor as the kernel reads it.
struct MultiTensorDescriptor {
  AdamScalars s;
  const float* grad;
  float* p;
  float* m;
  float* v;
  float* vmax;  // null unless s.amsgrad
  unsigned long long n;
  unsigned long long head;   // AdamLayout::head
  unsigned int first_chunk;  // index of the tensor's chunk 0 in the chunk map
  unsigned int vector;       // AdamLayout::vector, 0 or 1
};

// Where the pieces of a plan go in its one buffer.
struct MultiTensorPlanSize {
  size_t descriptors = 0;  // non-empty tensors
  size_t chunks = 0;
  size_t map_offset = 0;  // bytes from the start to the chunk map (16-aligned)
  size_t bytes = 0;       // whole plan
};

// Chunks of a non-empty tensor: at least one, even when the head is all.
inline size_t ChunksOf(size_t n, size_t head, size_t chunk_elements) {
  const size_t rest = n - head;
  return rest == 0 ? 1 : (rest + chunk_elements - 1) / chunk_elements;
}

// Counts what `tensors` need. INVALID_ARGUMENT for a non-empty tensor with
// a null pointer it needs, or 2^31 chunks or more (the map holds 32-bit
// tensor indices and the kernel 32-bit chunk numbers).
inline absl::StatusOr<MultiTensorPlanSize> SizeMultiTensorPlan(
    absl::Span<const AdamCudaTensor> tensors, size_t chunk_elements) {
  MultiTensorPlanSize size;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const AdamCudaTensor& t = tensors[i];
    if (t.n == 0) continue;
    if (t.grad == nullptr || t.state.p == nullptr || t.state.m == nullptr || t.state.v == nullptr ||
        (t.scalars.amsgrad && t.state.vmax == nullptr)) {
      return absl::InvalidArgumentError("multi-tensor Adam: tensor " + std::to_string(i) +
                                        " has a null grad, p, m, v (or vmax with amsgrad)"
                                        " and n > 0");
    }
    const AdamLayout layout = LayoutOf(t.grad, t.state, t.scalars.amsgrad, t.n);
    size.chunks += ChunksOf(t.n, layout.head, chunk_elements);
    ++size.descriptors;
    if (size.chunks >= (size_t{1} << 31)) {
      return absl::InvalidArgumentError("multi-tensor Adam: 2^31 or more chunks in one launch");
    }
  }
  size.map_offset = (size.descriptors * sizeof(MultiTensorDescriptor) + 15) / 16 * 16;
  size.bytes = size.map_offset + size.chunks * sizeof(unsigned int);
  return size;
}

// Writes the plan of `tensors` (sized by SizeMultiTensorPlan with the same
// arguments) into `out`, size.bytes bytes, 8-byte aligned.
inline void WriteMultiTensorPlan(absl::Span<const AdamCudaTensor> tensors, size_t chunk_elements,
                                 const MultiTensorPlanSize& size, void* out) {
  char* bytes = static_cast<char*>(out);
  auto* chunk_tensor = reinterpret_cast<unsigned int*>(bytes + size.map_offset);
  unsigned int next_chunk = 0, index = 0;
  for (const AdamCudaTensor& t : tensors) {
    if (t.n == 0) continue;
    const AdamLayout layout = LayoutOf(t.grad, t.state, t.scalars.amsgrad, t.n);
    MultiTensorDescriptor d;
    d.s = t.scalars;
    d.grad = t.grad;
    d.p = t.state.p;
    d.m = t.state.m;
    d.v = t.state.v;
    d.vmax = t.scalars.amsgrad ? t.state.vmax : nullptr;
    d.n = t.n;
    d.head = layout.head;
    d.first_chunk = next_chunk;
    d.vector = layout.vector ? 1 : 0;
    // Raw bytes (pinned staging): copied in, not constructed in place.
    std::memcpy(bytes + index * sizeof(d), &d, sizeof(d));
    const size_t count = ChunksOf(t.n, layout.head, chunk_elements);
    for (size_t k = 0; k < count; ++k) chunk_tensor[next_chunk++] = index;
    ++index;
  }
}

// Chunk k of the tensor `d`, shared by the threads of one block (this one
// is `first` of `stride`).
ADAMASYNC_HD void AdamChunk(const MultiTensorDescriptor& d, size_t k, size_t chunk_elements,
                            size_t first, size_t stride) {
  const size_t begin = k == 0 ? 0 : d.head + k * chunk_elements;
  const size_t limit = d.head + (k + 1) * chunk_elements;
  const size_t end = limit < d.n ? limit : d.n;
  if (d.s.amsgrad) {
    AdamRange<true>(d.s, d.grad, d.p, d.m, d.v, d.vmax, d.head, d.vector != 0, begin, end, first,
                    stride);
  } else {
    AdamRange<false>(d.s, d.grad, d.p, d.m, d.v, nullptr, d.head, d.vector != 0, begin, end, first,
                     stride);
  }
}

}  // namespace internal
}  // namespace kernels
}  // namespace adamasync

#endif  // ADAMASYNC_KERNELS_ADAM_CUDA_MULTI_PLAN_CUH_
