// Tests of the multi-tensor CUDA Adam launch (AdamCudaMultiTensor in
// kernels/adam_cuda.h): many tensors of odd sizes, each with its own
// variant, step count and alignment, stepped in one launch, must end up bit
// for bit where per-tensor launches (AdamCudaAsync) and the CPU kernel
// (AdamCpu) put them, at every step.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/adam_cpu.h"
#include "kernels/adam_cuda.h"
#include "kernels/adam_scalars.h"
#include "tests/kernels/adam_test_variants.h"
#include "tests/kernels/cuda_test_util.h"

namespace adamasync {
namespace kernels {
namespace {

using testing_util::Compare;
using testing_util::Comparison;
using testing_util::DeviceFloats;
using testing_util::kGpuRelativeTolerance;

// One tensor, three times: stepped by the multi-tensor launch, by its own
// launch, and on the host.
struct Case {
  size_t n = 0;
  AdamConfig config;
  uint64_t first_step = 1;                  // tensors of one launch sit at different steps
  std::array<size_t, 5> offsets{};          // g, p, m, v, vmax misalignment in floats
  std::vector<DeviceFloats> multi, single;  // g, p, m, v, vmax each
  std::vector<float> p, m, v, vmax;         // host
};

AdamSpan SpanOf(const std::vector<DeviceFloats>& d) {
  return {d[1].data(), d[2].data(), d[3].data(), d[4].data()};
}

// Makes `sizes.size()` cases with random variants, steps and offsets.
void MakeCases(const std::vector<size_t>& sizes, std::mt19937& rng, const CudaStream& stream,
               std::vector<Case>& cases) {
  const std::vector<testing_util::AdamVariant> variants = testing_util::AllAdamVariants();
  std::uniform_int_distribution<size_t> pick(0, variants.size() - 1), offset(0, 3);
  std::uniform_int_distribution<int> step(1, 50), mixed(0, 3);
  for (size_t n : sizes) {
    Case c;
    c.n = n;
    c.config = variants[pick(rng)].config;
    c.first_step = static_cast<uint64_t>(step(rng));
    // A quarter each: aligned, one common misalignment (peeled head), mixed
    // misalignments (scalar path), only vmax off.
    const size_t common = offset(rng);
    switch (mixed(rng)) {
      case 0:
        c.offsets = {0, 0, 0, 0, 0};
        break;
      case 1:
        c.offsets = {common, common, common, common, common};
        break;
      case 2:
        for (size_t& o : c.offsets) o = offset(rng);
        break;
      default:
        c.offsets = {0, 0, 0, 0, 1 + common % 3};
    }
    c.p = testing_util::RandomParams(rng, n);
    c.m.assign(n, 0.0f);
    c.v.assign(n, 0.0f);
    c.vmax.assign(n, 0.0f);
    for (auto* copies : {&c.multi, &c.single}) {
      for (size_t k = 0; k < 5; ++k) {
        absl::StatusOr<DeviceFloats> d = DeviceFloats::Create(n, c.offsets[k], stream);
        ASSERT_TRUE(d.ok()) << d.status();
        copies->push_back(*std::move(d));
      }
      ADAMASYNC_ASSERT_OK((*copies)[1].Upload(c.p, stream));
      ADAMASYNC_ASSERT_OK((*copies)[2].Upload(c.m, stream));
      ADAMASYNC_ASSERT_OK((*copies)[3].Upload(c.v, stream));
      ADAMASYNC_ASSERT_OK((*copies)[4].Upload(c.vmax, stream));
    }
    cases.push_back(std::move(c));
  }
}

// `steps` steps of every case: one multi-tensor launch per step on
// `multi_stream`, per-tensor launches on `stream`, AdamCpu on the host;
// p compared after every step, everything (and the guards) at the end.
void StepAndCompare(std::vector<Case>& cases, int steps, AdamCudaMultiTensor& multi,
                    const CudaStream& stream, const CudaStream& multi_stream, std::mt19937& rng,
                    int& compared, int& inexact) {
  for (int t = 0; t < steps; ++t) {
    std::vector<AdamCudaTensor> tensors;
    for (Case& c : cases) {
      const std::vector<float> grad = testing_util::RandomGradient(rng, c.n);
      const AdamScalars s = MakeAdamScalars(c.config, c.first_step + t);
      AdamCpu(s, grad.data(), {c.p.data(), c.m.data(), c.v.data(), c.vmax.data()}, c.n);
      ADAMASYNC_ASSERT_OK(c.multi[0].Upload(grad, stream));
      ADAMASYNC_ASSERT_OK(c.single[0].Upload(grad, stream));
      ADAMASYNC_ASSERT_OK(AdamCudaAsync(s, c.single[0].data(), SpanOf(c.single), c.n, stream));
      tensors.push_back({s, c.multi[0].data(), SpanOf(c.multi), c.n});
    }
    ADAMASYNC_ASSERT_OK(multi.ApplyAsync(tensors, multi_stream));
    ADAMASYNC_ASSERT_OK(multi_stream.Synchronize());
    ADAMASYNC_ASSERT_OK(stream.Synchronize());
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      SCOPED_TRACE("tensor " + std::to_string(i) + " n=" + std::to_string(c.n) + " step " +
                   std::to_string(c.first_step + t));
      absl::StatusOr<std::vector<float>> pm = c.multi[1].Download(stream);
      absl::StatusOr<std::vector<float>> ps = c.single[1].Download(stream);
      ASSERT_TRUE(pm.ok() && ps.ok());
      // Multi and per-tensor launches run the same code: always identical.
      ASSERT_TRUE(Compare(*pm, *ps).bit_equal) << "multi-tensor launch differs from AdamCudaAsync";
      const Comparison vs_cpu = Compare(*pm, c.p);
      ++compared;
      if (!vs_cpu.bit_equal) ++inexact;
      ASSERT_LE(vs_cpu.max_relative, kGpuRelativeTolerance)
          << "p vs AdamCpu, first difference at element " << vs_cpu.first_difference;
    }
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE("tensor " + std::to_string(i) + " n=" + std::to_string(c.n));
    const std::vector<float>* host[] = {nullptr, &c.p, &c.m, &c.v, &c.vmax};
    for (size_t k = 1; k < 5; ++k) {
      absl::StatusOr<std::vector<float>> got = c.multi[k].Download(stream);
      ASSERT_TRUE(got.ok()) << got.status();
      const Comparison cmp = Compare(*got, *host[k]);
      ++compared;
      if (!cmp.bit_equal) ++inexact;
      EXPECT_LE(cmp.max_relative, kGpuRelativeTolerance) << "array " << k;
    }
    for (const DeviceFloats& d : c.multi) ADAMASYNC_ASSERT_OK(d.CheckGuards(stream));
  }
}

void Report(const char* what, int compared, int inexact) {
  std::printf("[%s] multi-tensor CUDA vs CPU: %d comparisons, %s\n", what, compared,
              inexact == 0 ? "all bit-exact" : "NOT all bit-exact");
  EXPECT_EQ(inexact, 0) << "expected bit-exact agreement with AdamCpu";
}

TEST(AdamCudaMultiTest, OptionsAreValidatedBeforeAnyDeviceWork) {
  if (!CudaCompiledIn()) {
    EXPECT_EQ(AdamCudaMultiTensor::Create({}).status().code(), absl::StatusCode::kUnimplemented);
    return;
  }
  for (size_t chunk : {size_t{0}, size_t{1000}, size_t{1} << 25}) {
    AdamCudaMultiOptions options;
    options.chunk_elements = chunk;
    EXPECT_EQ(AdamCudaMultiTensor::Create(options).status().code(),
              absl::StatusCode::kInvalidArgument)
        << chunk;
  }
}

TEST(AdamCudaMultiTest, ManySmallOddTensorsEqualPerTensorLaunches) {
  ADAMASYNC_SKIP_WITHOUT_GPU();
  absl::StatusOr<CudaStream> stream = CudaStream::Create();
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::mt19937 rng(2024);
  std::uniform_int_distribution<size_t> size(1, 3000);
  std::vector<size_t> sizes = {1, 2, 3, 4, 5, 6, 7, 9, 17, 1023, 1025};
  while (sizes.size() < 300) sizes.push_back(size(rng) | 1);  // odd
  std::vector<Case> cases;
  ASSERT_NO_FATAL_FAILURE(MakeCases(sizes, rng, *stream, cases));
  absl::StatusOr<std::unique_ptr<AdamCudaMultiTensor>> multi = AdamCudaMultiTensor::Create({});
  ASSERT_TRUE(multi.ok()) << multi.status();
  int compared = 0, inexact = 0;
  ASSERT_NO_FATAL_FAILURE(
      StepAndCompare(cases, 100, **multi, *stream, *stream, rng, compared, inexact));
  Report("300 small tensors", compared, inexact);
}

TEST(AdamCudaMultiTest, TensorsSpanningManyChunksOnAnotherStream) {
  ADAMASYNC_SKIP_WITHOUT_GPU();
  absl::StatusOr<CudaStream> stream = CudaStream::Create();
  absl::StatusOr<CudaStream> other = CudaStream::Create();
  ASSERT_TRUE(stream.ok() && other.ok());
  std::mt19937 rng(7);
  // Chunks of 1024 elements: these tensors take 1 to 50 chunks, with heads
  // and tails, next to single-chunk ones.
  const std::vector<size_t> sizes = {1024, 1025, 3 * 1024 + 3, 4093, 50 * 1024 - 1, 7, 2048 + 2, 1};
  std::vector<Case> cases;
  ASSERT_NO_FATAL_FAILURE(MakeCases(sizes, rng, *stream, cases));
  AdamCudaMultiOptions options;
  options.chunk_elements = 1024;
  absl::StatusOr<std::unique_ptr<AdamCudaMultiTensor>> multi = AdamCudaMultiTensor::Create(options);
  ASSERT_TRUE(multi.ok()) << multi.status();
  int compared = 0, inexact = 0;
  ASSERT_NO_FATAL_FAILURE(
      StepAndCompare(cases, 100, **multi, *stream, *other, rng, compared, inexact));
  Report("multi-chunk tensors", compared, inexact);
}

TEST(AdamCudaMultiTest, WorkspaceGrowsAcrossCallsAndEmptyInputsAreNoOps) {
  ADAMASYNC_SKIP_WITHOUT_GPU();
  absl::StatusOr<CudaStream> stream = CudaStream::Create();
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<std::unique_ptr<AdamCudaMultiTensor>> multi = AdamCudaMultiTensor::Create({});
  ASSERT_TRUE(multi.ok()) << multi.status();
  ADAMASYNC_ASSERT_OK((*multi)->ApplyAsync({}, *stream));
  const AdamCudaTensor empty{};  // n == 0: skipped, null pointers and all
  ADAMASYNC_ASSERT_OK((*multi)->ApplyAsync({&empty, 1}, *stream));
  EXPECT_EQ((*multi)->workspace_bytes(), 0u);
  AdamCudaTensor bad{};
  bad.n = 4;
  EXPECT_EQ((*multi)->ApplyAsync({&bad, 1}, *stream).code(), absl::StatusCode::kInvalidArgument);

  std::mt19937 rng(11);
  int compared = 0, inexact = 0;
  for (size_t count : {size_t{3}, size_t{40}, size_t{700}}) {
    std::vector<size_t> sizes;
    std::uniform_int_distribution<size_t> size(1, 200);
    for (size_t i = 0; i < count; ++i) sizes.push_back(size(rng));
    std::vector<Case> cases;
    ASSERT_NO_FATAL_FAILURE(MakeCases(sizes, rng, *stream, cases));
    const size_t before = (*multi)->workspace_bytes();
    ASSERT_NO_FATAL_FAILURE(
        StepAndCompare(cases, 5, **multi, *stream, *stream, rng, compared, inexact));
    EXPECT_GE((*multi)->workspace_bytes(), before);
  }
  Report("growing workspace", compared, inexact);
}

}  // namespace
}  // namespace kernels
}  // namespace adamasync
