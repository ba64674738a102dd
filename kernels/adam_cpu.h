// Adam on the CPU: a Highway kernel (runtime-dispatched to the best SIMD
// target of the machine) that applies one step to a span of elements, and
// a helper that splits large spans over threads.
#ifndef ADAMASYNC_KERNELS_ADAM_CPU_H_
#define ADAMASYNC_KERNELS_ADAM_CPU_H_

#include <cstddef>

#include "kernels/adam_math.h"

namespace adamasync {
namespace kernels {

// The state one step reads and writes. `vmax` may be null unless amsgrad.
struct AdamSpan {
  float* p = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  float* vmax = nullptr;
};

// Applies one step to elements [0, n) of `state` with gradient `grad`.
// Bit-identical to AdamElement on every element on targets with native FMA.
// Thread-safe for disjoint spans.
void AdamCpu(const AdamScalars& s, const float* grad, AdamSpan state, size_t n);

// As AdamCpu, split into `num_threads` contiguous pieces (each at least
// `min_elements_per_thread`, cache-line aligned) run in parallel; the caller's
// thread runs one of them.
void AdamCpuParallel(const AdamScalars& s, const float* grad, AdamSpan state, size_t n,
                     int num_threads, size_t min_elements_per_thread = 256 * 1024);

// True when no element of x[0, n) is NaN or +-Inf.
bool AllFinite(const float* x, size_t n);

// The name of the SIMD target AdamCpu dispatches to on this machine.
const char* AdamCpuTargetName();

}  // namespace kernels
}  // namespace adamasync

#endif  // ADAMASYNC_KERNELS_ADAM_CPU_H_
