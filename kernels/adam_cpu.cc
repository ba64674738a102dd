// Highway implementation of adam_cpu.h. This file is compiled once per SIMD
// target through foreach_target.h; HWY_DYNAMIC_DISPATCH picks the best one.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/adam_cpu.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format off
#include "hwy/highway.h"
// clang-format on
#include "kernels/adam_cpu.h"

HWY_BEFORE_NAMESPACE();
namespace adamasync {
namespace kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Lane-wise AdamElement: same operations, same order (see adam_math.h).
template <bool kAmsgrad>
void AdamLanes(const AdamScalars& s, const float* HWY_RESTRICT grad, AdamSpan st, size_t n,
               size_t& done) {
  const hn::ScalableTag<float> d;
  const size_t lanes = hn::Lanes(d);
  const auto l2 = hn::Set(d, s.l2_weight_decay);
  const auto decay = hn::Set(d, s.decay_factor);
  const auto w = hn::Set(d, s.beta1_weight);
  const auto w_minus_one = hn::Set(d, s.beta1_weight - 1.0f);
  const bool small_w = s.beta1_weight < 0.5f && s.beta1_weight > -0.5f;
  const auto b2 = hn::Set(d, s.beta2);
  const auto omb2 = hn::Set(d, s.one_minus_beta2);
  const auto step_size = hn::Set(d, s.step_size);
  const auto bc2_sqrt = hn::Set(d, s.bc2_sqrt);
  const auto eps = hn::Set(d, s.eps);
  const bool apply_decay = s.decoupled && s.decay_factor != 1.0f;
  const bool apply_l2 = !s.decoupled && s.l2_weight_decay != 0.0f;
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    auto g = hn::LoadU(d, grad + i);
    auto p = hn::LoadU(d, st.p + i);
    auto m = hn::LoadU(d, st.m + i);
    auto v = hn::LoadU(d, st.v + i);
    if (s.maximize) g = hn::Neg(g);
    if (apply_decay) p = hn::Mul(p, decay);
    if (apply_l2) g = hn::MulAdd(p, l2, g);
    const auto diff = hn::Sub(g, m);
    m = small_w ? hn::MulAdd(w, diff, m) : hn::MulAdd(w_minus_one, diff, g);
    v = hn::MulAdd(hn::Mul(omb2, g), g, hn::Mul(v, b2));
    auto second = v;
    if (kAmsgrad) {
      second = hn::Max(hn::LoadU(d, st.vmax + i), v);
      hn::StoreU(second, d, st.vmax + i);
    }
    const auto denom = hn::Add(hn::Div(hn::Sqrt(second), bc2_sqrt), eps);
    p = hn::Sub(p, hn::Div(hn::Mul(step_size, m), denom));
    hn::StoreU(p, d, st.p + i);
    hn::StoreU(m, d, st.m + i);
    hn::StoreU(v, d, st.v + i);
  }
  done = i;
}

void AdamSpanImpl(const AdamScalars& s, const float* grad, AdamSpan st, size_t n) {
  size_t done = 0;
  if (s.amsgrad) {
    AdamLanes<true>(s, grad, st, n, done);
  } else {
    AdamLanes<false>(s, grad, st, n, done);
  }
  float unused = 0;
  for (size_t i = done; i < n; ++i) {
    AdamElement(s, grad[i], st.p[i], st.m[i], st.v[i], s.amsgrad ? st.vmax[i] : unused);
  }
}

bool AllFiniteImpl(const float* x, size_t n) {
  const hn::ScalableTag<float> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  const size_t lanes = hn::Lanes(d);
  // A float is finite iff its exponent bits are not all ones.
  const auto exp_mask = hn::Set(du, 0x7F800000u);
  auto bad = hn::Zero(du);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto bits = hn::BitCast(du, hn::LoadU(d, x + i));
    bad = hn::Or(bad, hn::VecFromMask(du, hn::Eq(hn::And(bits, exp_mask), exp_mask)));
  }
  if (!hn::AllTrue(du, hn::Eq(bad, hn::Zero(du)))) return false;
  for (; i < n; ++i) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

const char* TargetNameImpl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace adamasync
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <thread>
#include <vector>

namespace adamasync {
namespace kernels {

HWY_EXPORT(AdamSpanImpl);
HWY_EXPORT(AllFiniteImpl);
HWY_EXPORT(TargetNameImpl);

void AdamCpu(const AdamScalars& s, const float* grad, AdamSpan state, size_t n) {
  HWY_DYNAMIC_DISPATCH(AdamSpanImpl)(s, grad, state, n);
}

void AdamCpuParallel(const AdamScalars& s, const float* grad, AdamSpan state, size_t n,
                     int num_threads, size_t min_elements_per_thread) {
  size_t pieces = std::max<size_t>(1, static_cast<size_t>(std::max(num_threads, 1)));
  pieces = std::min(pieces, std::max<size_t>(1, n / std::max<size_t>(min_elements_per_thread, 1)));
  if (pieces <= 1) {
    AdamCpu(s, grad, state, n);
    return;
  }
  // Piece boundaries on 16-float (64-byte) multiples keep every piece on
  // whole cache lines, so threads never share one. Rounding ceil(n / pieces)
  // up (not n / pieces) makes the pieces cover all n elements; the last
  // pieces may then be short or empty.
  const size_t per_piece = ((n + pieces - 1) / pieces + 15) / 16 * 16;
  auto run = [&](size_t begin) {
    const size_t end = std::min(n, begin + per_piece);
    if (begin >= end) return;
    AdamSpan sub{state.p + begin, state.m + begin, state.v + begin,
                 state.vmax ? state.vmax + begin : nullptr};
    AdamCpu(s, grad + begin, sub, end - begin);
  };
  std::vector<std::thread> threads;
  threads.reserve(pieces - 1);
  for (size_t k = 1; k < pieces; ++k) threads.emplace_back(run, k * per_piece);
  run(0);
  for (auto& t : threads) t.join();
}

bool AllFinite(const float* x, size_t n) { return HWY_DYNAMIC_DISPATCH(AllFiniteImpl)(x, n); }

const char* AdamCpuTargetName() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }

}  // namespace kernels
}  // namespace adamasync
#endif  // HWY_ONCE
