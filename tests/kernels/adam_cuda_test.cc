// Tests of the CUDA Adam kernel (kernels/adam_cuda.h): AdamCudaDevice runs
// the same AdamElement as the CPU kernel, so for every variant it must
// reproduce AdamCpu bit for bit over 100 steps. Skips itself when this build
// has no CUDA or the machine has no usable GPU.
#include "kernels/adam_cuda.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/adam_cpu.h"
#include "kernels/adam_scalars.h"
#include "tests/kernels/adam_test_variants.h"

#if ADAMASYNC_TEST_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace adamasync {
namespace kernels {
namespace {

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

#if ADAMASYNC_TEST_WITH_CUDA

// Device buffers of one table; frees them on destruction.
class DeviceBuffers {
 public:
  explicit DeviceBuffers(size_t n) : n_(n) {
    for (float** b : {&grad, &p, &m, &v, &vmax}) {
      if (cudaMalloc(reinterpret_cast<void**>(b), n * sizeof(float)) != cudaSuccess) ok_ = false;
    }
  }
  ~DeviceBuffers() {
    for (float* b : {grad, p, m, v, vmax}) cudaFree(b);
  }
  DeviceBuffers(const DeviceBuffers&) = delete;
  DeviceBuffers& operator=(const DeviceBuffers&) = delete;

  bool ok() const { return ok_; }
  bool Upload(float* dst, const std::vector<float>& src) {
    return cudaMemcpy(dst, src.data(), n_ * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess;
  }
  bool Download(std::vector<float>& dst, const float* src) {
    dst.resize(n_);
    return cudaMemcpy(dst.data(), src, n_ * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess;
  }

  float* grad = nullptr;
  float* p = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  float* vmax = nullptr;

 private:
  size_t n_;
  bool ok_ = true;
};

// Largest |a - b| / max(|b|, 1e-30) and whether all bits agree.
struct Comparison {
  double max_relative = 0;
  bool bit_equal = true;
  size_t first_difference = 0;
};

Comparison Compare(const std::vector<float>& gpu, const std::vector<float>& cpu) {
  Comparison c;
  for (size_t i = 0; i < gpu.size(); ++i) {
    if (std::memcmp(&gpu[i], &cpu[i], sizeof(float)) != 0) {
      if (c.bit_equal) c.first_difference = i;
      c.bit_equal = false;
      const double rel = std::abs(static_cast<double>(gpu[i]) - cpu[i]) /
                         std::max(std::abs(static_cast<double>(cpu[i])), 1e-30);
      if (!(rel <= c.max_relative)) c.max_relative = rel;
    }
  }
  return c;
}

#endif  // ADAMASYNC_TEST_WITH_CUDA

TEST(AdamCudaTest, MatchesAdamCpuEveryStepForEveryVariant) {
#if !ADAMASYNC_TEST_WITH_CUDA
  GTEST_SKIP() << "built without CUDA (ADAMASYNC_HAVE_CUDA is OFF)";
#else
  const absl::StatusOr<int> count = CudaDeviceCount();
  if (!count.ok()) {
    GTEST_SKIP() << "no usable CUDA device: " << count.status();
  }
  constexpr int kSteps = 100;
  // 2^19 + 3 elements need more threads than one grid launches, so the
  // kernel's grid-stride loop runs; fewer steps there keep the test fast.
  constexpr size_t kLarge = (size_t{1} << 19) + 3;
  constexpr int kLargeSteps = 10;
  // Relative tolerance per step; the kernels share AdamElement and are
  // compiled without FMA contraction, so they should agree exactly.
  constexpr double kTolerance = 1e-6;
  bool all_bit_exact = true;
  for (const testing_util::AdamVariant& variant : testing_util::AllAdamVariants()) {
    for (size_t n : {size_t{1}, size_t{7}, size_t{1000}, size_t{4099}, kLarge}) {
      SCOPED_TRACE(variant.name + " n=" + std::to_string(n));
      std::mt19937 rng(17 + n);
      std::vector<float> p = testing_util::RandomParams(rng, n);
      std::vector<float> m(n, 0.0f), v(n, 0.0f), vmax(n, 0.0f);
      DeviceBuffers dev(n);
      ASSERT_TRUE(dev.ok());
      ASSERT_TRUE(dev.Upload(dev.p, p) && dev.Upload(dev.m, m) && dev.Upload(dev.v, v) &&
                  dev.Upload(dev.vmax, vmax));
      std::vector<float> gp, gm, gv, gvmax;
      const int steps = n == kLarge ? kLargeSteps : kSteps;
      for (int t = 1; t <= steps; ++t) {
        const std::vector<float> grad = testing_util::RandomGradient(rng, n);
        const AdamScalars s = MakeAdamScalars(variant.config, t);
        AdamCpu(s, grad.data(), {p.data(), m.data(), v.data(), vmax.data()}, n);
        ASSERT_TRUE(dev.Upload(dev.grad, grad));
        const absl::Status status = AdamCudaDevice(s, dev.grad, {dev.p, dev.m, dev.v, dev.vmax}, n);
        ASSERT_TRUE(status.ok()) << status;
        ASSERT_TRUE(dev.Download(gp, dev.p));
        const Comparison cp = Compare(gp, p);
        ASSERT_LE(cp.max_relative, kTolerance)
            << "p at step " << t << " element " << cp.first_difference;
        all_bit_exact &= cp.bit_equal;
      }
      ASSERT_TRUE(dev.Download(gm, dev.m) && dev.Download(gv, dev.v) &&
                  dev.Download(gvmax, dev.vmax));
      for (const auto& [name, gpu, cpu] :
           {std::tuple<const char*, std::vector<float>*, std::vector<float>*>{"m", &gm, &m},
            {"v", &gv, &v},
            {"vmax", &gvmax, &vmax}}) {
        const Comparison c = Compare(*gpu, *cpu);
        EXPECT_LE(c.max_relative, kTolerance) << "final " << name;
        all_bit_exact &= c.bit_equal;
      }
    }
  }
  std::printf("CUDA vs CPU: %s\n", all_bit_exact ? "bit-exact on every step and variant"
                                                 : "within tolerance, NOT bit-exact");
  // Exactness is the design goal (shared AdamElement, no contraction).
  EXPECT_TRUE(all_bit_exact);
#endif
}

}  // namespace
}  // namespace kernels
}  // namespace adamasync
