// Tests of the single-tensor CUDA Adam kernel (kernels/adam_cuda.h). The
// kernel runs the same AdamElement as the CPU kernel, compiled without FMA
// contraction, so for every variant, size and alignment it must reproduce
// AdamCpu on fresh random data: within 1e-6 relative error at every one of
// 100 steps (asserted), and bit for bit (also asserted, and reported).
//
// The GPU tests skip themselves, saying why, when this build has no CUDA or
// the machine has no usable GPU; the error-path tests run everywhere.
#include "kernels/adam_cuda.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/adam_cpu.h"
#include "kernels/adam_scalars.h"
#include "tests/kernels/adam_test_variants.h"
#include "tests/kernels/cuda_test_util.h"

namespace adamasync {
namespace kernels {
namespace {

using testing_util::AdamVariant;
using testing_util::Compare;
using testing_util::Comparison;
using testing_util::DeviceFloats;
using testing_util::kGpuRelativeTolerance;

// Steps compared and how many were not bit-exact, over one test.
struct ExactnessTally {
  int compared = 0;
  int inexact = 0;
  double max_relative = 0;

  void Add(const Comparison& c) {
    ++compared;
    if (!c.bit_equal) ++inexact;
    if (c.max_relative > max_relative) max_relative = c.max_relative;
  }
  // Prints the tally and fails the test unless every comparison was exact.
  void Report(const char* what) const {
    std::printf("[%s] CUDA vs CPU: %d comparisons, %s (max relative error %.3g)\n", what, compared,
                inexact == 0 ? "all bit-exact" : "NOT all bit-exact", max_relative);
    testing::Test::RecordProperty("bit_exact_comparisons", compared - inexact);
    testing::Test::RecordProperty("inexact_comparisons", inexact);
    EXPECT_EQ(inexact, 0) << "the kernels share AdamElement and never contract a*b+c: "
                             "they should agree bit for bit";
  }
};

enum class Api { kAsyncOnStream, kDeviceSync };

// Element offsets (0-3 floats past 16-byte alignment) of g, p, m, v, vmax.
using Offsets = std::array<size_t, 5>;

// Runs `steps` Adam steps of `variant` on n fresh random elements on the
// CPU (AdamCpu) and the GPU side by side, comparing p after every step and
// m, v, vmax and the guard zones at the end.
void RunAgainstCpu(const AdamVariant& variant, size_t n, int steps, const Offsets& offsets, Api api,
                   uint32_t seed, ExactnessTally& tally) {
  SCOPED_TRACE(variant.name + " n=" + std::to_string(n) + " offsets=" + std::to_string(offsets[0]) +
               std::to_string(offsets[1]) + std::to_string(offsets[2]) +
               std::to_string(offsets[3]) + std::to_string(offsets[4]));
  absl::StatusOr<CudaStream> stream = CudaStream::Create();
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::vector<DeviceFloats> dev;
  for (size_t offset : offsets) {
    absl::StatusOr<DeviceFloats> d = DeviceFloats::Create(n, offset, *stream);
    ASSERT_TRUE(d.ok()) << d.status();
    dev.push_back(*std::move(d));
  }
  DeviceFloats &g = dev[0], &p = dev[1], &m = dev[2], &v = dev[3], &vmax = dev[4];

  std::mt19937 rng(seed);
  std::vector<float> hp = testing_util::RandomParams(rng, n);
  std::vector<float> hm(n, 0.0f), hv(n, 0.0f), hvmax(n, 0.0f);
  ADAMASYNC_ASSERT_OK(p.Upload(hp, *stream));
  ADAMASYNC_ASSERT_OK(m.Upload(hm, *stream));
  ADAMASYNC_ASSERT_OK(v.Upload(hv, *stream));
  ADAMASYNC_ASSERT_OK(vmax.Upload(hvmax, *stream));
  for (int t = 1; t <= steps; ++t) {
    const std::vector<float> grad = testing_util::RandomGradient(rng, n);
    const AdamScalars s = MakeAdamScalars(variant.config, t);
    AdamCpu(s, grad.data(), {hp.data(), hm.data(), hv.data(), hvmax.data()}, n);
    ADAMASYNC_ASSERT_OK(g.Upload(grad, *stream));
    const AdamSpan state{p.data(), m.data(), v.data(), vmax.data()};
    if (api == Api::kDeviceSync) {
      ADAMASYNC_ASSERT_OK(AdamCudaDevice(s, g.data(), state, n));
    } else {
      ADAMASYNC_ASSERT_OK(AdamCudaAsync(s, g.data(), state, n, *stream));
    }
    absl::StatusOr<std::vector<float>> gp = p.Download(*stream);  // synchronises
    ASSERT_TRUE(gp.ok()) << gp.status();
    const Comparison c = Compare(*gp, hp);
    tally.Add(c);
    ASSERT_LE(c.max_relative, kGpuRelativeTolerance)
        << "p at step " << t << ", first difference at element " << c.first_difference;
  }
  const std::pair<const char*, std::pair<DeviceFloats*, std::vector<float>*>> finals[] = {
      {"m", {&m, &hm}}, {"v", {&v, &hv}}, {"vmax", {&vmax, &hvmax}}};
  for (const auto& [name, arrays] : finals) {
    absl::StatusOr<std::vector<float>> got = arrays.first->Download(*stream);
    ASSERT_TRUE(got.ok()) << got.status();
    const Comparison c = Compare(*got, *arrays.second);
    tally.Add(c);
    EXPECT_LE(c.max_relative, kGpuRelativeTolerance) << "final " << name;
  }
  for (const DeviceFloats& d : dev) ADAMASYNC_ASSERT_OK(d.CheckGuards(*stream));
}

TEST(AdamCudaTest, DeviceCountIsAnErrorOrPositive) {
  const absl::StatusOr<int> count = CudaDeviceCount();
  if (count.ok()) {
    EXPECT_GT(*count, 0);
  } else if (CudaCompiledIn()) {
    EXPECT_EQ(count.status().code(), absl::StatusCode::kFailedPrecondition) << count.status();
  } else {
    EXPECT_EQ(count.status().code(), absl::StatusCode::kUnimplemented) << count.status();
  }
}

TEST(AdamCudaTest, WithoutCudaEveryCallIsUnimplemented) {
  if (CudaCompiledIn()) GTEST_SKIP() << "this build has CUDA; the stubs are not linked";
  const auto unimplemented = [](const absl::Status& s) {
    return s.code() == absl::StatusCode::kUnimplemented;
  };
  float x = 0;
  const CudaStream stream;
  EXPECT_TRUE(unimplemented(AdamCudaAsync({}, &x, {&x, &x, &x, &x}, 1, stream)));
  EXPECT_TRUE(unimplemented(AdamCudaDevice({}, &x, {&x, &x, &x, &x}, 1)));
  EXPECT_TRUE(unimplemented(AdamCudaMultiTensor::Create({}).status()));
  EXPECT_TRUE(unimplemented(SetCudaDevice(0)));
  EXPECT_TRUE(unimplemented(GetCudaDeviceProperties(0).status()));
  EXPECT_TRUE(unimplemented(CudaStream::Create().status()));
  EXPECT_TRUE(unimplemented(stream.Synchronize()));
  EXPECT_TRUE(unimplemented(CudaEvent::Create().status()));
  EXPECT_TRUE(unimplemented(DeviceBuffer::Allocate(64).status()));
  EXPECT_TRUE(unimplemented(PinnedHostBuffer::Allocate(64).status()));
  EXPECT_TRUE(unimplemented(CopyToDeviceAsync(&x, 4, stream, &x)));
  EXPECT_TRUE(unimplemented(CopyToHostAsync(&x, 4, stream, &x)));
  EXPECT_TRUE(unimplemented(CopyOnDeviceAsync(&x, 4, stream, &x)));
  EXPECT_TRUE(unimplemented(FillBytesAsync(0, 4, stream, &x)));
}

TEST(AdamCudaTest, NullPointersAreRejectedBeforeAnyDeviceWork) {
  if (!CudaCompiledIn()) GTEST_SKIP() << "built without CUDA: every call is UNIMPLEMENTED";
  // Checked before CUDA is touched: these hold on machines without a GPU.
  float x = 0;
  const CudaStream stream;
  AdamScalars s;
  EXPECT_EQ(AdamCudaAsync(s, nullptr, {&x, &x, &x, nullptr}, 3, stream).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AdamCudaAsync(s, &x, {&x, nullptr, &x, nullptr}, 3, stream).code(),
            absl::StatusCode::kInvalidArgument);
  s.amsgrad = true;
  EXPECT_EQ(AdamCudaAsync(s, &x, {&x, &x, &x, nullptr}, 3, stream).code(),
            absl::StatusCode::kInvalidArgument);
  // Nothing to do is not an error, whatever the pointers.
  EXPECT_TRUE(AdamCudaAsync(s, nullptr, {}, 0, stream).ok());
  EXPECT_TRUE(AdamCudaDevice(s, nullptr, {}, 0).ok());
}

TEST(AdamCudaTest, WithoutAGpuCallsFailCleanly) {
  if (!CudaCompiledIn())
    GTEST_SKIP() << "built without CUDA: see WithoutCudaEveryCallIsUnimplemented";
  if (CudaDeviceCount().ok()) GTEST_SKIP() << "a GPU is usable here; this tests its absence";
  EXPECT_EQ(DeviceBuffer::Allocate(1024).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(PinnedHostBuffer::Allocate(1024).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CudaStream::Create().status().code(), absl::StatusCode::kFailedPrecondition);
  // Never dereferenced: the launch fails before the kernel could run.
  float* fake = reinterpret_cast<float*>(uintptr_t{1} << 20);
  const absl::Status launch = AdamCudaAsync({}, fake, {fake, fake, fake, nullptr}, 8, CudaStream());
  EXPECT_EQ(launch.code(), absl::StatusCode::kFailedPrecondition) << launch;
  EXPECT_EQ(AdamCudaMultiTensor::Create({}).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(AdamCudaTest, MatchesAdamCpuEveryStepForEveryVariant) {
  ADAMASYNC_SKIP_WITHOUT_GPU();
  ExactnessTally tally;
  // Sizes around the float4 width, odd sizes, and one larger than a
  // device-sized grid covers in one pass (132 SMs x 2048 threads x 4
  // floats = 1.1M), so the grid-stride loop runs.
  constexpr size_t kLarge = (size_t{1} << 22) + 3;
  for (const AdamVariant& variant : testing_util::AllAdamVariants()) {
    for (size_t n : {size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{5}, size_t{7}, size_t{1000},
                     size_t{4099}, kLarge}) {
      const int steps = n == kLarge ? 10 : 100;
      ASSERT_NO_FATAL_FAILURE(RunAgainstCpu(variant, n, steps, {0, 0, 0, 0, 0}, Api::kAsyncOnStream,
                                            17 + static_cast<uint32_t>(n), tally));
    }
  }
  tally.Report("every variant");
}

TEST(AdamCudaTest, UnalignedBasePointersAndTails) {
  ADAMASYNC_SKIP_WITHOUT_GPU();
  ExactnessTally tally;
  const std::vector<AdamVariant> variants = testing_util::AllAdamVariants();
  const Offsets patterns[] = {
      {1, 1, 1, 1, 1},  // one common misalignment: 3 peeled elements, then float4
      {2, 2, 2, 2, 2},  // 2 peeled
      {3, 3, 3, 3, 3},  // 1 peeled
      {0, 1, 2, 3, 0},  // mixed: scalar path
      {0, 0, 0, 0, 1},  // only vmax misaligned: scalar with AMSGrad, float4 without
      {1, 1, 1, 1, 0},
  };
  for (const AdamVariant& variant : variants) {
    if (variant.name != "adam" && variant.name != "amsgrad" &&
        variant.name != "adamw_amsgrad_maximize") {
      continue;
    }
    for (const Offsets& offsets : patterns) {
      for (size_t n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 1001, 4099}) {
        ASSERT_NO_FATAL_FAILURE(RunAgainstCpu(variant, n, 100, offsets, Api::kAsyncOnStream,
                                              31 + static_cast<uint32_t>(n), tally));
      }
    }
  }
  tally.Report("unaligned");
}

TEST(AdamCudaTest, SynchronousDefaultStreamCallMatchesToo) {
  ADAMASYNC_SKIP_WITHOUT_GPU();
  ExactnessTally tally;
  for (const AdamVariant& variant : testing_util::AllAdamVariants()) {
    ASSERT_NO_FATAL_FAILURE(
        RunAgainstCpu(variant, 4097, 100, {0, 0, 0, 0, 0}, Api::kDeviceSync, 5, tally));
  }
  tally.Report("AdamCudaDevice");
}

}  // namespace
}  // namespace kernels
}  // namespace adamasync
