// The per-element Adam/AdamW/AMSGrad update: the single source of truth for
// the arithmetic, compiled for the host (scalar reference, CPU tails) and
// for CUDA devices. The Highway kernel in adam_cpu.cc mirrors it lane by
// lane with the same operations in the same order.
//
// The order of operations is PyTorch's single-tensor Adam on CPU
// (torch/optim/adam.py, `_single_tensor_adam`) as its vectorised ATen
// kernels evaluate it:
//   g  = maximize ? -grad : grad
//   Adam (L2):  g = fma(p, wd, g)               grad.add(param, alpha=wd)
//   AdamW:      p = p * (1 - lr*wd)             param.mul_(1 - lr*wd)
//   m  = lerp(m, g, 1 - b1)                     exp_avg.lerp_(grad, 1 - b1)
//        = fma(w, g - m, m)      if |w| < 0.5
//        = fma(w - 1, g - m, g)  otherwise
//   v  = fma((1-b2)*g, g, v*b2)                 exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2)
//   vmax = max(vmax, v)                         (AMSGrad, raw v)
//   denom = sqrt(amsgrad ? vmax : v) / bc2_sqrt + eps
//   p  = p - (step_size * m) / denom            param.addcdiv_(m, denom, -step_size)
// addcmul is `self + value*t1*t2` in ATen's source, but the x86-64 wheels
// round it as fma(value*t1, t2, self) (found bit for bit against torch
// 2.15, see tests/kernels/adam_torch_golden_test.cc; most likely GCC
// contracting ATen's vector mul and add). sqrt is correctly rounded here
// and on the GPU; PyTorch's CPU Tensor.sqrt() calls MKL's vmsSqrt
// (VML_HA), which is not (about one fp32 result in five is one ulp off),
// so no kernel with an IEEE sqrt follows that one op bit for bit.
// Every multiply-add not written as Fma must stay two roundings: the
// project builds with -ffp-contract=off and nvcc with -fmad=false.
#ifndef ADAMASYNC_KERNELS_ADAM_MATH_H_
#define ADAMASYNC_KERNELS_ADAM_MATH_H_

#if defined(__CUDACC__)
#define ADAMASYNC_HD __host__ __device__ __forceinline__
#else
#include <cmath>
#define ADAMASYNC_HD inline
#endif

namespace adamasync {
namespace kernels {

// fp32 constants of one Adam step, derived on the host (adam_scalars.h) in
// double and rounded once, as PyTorch rounds Python floats into fp32 ops.
struct AdamScalars {
  float l2_weight_decay = 0;  // Adam: g += wd * p (0: no L2 term)
  float decay_factor = 1;     // AdamW: p *= 1 - lr*wd (1: no decay)
  float beta1_weight = 0.1f;  // lerp weight 1 - b1
  float beta2 = 0.999f;
  float one_minus_beta2 = 0.001f;
  float step_size = 1e-3f;  // lr / (1 - b1^t)
  float bc2_sqrt = 1;       // sqrt(1 - b2^t)
  float eps = 1e-8f;
  bool decoupled = false;  // AdamW
  bool amsgrad = false;
  bool maximize = false;
};

ADAMASYNC_HD float AdamFma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

ADAMASYNC_HD float AdamSqrt(float x) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}

// One element of one Adam step. `vmax` is read and written only when
// s.amsgrad.
ADAMASYNC_HD void AdamElement(const AdamScalars& s, float grad, float& p, float& m, float& v,
                              float& vmax) {
  float g = s.maximize ? -grad : grad;
  if (s.decoupled) {
    if (s.decay_factor != 1.0f) p = p * s.decay_factor;
  } else if (s.l2_weight_decay != 0.0f) {
    g = AdamFma(p, s.l2_weight_decay, g);
  }
  const float diff = g - m;
  const float w = s.beta1_weight;
  m = (w < 0.5f && w > -0.5f) ? AdamFma(w, diff, m) : AdamFma(w - 1.0f, diff, g);
  v = AdamFma(s.one_minus_beta2 * g, g, v * s.beta2);
  float second = v;
  if (s.amsgrad) {
    vmax = vmax > v ? vmax : v;  // NaN-free inputs: same as torch.maximum
    second = vmax;
  }
  const float denom = AdamSqrt(second) / s.bc2_sqrt + s.eps;
  p = p - (s.step_size * m) / denom;
}

}  // namespace kernels
}  // namespace adamasync

#endif  // ADAMASYNC_KERNELS_ADAM_MATH_H_
