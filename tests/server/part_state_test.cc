// PartState on every backend: host memory always, CUDA device memory where a
// GPU is usable (skipped otherwise, saying why). Each must start at the
// table's initial values, step exactly like AdamCpu on the same inputs (bit
// for bit: the CUDA kernel runs the same per-element code without
// contraction), and copy parameters and state in and out unchanged.
#include "server/part_state.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/initializer.h"
#include "common/sharding.h"
#include "kernels/adam_cpu.h"
#include "kernels/adam_scalars.h"
#include "server/cuda_part_state.h"
#include "tests/testing/server_fixtures.h"

namespace adamasync {
namespace {

using testing::RandomVector;

TableSpec Spec(uint64_t n, bool amsgrad) {
  TableSpec spec;
  spec.name = "t";
  spec.num_elements = n;
  spec.adam.algorithm = Algorithm::kAdamW;
  spec.adam.lr = 1e-2;
  spec.adam.weight_decay = 0.01;
  spec.adam.amsgrad = amsgrad;
  spec.init = Initializer::Normal(0, 0.1, /*seed=*/7);
  return spec;
}

class PartStateTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "cpu") {
      backend_ = HostStateBackend();
      return;
    }
    absl::StatusOr<std::shared_ptr<StateBackend>> cuda = CudaStateBackend({});
    if (!cuda.ok()) GTEST_SKIP() << "no usable CUDA device: " << cuda.status();
    backend_ = *cuda;
  }

  std::unique_ptr<PartState> Allocate(const TableSpec& spec, ElementRange range) {
    absl::StatusOr<std::unique_ptr<PartState>> state = backend_->Allocate(spec, range);
    EXPECT_TRUE(state.ok()) << state.status();
    return state.ok() ? *std::move(state) : nullptr;
  }

  std::shared_ptr<StateBackend> backend_;
};

// Sizes around the staging lane (one segment) and the vector width.
constexpr uint64_t kOddSize = 2 * kSegmentElements + 13;

TEST_P(PartStateTest, StartsAtTheInitializerWithZeroMoments) {
  const TableSpec spec = Spec(3 * kSegmentElements, true);
  const ElementRange range{kSegmentElements, kSegmentElements + kOddSize};
  std::unique_ptr<PartState> state = Allocate(spec, range);
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->size(), kOddSize);
  EXPECT_EQ(state->bytes(), 4 * kOddSize * sizeof(float));
  std::vector<float> expected(kOddSize);
  FillInitialValues(spec.init, range.begin, absl::MakeSpan(expected));
  std::vector<float> p(kOddSize, -1), m(kOddSize, -1), v(kOddSize, -1), vmax(kOddSize, -1);
  ASSERT_TRUE(state->ReadState(0, kOddSize, {p.data(), m.data(), v.data(), vmax.data()}).ok());
  EXPECT_EQ(p, expected);
  EXPECT_EQ(m, std::vector<float>(kOddSize, 0.0f));
  EXPECT_EQ(v, std::vector<float>(kOddSize, 0.0f));
  EXPECT_EQ(vmax, std::vector<float>(kOddSize, 0.0f));
}

