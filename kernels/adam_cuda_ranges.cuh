// Device code shared by the single-tensor (adam_cuda.cu) and multi-tensor
// (adam_cuda_multi.cu) Adam kernels: how a tensor's elements split between
// a scalar head, a float4 body and a scalar tail, and the loops over each.
// Every element goes through AdamElement (adam_math.h), whichever path it
// takes, so the paths differ only in how memory is accessed.
//
// The loops are __host__ __device__: on the host (nvcc's host pass) they
// take plain loads and stores, so tests/kernels/adam_cuda_emulation_test.cu
// can run the kernels' exact indexing on a machine without a GPU, one
// emulated thread at a time.
//
// Included only by .cu files; not part of any interface.
#ifndef ADAMASYNC_KERNELS_ADAM_CUDA_RANGES_CUH_
#define ADAMASYNC_KERNELS_ADAM_CUDA_RANGES_CUH_

#include <cstddef>
#include <cstdint>

#include "kernels/adam_cpu.h"
#include "kernels/adam_math.h"

namespace adamasync {
namespace kernels {
namespace internal {

// Elements [0, head) take the scalar path; from `head` on, when `vector`,
// every array is 16-byte aligned and the body takes float4 loads. head is 0
// when the arrays are already aligned, 1-3 when they share one misalignment
// (spans at the same element offset into aligned buffers), and vector is
// false when their misalignments differ.
struct AdamLayout {
  size_t head = 0;
  bool vector = false;
};

// Host side: the layout of one tensor. `amsgrad` says whether vmax counts.
inline AdamLayout LayoutOf(const float* grad, const AdamSpan& st, bool amsgrad, size_t n) {
  const uintptr_t mis = reinterpret_cast<uintptr_t>(grad) % 16;
  const float* arrays[] = {st.p, st.m, st.v, amsgrad ? st.vmax : grad};
  for (const float* a : arrays) {
    if (reinterpret_cast<uintptr_t>(a) % 16 != mis) return {0, false};
  }
  if (mis % sizeof(float) != 0) return {0, false};  // not even float-aligned: scalar
  const size_t head = mis == 0 ? 0 : (16 - mis) / sizeof(float);
  return {head < n ? head : n, true};
}

// Loads and stores name the global address space and their cache policy
// explicitly: the multi-tensor kernel reads its pointers from descriptors in
// memory, where the compiler cannot tell they are global and would emit
// slower generic ld/st. The gradient is read-only for the whole launch
// (non-coherent cache, ld.global.nc); the state is read once and written
// once per step, so it is cached in L2 only (ld/st.global.cg).
template <typename T>
ADAMASYNC_HD T LoadGrad(const T* x) {
#if defined(__CUDA_ARCH__)
  return __ldg(x);
#else
  return *x;
#endif
}
template <typename T>
ADAMASYNC_HD T LoadState(const T* x) {
#if defined(__CUDA_ARCH__)
  return __ldcg(x);
#else
  return *x;
#endif
}
template <typename T>
ADAMASYNC_HD void StoreState(T* x, const T& value) {
#if defined(__CUDA_ARCH__)
  __stcg(x, value);
#else
  *x = value;
#endif
}

// One element through AdamElement.
template <bool kAmsgrad>
ADAMASYNC_HD void AdamOne(const AdamScalars& s, const float* g, float* p, float* m, float* v,
                          float* vmax, size_t i) {
  float pi = LoadState(p + i), mi = LoadState(m + i), vi = LoadState(v + i);
  float vmaxi = kAmsgrad ? LoadState(vmax + i) : 0.0f;
  AdamElement(s, LoadGrad(g + i), pi, mi, vi, vmaxi);
  StoreState(p + i, pi);
  StoreState(m + i, mi);
  StoreState(v + i, vi);
  if (kAmsgrad) StoreState(vmax + i, vmaxi);
}

// Elements [begin, end), element begin + first for this thread, then every
// `stride`-th.
template <bool kAmsgrad>
ADAMASYNC_HD void AdamScalarRange(const AdamScalars& s, const float* g, float* p, float* m,
                                  float* v, float* vmax, size_t begin, size_t end, size_t first,
                                  size_t stride) {
  for (size_t i = begin + first; i < end; i += stride) AdamOne<kAmsgrad>(s, g, p, m, v, vmax, i);
}

// Applies AdamElement to the four lanes of a float4, lane by lane.
template <bool kAmsgrad>
ADAMASYNC_HD void AdamLanes(const AdamScalars& s, const float4& g, float4& p, float4& m, float4& v,
                            float4& vmax) {
  AdamElement(s, g.x, p.x, m.x, v.x, vmax.x);
  AdamElement(s, g.y, p.y, m.y, v.y, vmax.y);
  AdamElement(s, g.z, p.z, m.z, v.z, vmax.z);
  AdamElement(s, g.w, p.w, m.w, v.w, vmax.w);
}

// float4 groups [0, groups) of 16-byte-aligned arrays: group `first` for
// this thread, then every `stride`-th.
template <bool kAmsgrad>
ADAMASYNC_HD void AdamVectorRange(const AdamScalars& s, const float* g, float* p, float* m,
                                  float* v, float* vmax, size_t groups, size_t first,
                                  size_t stride) {
  const float4* g4 = reinterpret_cast<const float4*>(g);
  float4* p4 = reinterpret_cast<float4*>(p);
  float4* m4 = reinterpret_cast<float4*>(m);
  float4* v4 = reinterpret_cast<float4*>(v);
  float4* vmax4 = reinterpret_cast<float4*>(vmax);
  for (size_t i = first; i < groups; i += stride) {
    const float4 gi = LoadGrad(g4 + i);
    float4 pi = LoadState(p4 + i), mi = LoadState(m4 + i), vi = LoadState(v4 + i);
    float4 vmaxi = kAmsgrad ? LoadState(vmax4 + i) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    AdamLanes<kAmsgrad>(s, gi, pi, mi, vi, vmaxi);
    StoreState(p4 + i, pi);
    StoreState(m4 + i, mi);
    StoreState(v4 + i, vi);
    if (kAmsgrad) StoreState(vmax4 + i, vmaxi);
  }
}

// Elements [begin, end) of a tensor with layout (head, vector), where begin
// is 0 or at least head and (begin - head) is a multiple of 4 (a chunk
// boundary): the part of [0, head) it covers scalar, then float4 groups,
// then the scalar tail. `first`/`stride`: this thread's place among the
// threads sharing the range.
template <bool kAmsgrad>
ADAMASYNC_HD void AdamRange(const AdamScalars& s, const float* g, float* p, float* m, float* v,
                            float* vmax, size_t head, bool vector, size_t begin, size_t end,
                            size_t first, size_t stride) {
  if (begin < head) {
    AdamScalarRange<kAmsgrad>(s, g, p, m, v, vmax, begin, head < end ? head : end, first, stride);
    begin = head;
  }
  if (begin >= end) return;
  const size_t groups = vector ? (end - begin) / 4 : 0;
  float* vmax_at = kAmsgrad ? vmax + begin : nullptr;
  AdamVectorRange<kAmsgrad>(s, g + begin, p + begin, m + begin, v + begin, vmax_at, groups, first,
                            stride);
  AdamScalarRange<kAmsgrad>(s, g, p, m, v, vmax, begin + 4 * groups, end, first, stride);
}

}  // namespace internal
}  // namespace kernels
}  // namespace adamasync

#endif  // ADAMASYNC_KERNELS_ADAM_CUDA_RANGES_CUH_
