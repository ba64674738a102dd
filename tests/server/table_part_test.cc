// TablePart: Adam applied per segment, versions, validation without side
// effects.
#include "server/table_part.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/adam_cpu.h"
#include "kernels/adam_scalars.h"
#include "tests/testing/server_fixtures.h"

namespace adamasync {
namespace {

TableSpec Spec(uint64_t n, bool amsgrad = false) {
  TableSpec spec;
  spec.name = "t";
  spec.num_elements = n;
  spec.adam.amsgrad = amsgrad;
  spec.init = Initializer::Uniform(-1, 1, 3);
  return spec;
}

using testing::RandomVector;

absl::StatusOr<uint64_t> PushChunk(TablePart& part, uint64_t offset, const std::vector<float>& grad,
                                   uint64_t pulled) {
  PushArgs args;
  args.offset = offset;
  args.grad = grad;
  args.pulled_version = pulled;
  auto result = part.Push(args);
  if (!result.ok()) return result.status();
  return result->version;
}

void ExpectSnapshotsEqual(const TablePartSnapshot& a, const TablePartSnapshot& b) {
  ASSERT_EQ(a.p.size(), b.p.size());
  EXPECT_EQ(0, std::memcmp(a.p.data(), b.p.data(), a.p.size() * 4));
  EXPECT_EQ(0, std::memcmp(a.m.data(), b.m.data(), a.m.size() * 4));
  EXPECT_EQ(0, std::memcmp(a.v.data(), b.v.data(), a.v.size() * 4));
  EXPECT_EQ(a.vmax, b.vmax);
  EXPECT_EQ(a.segment_steps, b.segment_steps);
}

TEST(TablePartTest, WholePartPushesMatchLocalAdamBitForBit) {
  const uint64_t n = 2 * kSegmentElements + 1234;
  const TableSpec spec = Spec(n, /*amsgrad=*/true);
  TablePart part(spec, {0, n});
  TablePartSnapshot local = part.Snapshot().value();
  for (int step = 1; step <= 5; ++step) {
    const std::vector<float> grad = RandomVector(n, step);
    auto version = PushChunk(part, 0, grad, step - 1);
    ASSERT_TRUE(version.ok()) << version.status();
    EXPECT_EQ(*version, static_cast<uint64_t>(step));
    kernels::AdamCpu(kernels::MakeAdamScalars(spec.adam, step), grad.data(),
                     {local.p.data(), local.m.data(), local.v.data(), local.vmax.data()}, n);
  }
  const TablePartSnapshot remote = part.Snapshot().value();
  EXPECT_EQ(0, std::memcmp(remote.p.data(), local.p.data(), n * 4));
  EXPECT_EQ(0, std::memcmp(remote.vmax.data(), local.vmax.data(), n * 4));
  EXPECT_EQ(part.Version(), 5u);
}

TEST(TablePartTest, ChunkPushAdvancesOnlyItsSegments) {
  const uint64_t n = 3 * kSegmentElements;
  TablePart part(Spec(n), {0, n});
  const std::vector<float> grad = RandomVector(kSegmentElements, 1);
  ASSERT_TRUE(PushChunk(part, kSegmentElements, grad, 0).ok());
  EXPECT_EQ(part.Snapshot().value().segment_steps, (std::vector<uint64_t>{0, 1, 0}));
  EXPECT_EQ(part.Version(), 0u);
}

TEST(TablePartTest, PullReturnsParametersAndVersion) {
  const uint64_t n = kSegmentElements + 10;
  TablePart part(Spec(n), {kShardBlockElements, kShardBlockElements + n});
  std::vector<char> out(n * 4);
  auto version = part.Pull(kShardBlockElements, n, out.data());
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, 0u);
  EXPECT_EQ(0, std::memcmp(out.data(), part.Snapshot().value().p.data(), n * 4));
}

TEST(TablePartTest, BadPushesChangeNothing) {
  const uint64_t n = 2 * kSegmentElements;
  TablePart part(Spec(n, true), {0, n});
  ASSERT_TRUE(PushChunk(part, 0, RandomVector(n, 9), 0).ok());
  const TablePartSnapshot before = part.Snapshot().value();

  std::vector<float> nan_grad = RandomVector(n, 2);
  nan_grad[n - 1] = std::numeric_limits<float>::quiet_NaN();
  auto status = PushChunk(part, 0, nan_grad, 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("NaN"), std::string::npos) << status;
  std::vector<float> inf_grad = RandomVector(n, 3);
  inf_grad[0] = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(PushChunk(part, 0, inf_grad, 1).status().code(), absl::StatusCode::kInvalidArgument);
  // Misaligned offset, past the end, empty.
  EXPECT_EQ(PushChunk(part, 1, RandomVector(10, 4), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PushChunk(part, 0, RandomVector(n + 1, 4), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PushChunk(part, 0, std::vector<float>(), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  ExpectSnapshotsEqual(before, part.Snapshot().value());
  EXPECT_EQ(part.Stats().rejected_pushes, 5u);
  EXPECT_EQ(part.Stats().pushes, 1u);
}

TEST(TablePartTest, StalenessIsCounted) {
  const uint64_t n = 100;
  TablePart part(Spec(n), {0, n});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(PushChunk(part, 0, RandomVector(n, i), 0).ok());
  // Pulled at version 0 each time: staleness 0, 1, 2.
  EXPECT_EQ(part.Stats().staleness_sum, 3u);
  EXPECT_EQ(part.Stats().staleness_max, 2u);
}

}  // namespace
}  // namespace adamasync
