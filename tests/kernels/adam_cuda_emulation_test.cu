// The CUDA kernels' indexing, run on the host. The loops every GPU thread
// runs (kernels/adam_cuda_ranges.cuh) and the multi-tensor plan and chunk
// loop (kernels/adam_cuda_multi_plan.cuh) are __host__ __device__; here
// nvcc's host pass runs them one emulated thread at a time over host
// memory, for grids of several shapes, and the result must equal AdamCpu
// bit for bit with every guard byte around every array untouched. An
// element missed, applied twice or written out of bounds shows up.
//
// This needs no GPU, so it runs on every machine of a CUDA build; what it
// cannot check (code generation, the CUDA runtime calls, real concurrency)
// is left to adam_cuda_test and adam_cuda_multi_test on a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/adam_cpu.h"
#include "kernels/adam_cuda.h"
#include "kernels/adam_cuda_multi_plan.cuh"
#include "kernels/adam_cuda_ranges.cuh"
#include "kernels/adam_scalars.h"
#include "tests/kernels/adam_test_variants.h"

namespace adamasync {
namespace kernels {
namespace internal {
namespace {

constexpr size_t kGuard = 16;  // floats on each side
constexpr uint32_t kGuardBits = 0x7F7F7F7Fu;

// n host floats starting `offset` floats past a 64-byte boundary, with
// guards on both sides.
class HostFloats {
 public:
  HostFloats(size_t n, size_t offset) : n_(n) {
    storage_.resize(n + offset + 2 * kGuard + 16);
    const uintptr_t raw = reinterpret_cast<uintptr_t>(storage_.data() + kGuard);
    const size_t skip = ((64 - raw % 64) % 64) / sizeof(uint32_t);
    begin_ = kGuard + skip + offset;
    for (uint32_t& x : storage_) x = kGuardBits;
  }
  float* data() { return reinterpret_cast<float*>(storage_.data() + begin_); }
  void Set(const std::vector<float>& values) { std::memcpy(data(), values.data(), n_ * 4); }
  std::vector<float> Get() { return std::vector<float>(data(), data() + n_); }
  bool GuardsIntact() const {
    for (size_t i = 0; i < storage_.size(); ++i) {
      if ((i < begin_ || i >= begin_ + n_) && storage_[i] != kGuardBits) return false;
    }
    return true;
  }

 private:
  std::vector<uint32_t> storage_;  // uint32_t: guard bits stay bits
  size_t n_;
  size_t begin_ = 0;
};

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

using Offsets = std::array<size_t, 5>;  // g, p, m, v, vmax

// One tensor on the host: the emulated kernel's arrays and AdamCpu's copy.
struct Tensor {
  Tensor(size_t n, const Offsets& o, std::mt19937& rng)
      : n(n), g(n, o[0]), p(n, o[1]), m(n, o[2]), v(n, o[3]), vmax(n, o[4]) {
    cpu_p = testing_util::RandomParams(rng, n);
    cpu_m.assign(n, 0.0f);
    cpu_v.assign(n, 0.0f);
    cpu_vmax.assign(n, 0.0f);
    p.Set(cpu_p);
    m.Set(cpu_m);
    v.Set(cpu_v);
    vmax.Set(cpu_vmax);
  }
  AdamSpan span() { return {p.data(), m.data(), v.data(), vmax.data()}; }
  // Steps the CPU copy and loads the gradient for the emulated kernel.
  void StepCpu(const AdamScalars& s, std::mt19937& rng) {
    const std::vector<float> grad = testing_util::RandomGradient(rng, n);
    g.Set(grad);
    AdamCpu(s, grad.data(), {cpu_p.data(), cpu_m.data(), cpu_v.data(), cpu_vmax.data()}, n);
  }
  // EXPECTs the emulated arrays to equal the CPU's and the guards intact.
  void ExpectMatches(const std::string& where) {
    EXPECT_TRUE(BitEqual(p.Get(), cpu_p)) << where << " p";
    EXPECT_TRUE(BitEqual(m.Get(), cpu_m)) << where << " m";
    EXPECT_TRUE(BitEqual(v.Get(), cpu_v)) << where << " v";
    EXPECT_TRUE(BitEqual(vmax.Get(), cpu_vmax)) << where << " vmax";
    for (HostFloats* a : {&g, &p, &m, &v, &vmax}) {
      EXPECT_TRUE(a->GuardsIntact()) << where << " guard overwritten";
    }
  }

