// Tests of the Highway CPU Adam kernel (kernels/adam_cpu.h):
//  - it computes PyTorch's formula: each of 1000 steps agrees with a float64
//    evaluation written here to within the step's own fp32 roundings (far
//    inside the required 1e-5 relative on p), and a 1000-step trajectory
//    drifts from the float64 one by no more than those roundings add up to;
//  - the first step with wd = 0 is p - lr * g / (|g| + eps);
//  - it is bit-identical to a scalar loop over AdamElement (adam_math.h), so
//    SIMD lanes and the scalar tail compute the same thing;
//  - AdamCpuParallel is bit-identical to AdamCpu for 1..4 threads;
//  - AllFinite finds a NaN or an infinity at any position.
#include "kernels/adam_cpu.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/adam_math.h"
#include "kernels/adam_scalars.h"
#include "tests/kernels/adam_test_variants.h"

namespace adamasync {
namespace kernels {
namespace {

using testing_util::AdamVariant;
using testing_util::AllAdamVariants;
using testing_util::RandomGradient;
using testing_util::RandomParams;

// Sizes that are not multiples of any vector width, so every run has a
// scalar tail (and size 1 has nothing else).
const std::vector<size_t> kOddSizes = {1, 2, 3, 7, 15, 17, 31, 33, 63, 65, 1000, 4099};

// fp32 state of one table.
struct State {
  std::vector<float> p, m, v, vmax;
  explicit State(std::vector<float> p0)
      : p(std::move(p0)), m(p.size(), 0.0f), v(p.size(), 0.0f), vmax(p.size(), 0.0f) {}
  AdamSpan Span() { return {p.data(), m.data(), v.data(), vmax.data()}; }
};

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The index of the first element whose bits differ, or -1.
long FirstBitDifference(const std::vector<float>& a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return static_cast<long>(i);
  }
  return -1;
}

// ---------------------------------------------------------------------------
// (a) Against a float64 evaluation of PyTorch's formula.

// Adam state in double precision.
struct ReferenceState {
  std::vector<double> p, m, v, vmax;