TEST_P(PartStateTest, StepsEqualAdamCpuBitForBit) {
  for (bool amsgrad : {false, true}) {
    SCOPED_TRACE(amsgrad ? "amsgrad" : "adamw");
    const TableSpec spec = Spec(kOddSize, amsgrad);
    std::unique_ptr<PartState> state = Allocate(spec, {0, kOddSize});
    ASSERT_NE(state, nullptr);
    std::vector<float> p(kOddSize), m(kOddSize), v(kOddSize), vmax(amsgrad ? kOddSize : 0);
    FillInitialValues(spec.init, 0, absl::MakeSpan(p));
    kernels::AdamSpan local{p.data(), m.data(), v.data(), amsgrad ? vmax.data() : nullptr};
    for (uint64_t step = 1; step <= 20; ++step) {
      const std::vector<float> grad = RandomVector(kOddSize, static_cast<uint32_t>(step));
      const kernels::AdamScalars s = kernels::MakeAdamScalars(spec.adam, step, 1.0);
      // The whole part in one call, then a piece at an odd offset.
      ASSERT_TRUE(state->Step(s, 0, kOddSize, grad.data()).ok());
      kernels::AdamCpu(s, grad.data(), local, kOddSize);
      const uint64_t begin = 5, n = kSegmentElements + 3;
      const kernels::AdamScalars s2 = kernels::MakeAdamScalars(spec.adam, step, 0.5);
      ASSERT_TRUE(state->Step(s2, begin, n, grad.data()).ok());
      kernels::AdamCpu(s2, grad.data(),
                       {p.data() + begin, m.data() + begin, v.data() + begin,
                        amsgrad ? vmax.data() + begin : nullptr},
                       n);
    }
    std::vector<float> p2(kOddSize), m2(kOddSize), v2(kOddSize), vmax2(vmax.size());
    ASSERT_TRUE(
        state->ReadState(0, kOddSize, {p2.data(), m2.data(), v2.data(), vmax2.data()}).ok());
    EXPECT_EQ(0, std::memcmp(p.data(), p2.data(), kOddSize * 4));
    EXPECT_EQ(0, std::memcmp(m.data(), m2.data(), kOddSize * 4));
    EXPECT_EQ(0, std::memcmp(v.data(), v2.data(), kOddSize * 4));
    EXPECT_EQ(vmax, vmax2);
  }
}

TEST_P(PartStateTest, ParametersAndStateCopyInAndOutUnchanged) {
  const TableSpec spec = Spec(kOddSize, true);
  std::unique_ptr<PartState> state = Allocate(spec, {0, kOddSize});
  ASSERT_NE(state, nullptr);
  const std::vector<float> p = RandomVector(kOddSize, 1), m = RandomVector(kOddSize, 2),
                           v = RandomVector(kOddSize, 3), vmax = RandomVector(kOddSize, 4);
  ASSERT_TRUE(state->WriteState(0, kOddSize, {p.data(), m.data(), v.data(), vmax.data()}).ok());
  // Parameters read into a buffer that is not 4-byte aligned (the wire's).
  std::vector<char> bytes(kOddSize * 4 + 1);
  ASSERT_TRUE(state->ReadParameters(0, kOddSize, bytes.data() + 1).ok());
  EXPECT_EQ(0, std::memcmp(bytes.data() + 1, p.data(), kOddSize * 4));
  // Overwrite a middle piece of p; m, v, vmax stay.
  const std::vector<float> piece = RandomVector(kSegmentElements + 1, 5);
  ASSERT_TRUE(state->WriteParameters(100, piece.size(), piece.data()).ok());
  std::vector<float> p2(kOddSize), m2(kOddSize), v2(kOddSize), vmax2(kOddSize);
  ASSERT_TRUE(state->ReadState(0, kOddSize, {p2.data(), m2.data(), v2.data(), vmax2.data()}).ok());
  std::vector<float> expected = p;
  std::copy(piece.begin(), piece.end(), expected.begin() + 100);
  EXPECT_EQ(p2, expected);
  EXPECT_EQ(m2, m);
  EXPECT_EQ(v2, v);
  EXPECT_EQ(vmax2, vmax);
}

TEST_P(PartStateTest, AnEmptyPartHoldsNothing) {
  std::unique_ptr<PartState> state = Allocate(Spec(10, false), {10, 10});
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->size(), 0u);
  EXPECT_EQ(state->bytes(), 0u);
  EXPECT_TRUE(state->ReadState(0, 0, {}).ok());
  EXPECT_TRUE(backend_->Health().ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, PartStateTest, ::testing::Values("cpu", "cuda"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace adamasync