  size_t n;
  HostFloats g, p, m, v, vmax;
  std::vector<float> cpu_p, cpu_m, cpu_v, cpu_vmax;
};

// What AdamKernel (adam_cuda.cu) does on a grid of `blocks` x `threads`.
void EmulateSingle(const AdamScalars& s, Tensor& t, size_t blocks, size_t threads) {
  AdamSpan st = t.span();
  const AdamLayout layout = LayoutOf(t.g.data(), st, s.amsgrad, t.n);
  const size_t stride = blocks * threads;
  for (size_t first = 0; first < stride; ++first) {
    if (s.amsgrad) {
      AdamRange<true>(s, t.g.data(), st.p, st.m, st.v, st.vmax, layout.head, layout.vector, 0, t.n,
                      first, stride);
    } else {
      AdamRange<false>(s, t.g.data(), st.p, st.m, st.v, nullptr, layout.head, layout.vector, 0, t.n,
                       first, stride);
    }
  }
}

TEST(AdamCudaEmulationTest, LayoutPeelsACommonMisalignmentAndFallsBackOtherwise) {
  alignas(64) float buf[64] = {};
  const auto layout = [&](Offsets o, bool amsgrad, size_t n) {
    return LayoutOf(buf + o[0], {buf + 16 + o[1], buf + 32 + o[2], buf + 48 + o[3], buf + 8 + o[4]},
                    amsgrad, n);
  };
  EXPECT_EQ(layout({0, 0, 0, 0, 0}, true, 100).head, 0u);
  EXPECT_TRUE(layout({0, 0, 0, 0, 0}, true, 100).vector);
  EXPECT_EQ(layout({1, 1, 1, 1, 1}, true, 100).head, 3u);
  EXPECT_EQ(layout({2, 2, 2, 2, 2}, true, 100).head, 2u);
  EXPECT_EQ(layout({3, 3, 3, 3, 3}, true, 100).head, 1u);
  EXPECT_TRUE(layout({3, 3, 3, 3, 3}, true, 100).vector);
  EXPECT_EQ(layout({1, 1, 1, 1, 1}, true, 2).head, 2u) << "head clipped to n";
  EXPECT_FALSE(layout({0, 1, 0, 0, 0}, true, 100).vector);
  EXPECT_EQ(layout({0, 1, 0, 0, 0}, true, 100).head, 0u);
  // vmax counts only with AMSGrad.
  EXPECT_FALSE(layout({0, 0, 0, 0, 1}, true, 100).vector);
  EXPECT_TRUE(layout({0, 0, 0, 0, 1}, false, 100).vector);
  // Not even 4-byte aligned: scalar.
  const float* odd = reinterpret_cast<const float*>(reinterpret_cast<const char*>(buf) + 2);
  float* odd_state = const_cast<float*>(odd);
  EXPECT_FALSE(LayoutOf(odd, {odd_state, odd_state, odd_state, nullptr}, false, 100).vector);
}

TEST(AdamCudaEmulationTest, SingleTensorGridsCoverEveryElementOnce) {
  const std::vector<testing_util::AdamVariant> variants = testing_util::AllAdamVariants();
  const Offsets patterns[] = {{0, 0, 0, 0, 0}, {1, 1, 1, 1, 1}, {2, 2, 2, 2, 2},
                              {3, 3, 3, 3, 3}, {0, 1, 2, 3, 0}, {0, 0, 0, 0, 2}};
  // (blocks, threads): one thread, fewer threads than float4 groups (the
  // grid-stride loop wraps), and more threads than elements.
  const std::pair<size_t, size_t> grids[] = {{1, 1}, {2, 32}, {3, 256}};
  for (const auto& variant : variants) {
    for (const Offsets& offsets : patterns) {
      for (size_t n : {1, 2, 3, 4, 5, 7, 8, 9, 63, 1001, 4099}) {
        for (const auto& [blocks, threads] : grids) {
          const std::string where = variant.name + " n=" + std::to_string(n) + " offsets " +
                                    std::to_string(offsets[1]) + " grid " + std::to_string(blocks) +
                                    "x" + std::to_string(threads);
          std::mt19937 rng(static_cast<uint32_t>(n * 7 + blocks));
          Tensor t(n, offsets, rng);
          for (int step = 1; step <= 3; ++step) {
            const AdamScalars s = MakeAdamScalars(variant.config, step);
            t.StepCpu(s, rng);
            EmulateSingle(s, t, blocks, threads);
          }
          t.ExpectMatches(where);
          if (testing::Test::HasFailure()) return;
        }
      }
    }
  }
}

TEST(AdamCudaEmulationTest, MultiTensorPlanAndChunksCoverEveryElementOnce) {
  const std::vector<testing_util::AdamVariant> variants = testing_util::AllAdamVariants();
  std::mt19937 rng(99);
  std::uniform_int_distribution<size_t> size(1, 5000), offset(0, 3), kind(0, 2);
  std::uniform_int_distribution<size_t> pick(0, variants.size() - 1);
  constexpr size_t kChunk = 1024;
  std::vector<std::unique_ptr<Tensor>> tensors;
  std::vector<AdamConfig> configs;
  std::vector<size_t> sizes = {1, 2, 3, 4, 5, 1024, 1025, 1027, 3 * 1024 + 1, 0, 7};
  while (sizes.size() < 120) sizes.push_back(size(rng));
  for (size_t n : sizes) {
    const size_t o = offset(rng);
    Offsets offsets = {o, o, o, o, o};
    if (kind(rng) == 0) {
      for (size_t& x : offsets) x = offset(rng);
    }
    tensors.push_back(std::make_unique<Tensor>(n, offsets, rng));
    configs.push_back(variants[pick(rng)].config);
  }
  for (int step = 1; step <= 3; ++step) {
    std::vector<AdamCudaTensor> list;
    for (size_t i = 0; i < tensors.size(); ++i) {
      // Tensors of one launch at different steps, as segments can be.
      const AdamScalars s = MakeAdamScalars(configs[i], step + i % 5);
      tensors[i]->StepCpu(s, rng);
      list.push_back({s, tensors[i]->g.data(), tensors[i]->span(), tensors[i]->n});
    }
    absl::StatusOr<MultiTensorPlanSize> size_or = SizeMultiTensorPlan(list, kChunk);
    ASSERT_TRUE(size_or.ok()) << size_or.status();
    const MultiTensorPlanSize plan = *size_or;
    EXPECT_EQ(plan.descriptors, tensors.size() - 1) << "the empty tensor takes no descriptor";
    EXPECT_EQ(plan.map_offset % 16, 0u);
    std::vector<uint64_t> storage((plan.bytes + 7) / 8);
    WriteMultiTensorPlan(list, kChunk, plan, storage.data());
    const auto* descriptors = reinterpret_cast<const MultiTensorDescriptor*>(storage.data());
    const auto* map = reinterpret_cast<const unsigned int*>(
        reinterpret_cast<const char*>(storage.data()) + plan.map_offset);
    // The map lists each tensor's chunks together, in order.
    for (size_t c = 0; c < plan.chunks; ++c) {
      ASSERT_LT(map[c], plan.descriptors);
      ASSERT_LE(descriptors[map[c]].first_chunk, c);
      if (c > 0) ASSERT_GE(map[c], map[c - 1]);
    }
    // Blocks take chunks in any order; run them back to front, 256 threads
    // each.
    for (size_t c = plan.chunks; c-- > 0;) {
      MultiTensorDescriptor d;
      std::memcpy(&d, &descriptors[map[c]], sizeof(d));
      for (size_t thread = 0; thread < 256; ++thread) {
        AdamChunk(d, c - d.first_chunk, kChunk, thread, 256);
      }
    }
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    tensors[i]->ExpectMatches("tensor " + std::to_string(i) +
                              " n=" + std::to_string(tensors[i]->n));
  }
}

TEST(AdamCudaEmulationTest, PlanRejectsNullPointersAndTooManyChunks) {
  float x[4] = {};
  AdamCudaTensor t;
  t.grad = x;
  t.state = {x, x, x, nullptr};
  t.n = 4;
  EXPECT_TRUE(SizeMultiTensorPlan({&t, 1}, 1024).ok());
  t.scalars.amsgrad = true;
  EXPECT_EQ(SizeMultiTensorPlan({&t, 1}, 1024).status().code(), absl::StatusCode::kInvalidArgument);
  t.scalars.amsgrad = false;
  t.state.m = nullptr;
  EXPECT_EQ(SizeMultiTensorPlan({&t, 1}, 1024).status().code(), absl::StatusCode::kInvalidArgument);
  // Sizing never touches the memory, so a fake huge tensor is fine here.
  t.state.m = x;
  t.n = (size_t{1} << 31) * 1024;
  EXPECT_EQ(SizeMultiTensorPlan({&t, 1}, 1024).status().code(), absl::StatusCode::kInvalidArgument);
  t.n = (size_t{1} << 31) * 1024 - 4096;
  EXPECT_TRUE(SizeMultiTensorPlan({&t, 1}, 1024).ok());
}

}  // namespace
}  // namespace internal
}  // namespace kernels
}  // namespace adamasync