  // The exact values of an fp32 state.
  static ReferenceState Of(const State& s) {
    auto widen = [](const std::vector<float>& x) {
      return std::vector<double>(x.begin(), x.end());
    };
    return {widen(s.p), widen(s.m), widen(s.v), widen(s.vmax)};
  }
};

// One step of PyTorch's Adam in double precision, written from REFERENCE.md
// section 1 independently of adam_math.h and adam_scalars.cc. The Python
// floats that PyTorch hands to its fp32 ops (wd, 1 - lr*wd, 1 - b1, b2,
// 1 - b2, lr / bc1, sqrt(bc2), eps) are rounded to fp32 here as well, since
// that rounding is part of PyTorch's semantics; everything else is exact to
// double precision. `update_scale`, when given, receives for every element
// step_size * (|m| + |(1 - b1) * g|) / denom: the size the update would have
// without cancellation in m, which scales its fp32 rounding error.
void ReferenceStep(const AdamConfig& c, uint64_t t, const std::vector<float>& grad,
                   ReferenceState& st, std::vector<double>* update_scale = nullptr) {
  auto f32 = [](double x) { return static_cast<double>(static_cast<float>(x)); };
  const double bc1 = 1.0 - std::pow(c.beta1, static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(c.beta2, static_cast<double>(t));
  const double step_size = f32(c.lr / bc1);
  const double bc2_sqrt = f32(std::sqrt(bc2));
  const double wd = f32(c.weight_decay);
  const double decay = f32(1.0 - c.lr * c.weight_decay);
  const double w1 = f32(1.0 - c.beta1);
  const double b2 = f32(c.beta2);
  const double omb2 = f32(1.0 - c.beta2);
  const double eps = f32(c.eps);
  for (size_t i = 0; i < st.p.size(); ++i) {
    double g = c.maximize ? -static_cast<double>(grad[i]) : grad[i];
    if (c.algorithm == Algorithm::kAdamW) {
      if (c.weight_decay != 0) st.p[i] *= decay;
    } else {
      g += wd * st.p[i];
    }
    const double m_terms = std::abs(st.m[i]) + std::abs(w1 * g);
    st.m[i] += w1 * (g - st.m[i]);
    st.v[i] = b2 * st.v[i] + omb2 * g * g;
    st.vmax[i] = std::max(st.vmax[i], st.v[i]);
    const double denom = std::sqrt(c.amsgrad ? st.vmax[i] : st.v[i]) / bc2_sqrt + eps;
    st.p[i] -= step_size * st.m[i] / denom;
    if (update_scale) (*update_scale)[i] = step_size * (m_terms + std::abs(st.m[i])) / denom;
  }
}

// The spacing of fp32 numbers at |x|.
double UlpOf(double x) {
  const float f = std::abs(static_cast<float>(x));
  return static_cast<double>(std::nextafter(f, FLT_MAX)) - f;
}

// Relative error is measured against max(|p_ref|, kFloor): parameters start
// around unit scale (N(0, 1)) and some pass through zero, where an error
// of an ulp of their earlier magnitude would read as a huge relative one.
constexpr double kFloor = 1e-2;
constexpr int kSteps = 1000;

// Every step of 1000, from the kernel's own fp32 state: the reference takes
// that state and steps it in double. Errors cannot compound here, so the
// kernel must agree to 1e-5 relative (the requirement), and in fact to
// within the roundings of one step: one ulp of p (AdamW's decay and the
// update round once each) plus 1e-6 of the update's scale (the fp32 ops
// that compute the update).
TEST(AdamCpuTest, EachOf1000StepsMatchesFloat64Reference) {
  constexpr double kTolerance = 1e-5;
  std::printf("AdamCpu dispatches to %s\n", AdamCpuTargetName());
  double worst_overall = 0;
  for (const AdamVariant& variant : AllAdamVariants()) {
    double worst_rel = 0, worst_of_bound = 0, worst_v = 0;
    for (size_t n : {size_t{1}, size_t{7}, size_t{1000}, size_t{4099}}) {
      SCOPED_TRACE(variant.name + " n=" + std::to_string(n));
      std::mt19937 rng(1234 + n);
      State state(RandomParams(rng, n));
      std::vector<double> scale(n);
      for (int t = 1; t <= kSteps; ++t) {
        const std::vector<float> grad = RandomGradient(rng, n);
        ReferenceState ref = ReferenceState::Of(state);
        const std::vector<double> p_before = ref.p;
        AdamCpu(MakeAdamScalars(variant.config, t), grad.data(), state.Span(), n);
        ReferenceStep(variant.config, t, grad, ref, &scale);
        for (size_t i = 0; i < n; ++i) {
          const double err = std::abs(state.p[i] - ref.p[i]);
          const double rel = err / std::max(std::abs(ref.p[i]), kFloor);
          const double bound =
              UlpOf(std::max(std::abs(p_before[i]), std::abs(ref.p[i]))) + 1e-6 * scale[i];
          // v has no cancellation: a few fp32 roundings, relative.
          const double rel_v = std::abs(state.v[i] - ref.v[i]) / std::max(ref.v[i], 1e-30);
          if (!(rel <= kTolerance) || !(err <= bound) || !(rel_v <= 1e-6)) {
            FAIL() << "step " << t << " element " << i << ": p " << state.p[i] << " vs " << ref.p[i]
                   << " (" << rel << " relative, bound " << bound << "), v " << state.v[i] << " vs "
                   << ref.v[i];
          }
          worst_rel = std::max(worst_rel, rel);
          worst_of_bound = std::max(worst_of_bound, err / bound);
          worst_v = std::max(worst_v, rel_v);
        }
      }
    }
    std::printf(
        "  %-26s per step: max relative error on p %.3g (%.1f%% of the rounding bound), "
        "on v %.3g\n",
        variant.name.c_str(), worst_rel, 100 * worst_of_bound, worst_v);
    worst_overall = std::max(worst_overall, worst_rel);
  }
  std::printf("per step, max relative error on p over all variants: %.3g (tolerance %.0e)\n",
              worst_overall, kTolerance);
}

// 1000 steps run independently in fp32 (the kernel) and in double (the
// reference). The trajectories drift apart by p's own roundings, at most
// one ulp of p per step, plus the update's error, which grows to ~1e-5 of
// its scale as fp32 v (an average over ~1/(1-b2) steps) collects its
// roundings. The bound is the sum of both over the steps so far. It is
// nearly reached when p's roundings are correlated: a decay factor of
// 1 - 1e-5 moves p by an almost constant number of ulps each step, which
// rounds the same way every time, so AdamW drifts to ~2e-5 relative after
// 1000 steps while plain Adam stays near 5e-6. PyTorch's fp32 Adam drifts
// the same way; the per-step test above is the tight one.
TEST(AdamCpuTest, ThousandStepTrajectoryStaysWithinAccumulatedRounding) {
  double worst_overall = 0;
  for (const AdamVariant& variant : AllAdamVariants()) {
    double worst_rel = 0, worst_of_bound = 0;
    for (size_t n : {size_t{1}, size_t{7}, size_t{1000}, size_t{4099}}) {
      SCOPED_TRACE(variant.name + " n=" + std::to_string(n));
      std::mt19937 rng(1234 + n);
      State state(RandomParams(rng, n));
      ReferenceState ref = ReferenceState::Of(state);
      std::vector<double> bound(n, 0.0), scale(n);
      for (int t = 1; t <= kSteps; ++t) {
        const std::vector<float> grad = RandomGradient(rng, n);
        const std::vector<double> p_before = ref.p;
        AdamCpu(MakeAdamScalars(variant.config, t), grad.data(), state.Span(), n);
        ReferenceStep(variant.config, t, grad, ref, &scale);
        for (size_t i = 0; i < n; ++i) {
          bound[i] += UlpOf(std::max(std::abs(p_before[i]), std::abs(ref.p[i]))) + 1e-5 * scale[i];
          const double err = std::abs(state.p[i] - ref.p[i]);
          if (!(err <= bound[i])) {
            FAIL() << "step " << t << " element " << i << ": p " << state.p[i] << " vs " << ref.p[i]
                   << ", error " << err << " above the bound " << bound[i];
          }
          worst_rel = std::max(worst_rel, err / std::max(std::abs(ref.p[i]), kFloor));
          worst_of_bound = std::max(worst_of_bound, err / bound[i]);
        }
      }
    }
    std::printf("  %-26s after %d steps: max relative error on p %.3g (%.0f%% of the bound)\n",
                variant.name.c_str(), kSteps, worst_rel, 100 * worst_of_bound);
    worst_overall = std::max(worst_overall, worst_rel);
  }
  std::printf("trajectory, max relative error on p over all variants: %.3g\n", worst_overall);
}

// ---------------------------------------------------------------------------
// (b) The first step with wd = 0 is p - lr * g / (|g| + eps).

TEST(AdamCpuTest, FirstStepIsSignedLearningRate) {
  constexpr size_t kN = 4099;
  for (bool amsgrad : {false, true}) {
    for (bool maximize : {false, true}) {
      for (double lr : {1e-3, 1e-1}) {
        AdamConfig config;
        config.lr = lr;
        config.amsgrad = amsgrad;
        config.maximize = maximize;
        std::mt19937 rng(7);
        State state(RandomParams(rng, kN));
        const std::vector<float> p0 = state.p;
        const std::vector<float> grad = RandomGradient(rng, kN);
        AdamCpu(MakeAdamScalars(config, 1), grad.data(), state.Span(), kN);
        for (size_t i = 0; i < kN; ++i) {
          const double g = maximize ? -static_cast<double>(grad[i]) : grad[i];
          const double step = config.lr * g / (std::abs(g) + config.eps);
          const double expected = p0[i] - step;
          // The fp32 update term is within a few ulps of `step`; p itself
          // then rounds once more.
          const double ulp_p = std::nextafter(std::abs(static_cast<float>(expected)), FLT_MAX) -
                               std::abs(static_cast<float>(expected));
          const double tolerance = ulp_p + 8 * FLT_EPSILON * std::abs(step);
          ASSERT_NEAR(state.p[i], expected, tolerance)
              << "element " << i << " g=" << grad[i] << " amsgrad=" << amsgrad
              << " maximize=" << maximize << " lr=" << lr;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// (c) Bit-identical to the scalar AdamElement.

// Gradients that also hold signed zeros, subnormals and large values.
std::vector<float> AwkwardGradient(std::mt19937& rng, size_t n) {
  std::vector<float> g = RandomGradient(rng, n);
  const float specials[] = {0.0f,    -0.0f,   FLT_TRUE_MIN, -FLT_TRUE_MIN, 1e-40f,
                            -3e-39f, FLT_MIN, 1e10f,        -1e10f,        1e-20f};
  std::uniform_int_distribution<size_t> pick(0, std::size(specials) - 1);
  for (size_t i = 0; i < n; i += 5) g[i] = specials[pick(rng)];
  return g;
}

// Highway emulates MulAdd with two roundings on x86 targets below AVX2.
bool TargetHasNativeFma() {
  const std::string target = AdamCpuTargetName();
  return target != "SSE4" && target != "SSSE3" && target != "SSE2" && target != "EMU128" &&
         target != "SCALAR";
}

TEST(AdamCpuTest, BitIdenticalToScalarAdamElement) {
  if (!TargetHasNativeFma()) {
    GTEST_SKIP() << "SIMD target " << AdamCpuTargetName() << " has no native FMA";
  }
  constexpr int kSteps = 40;
  for (const AdamVariant& variant : AllAdamVariants()) {
    for (size_t n : kOddSizes) {
      SCOPED_TRACE(variant.name + " n=" + std::to_string(n));
      std::mt19937 rng(99 + n);
      State simd(RandomParams(rng, n));
      State scalar = simd;
      for (int t = 1; t <= kSteps; ++t) {
        const std::vector<float> grad = AwkwardGradient(rng, n);
        const AdamScalars s = MakeAdamScalars(variant.config, t);
        AdamCpu(s, grad.data(), simd.Span(), n);
        for (size_t i = 0; i < n; ++i) {
          AdamElement(s, grad[i], scalar.p[i], scalar.m[i], scalar.v[i], scalar.vmax[i]);
        }
        const long dp = FirstBitDifference(simd.p, scalar.p);
        const long dm = FirstBitDifference(simd.m, scalar.m);
        const long dv = FirstBitDifference(simd.v, scalar.v);
        const long dvmax = FirstBitDifference(simd.vmax, scalar.vmax);
        ASSERT_EQ(dp, -1) << "p differs at step " << t << ": simd " << simd.p[dp] << " scalar "
                          << scalar.p[dp];
        ASSERT_EQ(dm, -1) << "m differs at step " << t;
        ASSERT_EQ(dv, -1) << "v differs at step " << t;
        ASSERT_EQ(dvmax, -1) << "vmax differs at step " << t;
      }
    }
  }
}

TEST(AdamCpuTest, WithoutAmsgradVmaxIsNotTouched) {
  constexpr size_t kN = 1000;
  std::mt19937 rng(5);
  State state(RandomParams(rng, kN));
  const std::vector<float> grad = RandomGradient(rng, kN);
  AdamSpan span = state.Span();
  span.vmax = nullptr;  // allowed unless amsgrad
  AdamCpu(MakeAdamScalars(AdamConfig(), 1), grad.data(), span, kN);
  for (float x : state.vmax) ASSERT_EQ(x, 0.0f);
}

TEST(AdamCpuTest, EmptySpanIsANoOp) {
  AdamCpu(MakeAdamScalars(AdamConfig(), 1), nullptr, AdamSpan(), 0);
  AdamCpuParallel(MakeAdamScalars(AdamConfig(), 1), nullptr, AdamSpan(), 0, 4, 1);
}

// ---------------------------------------------------------------------------
// (d) AdamCpuParallel is bit-identical to AdamCpu.

TEST(AdamCpuParallelTest, BitIdenticalToAdamCpu) {
  constexpr int kSteps = 3;
  std::vector<size_t> sizes = kOddSizes;
  sizes.push_back(4 * 1024 + 3);  // per-thread shares that are multiples of 16
  sizes.push_back(64 * 1024 + 5);
  // The split does not depend on the variant, only on vmax being there.
  std::vector<AdamVariant> variants;
  for (const AdamVariant& v : AllAdamVariants()) {
    if (v.name == "adam" || v.name == "adamw_amsgrad_maximize") variants.push_back(v);
  }
  ASSERT_EQ(variants.size(), 2u);
  for (const AdamVariant& variant : variants) {
    for (size_t n : sizes) {
      for (int threads = 1; threads <= 4; ++threads) {
        for (size_t min_per_thread : {size_t{1}, size_t{16}, size_t{1000}}) {
          SCOPED_TRACE(variant.name + " n=" + std::to_string(n) + " threads=" +
                       std::to_string(threads) + " min=" + std::to_string(min_per_thread));
          std::mt19937 rng(3 + n);
          State serial(RandomParams(rng, n));
          State parallel = serial;
          for (int t = 1; t <= kSteps; ++t) {
            const std::vector<float> grad = RandomGradient(rng, n);
            const AdamScalars s = MakeAdamScalars(variant.config, t);
            AdamCpu(s, grad.data(), serial.Span(), n);
            AdamCpuParallel(s, grad.data(), parallel.Span(), n, threads, min_per_thread);
          }
          const long dp = FirstBitDifference(parallel.p, serial.p);
          ASSERT_EQ(dp, -1) << "p differs first at element " << dp;
          ASSERT_TRUE(BitEqual(parallel.m, serial.m));
          ASSERT_TRUE(BitEqual(parallel.v, serial.v));
          ASSERT_TRUE(BitEqual(parallel.vmax, serial.vmax));
        }
      }
    }
  }
}

TEST(AdamCpuParallelTest, DefaultGranularityCoversLargeSpans) {
  // Above 4 x 256Ki elements the default splits over all 4 threads; 3 extra
  // elements make each share an exact multiple of 16.
  const size_t n = 4 * 256 * 1024 + 3;
  std::mt19937 rng(11);
  State serial(RandomParams(rng, n));
  State parallel = serial;
  const std::vector<float> grad = RandomGradient(rng, n);
  const AdamScalars s = MakeAdamScalars(AdamConfig(), 1);
  AdamCpu(s, grad.data(), serial.Span(), n);
  AdamCpuParallel(s, grad.data(), parallel.Span(), n, 4);
  const long dp = FirstBitDifference(parallel.p, serial.p);
  ASSERT_EQ(dp, -1) << "p differs first at element " << dp << " of " << n;
  ASSERT_TRUE(BitEqual(parallel.m, serial.m));
  ASSERT_TRUE(BitEqual(parallel.v, serial.v));
}

// ---------------------------------------------------------------------------
// (e) AllFinite.

TEST(AllFiniteTest, FindsNanAndInfinityAtEveryPosition) {
  const float bad[] = {
      std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
      std::numeric_limits<float>::signaling_NaN(), std::numeric_limits<float>::infinity(),
      -std::numeric_limits<float>::infinity()};
  for (size_t n : {size_t{1}, size_t{3}, size_t{7}, size_t{17}, size_t{31}, size_t{33}, size_t{101},
                   size_t{1001}}) {
    std::mt19937 rng(n);
    std::vector<float> x = RandomParams(rng, n);
    ASSERT_TRUE(AllFinite(x.data(), n)) << "n=" << n;
    for (size_t pos = 0; pos < n; ++pos) {
      for (float b : bad) {
        const float saved = x[pos];
        x[pos] = b;
        ASSERT_FALSE(AllFinite(x.data(), n)) << "n=" << n << " position " << pos << " " << b;
        x[pos] = saved;
      }
    }
  }
}

TEST(AllFiniteTest, AcceptsEveryFiniteKind) {
  const float edge[] = {0.0f,    -0.0f,    FLT_TRUE_MIN, -FLT_TRUE_MIN, 1e-40f, -1e-39f,
                        FLT_MIN, -FLT_MIN, FLT_MAX,      -FLT_MAX,      1.0f,   -3.4e38f};
  for (size_t n :
       {size_t{0}, size_t{1}, size_t{5}, size_t{12}, size_t{19}, size_t{33}, size_t{1001}}) {
    std::vector<float> x(n);
    for (size_t i = 0; i < n; ++i) x[i] = edge[i % std::size(edge)];
    EXPECT_TRUE(AllFinite(x.data(), n)) << "n=" << n;
  }
  // Every finite exponent at every position of a vector-and-a-bit.
  std::vector<float> x(37, 1.0f);
  for (int e = -149; e <= 127; ++e) {
    for (size_t pos = 0; pos < x.size(); ++pos) {
      x[pos] = std::ldexp(1.0f, e);
      ASSERT_TRUE(AllFinite(x.data(), x.size())) << "2^" << e << " at " << pos;
      x[pos] = 1.0f;
    }
  }
}

}  // namespace
}  // namespace kernels
}  // namespace adamasync
