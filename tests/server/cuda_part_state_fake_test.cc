// The CUDA backend's own logic (lanes, staging through pinned memory, piece
// offsets, synchronisation before a staging buffer is reused, the sticky
// failure) run against tests/testing/fake_cuda_runtime.h instead of a GPU.
// This binary also runs every case of part_state_test.cc: its "cuda"
// instances use the fake device here, so they run rather than skip.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "common/initializer.h"
#include "common/sharding.h"
#include "kernels/adam_cpu.h"
#include "kernels/adam_scalars.h"
#include "server/cuda_part_state.h"
#include "server/table_part.h"
#include "tests/testing/fake_cuda_runtime.h"
#include "tests/testing/server_fixtures.h"

namespace adamasync {
namespace {

using testing::RandomVector;

TableSpec Spec(uint64_t n, bool amsgrad = false) {
  TableSpec spec{"t", n};
  spec.adam.amsgrad = amsgrad;
  spec.init = Initializer::Uniform(-1, 1, 5);
  return spec;
}

class CudaPartStateFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_cuda::Reset();
    CudaBackendOptions options;
    options.lanes = 3;
    backend_ = CudaStateBackend(options).value();
  }
  // Injected faults must not outlive the test (part_state_test's cases
  // share this fake device).
  void TearDown() override { fake_cuda::Reset(); }

  std::shared_ptr<StateBackend> backend_;
};

TEST_F(CudaPartStateFakeTest, DescribesTheDevice) {
  EXPECT_EQ(backend_->Describe(), "cuda:0 (fake CUDA device, compute 9.0, 1.0 GiB)");
}

TEST_F(CudaPartStateFakeTest, EveryHostCopyGoesThroughPinnedStaging) {
  constexpr uint64_t kN = 3 * kSegmentElements + 5;
  std::unique_ptr<PartState> state = backend_->Allocate(Spec(kN, true), {0, kN}).value();
  const std::vector<float> grad = RandomVector(kN, 1);
  ASSERT_TRUE(
      state->Step(kernels::MakeAdamScalars(Spec(kN, true).adam, 1, 1.0), 0, kN, grad.data()).ok());
  std::vector<float> p(kN), m(kN), v(kN), vmax(kN);
  ASSERT_TRUE(state->ReadState(0, kN, {p.data(), m.data(), v.data(), vmax.data()}).ok());
  ASSERT_TRUE(state->WriteState(0, kN, {p.data(), m.data(), v.data(), vmax.data()}).ok());
  ASSERT_TRUE(state->ReadParameters(0, kN, p.data()).ok());
  ASSERT_TRUE(state->WriteParameters(0, kN, p.data()).ok());
  EXPECT_GT(fake_cuda::Operations(), 0u);
  EXPECT_EQ(fake_cuda::PageableCopies(), 0u);
}

TEST_F(CudaPartStateFakeTest, PartsFreeTheirDeviceMemory) {
  const int lanes = fake_cuda::LiveDeviceBuffers();
  {
    std::unique_ptr<PartState> adam = backend_->Allocate(Spec(1000), {0, 1000}).value();
    std::unique_ptr<PartState> ams = backend_->Allocate(Spec(1000, true), {0, 1000}).value();
    EXPECT_EQ(fake_cuda::LiveDeviceBuffers(), lanes + 3 + 4);
  }
  EXPECT_EQ(fake_cuda::LiveDeviceBuffers(), lanes);
}

// More threads than lanes, each stepping its own range: the lanes are
// shared out and every range ends as AdamCpu would leave it.
TEST_F(CudaPartStateFakeTest, ConcurrentStepsOnDisjointRangesShareTheLanes) {
  constexpr int kThreads = 8;
  constexpr uint64_t kPerThread = kSegmentElements + 100;
  constexpr uint64_t kN = kThreads * kPerThread;
  const TableSpec spec = Spec(kN);
  std::unique_ptr<PartState> state = backend_->Allocate(spec, {0, kN}).value();
  std::vector<float> p(kN), m(kN), v(kN);
  FillInitialValues(spec.init, 0, absl::MakeSpan(p));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const uint64_t begin = t * kPerThread;
      for (uint64_t step = 1; step <= 5; ++step) {
        const std::vector<float> grad = RandomVector(kPerThread, t * 100 + step);
        const kernels::AdamScalars s = kernels::MakeAdamScalars(spec.adam, step, 1.0);
        EXPECT_TRUE(state->Step(s, begin, kPerThread, grad.data()).ok());
        kernels::AdamCpu(s, grad.data(), {p.data() + begin, m.data() + begin, v.data() + begin},
                         kPerThread);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<float> out(kN);
  ASSERT_TRUE(state->ReadParameters(0, kN, out.data()).ok());
  EXPECT_EQ(0, std::memcmp(out.data(), p.data(), kN * sizeof(float)));
}

TEST_F(CudaPartStateFakeTest, AFailedKernelIsStickyForEveryPart) {
  constexpr uint64_t kN = 2 * kSegmentElements;
  std::unique_ptr<PartState> a = backend_->Allocate(Spec(kN), {0, kN}).value();
  std::unique_ptr<PartState> b = backend_->Allocate(Spec(kN), {0, kN}).value();
  ASSERT_TRUE(backend_->Health().ok());
  const std::vector<float> grad = RandomVector(kN, 3);
  const kernels::AdamScalars s = kernels::MakeAdamScalars(Spec(kN).adam, 1, 1.0);
  // The second segment's kernel: upload, kernel, upload, [kernel].
  fake_cuda::FailOperation(4);
  const absl::Status failed = a->Step(s, 0, kN, grad.data());
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
  EXPECT_TRUE(absl::StrContains(failed.message(), "an Adam step")) << failed;
  EXPECT_TRUE(absl::StrContains(failed.message(), "cudaErrorIllegalAddress")) << failed;
  EXPECT_TRUE(absl::StrContains(failed.message(), "restart it from its checkpoint")) << failed;
  EXPECT_EQ(backend_->Health(), failed);
  // Everything after fails with the first error, on any part, even once
  // the device would work again; nothing new is enqueued.
  fake_cuda::Reset();
  std::vector<float> out(kN);
  EXPECT_EQ(b->ReadParameters(0, kN, out.data()), failed);
  EXPECT_EQ(b->WriteParameters(0, kN, out.data()), failed);
  EXPECT_EQ(a->Step(s, 0, kN, grad.data()), failed);
  EXPECT_EQ(backend_->Allocate(Spec(10), {0, 10}).status(), failed);
  EXPECT_EQ(fake_cuda::Operations(), 0u);
}

TEST_F(CudaPartStateFakeTest, AFailedInitialisationFreesWhatItAllocated) {
  const int lanes = fake_cuda::LiveDeviceBuffers();
  fake_cuda::FailOperation(1);
  absl::StatusOr<std::unique_ptr<PartState>> state =
      backend_->Allocate(Spec(3 * kSegmentElements), {0, 3 * kSegmentElements});
  EXPECT_EQ(state.status().code(), absl::StatusCode::kUnavailable) << state.status();
  EXPECT_TRUE(absl::StrContains(state.status().message(), "initialisation")) << state.status();
  EXPECT_EQ(fake_cuda::LiveDeviceBuffers(), lanes);
  EXPECT_FALSE(backend_->Health().ok());
}

// A whole TablePart on the device against one on the host: the same pushes
// (chunks of whole segments and a short last one, staleness scaling,
// synchronous rounds), pulls into unaligned buffers, snapshots and a
// restore must agree bit for bit.
TEST_F(CudaPartStateFakeTest, TablePartOnTheDeviceEqualsTablePartOnTheHost) {
  for (bool sync : {false, true}) {
    SCOPED_TRACE(sync ? "synchronous" : "asynchronous");
    constexpr uint64_t kN = 3 * kSegmentElements + 999;
    TableSpec spec = Spec(kN, /*amsgrad=*/true);
    if (sync) {
      spec.consistency.sync_workers = 2;
    } else {
      spec.consistency.staleness_policy = StalenessPolicy::kScale;
      spec.consistency.max_staleness = 1;
    }
    const ElementRange range{0, kN};
    TablePart host(spec, range);
    TablePart device(spec, range, backend_->Allocate(spec, range).value());
    bool scaled = false;
    for (uint64_t round = 0; round < 6; ++round) {
      for (uint64_t worker = 1; worker <= 2; ++worker) {
        const std::vector<float> grad = RandomVector(kN, round * 10 + worker);
        for (uint64_t offset = 0; offset < kN; offset += 2 * kSegmentElements) {
          PushArgs args;
          args.offset = offset;
          args.grad = absl::MakeConstSpan(grad).subspan(offset, 2 * kSegmentElements);
          // Async: every gradient from version 0, so later ones are scaled.
          args.pulled_version = sync ? round : 0;
          args.worker_id = worker;
          args.seq = round + 1;
          absl::StatusOr<PushResult> a = host.Push(args);
          absl::StatusOr<PushResult> b = device.Push(args);
          ASSERT_TRUE(a.ok() && b.ok()) << a.status() << " / " << b.status();
          EXPECT_EQ(a->version, b->version);
          EXPECT_EQ(a->lr_scale, b->lr_scale);
          scaled |= a->lr_scale < 1;
        }
      }
      std::vector<char> a(kN * 4 + 3), b(kN * 4 + 3);
      ASSERT_TRUE(host.Pull(0, kN, a.data() + 3).ok());
      ASSERT_TRUE(device.Pull(0, kN, b.data() + 3).ok());
      EXPECT_EQ(0, std::memcmp(a.data() + 3, b.data() + 3, kN * 4)) << "round " << round;
    }
    EXPECT_EQ(scaled, !sync);
    const TablePartSnapshot snap = host.Snapshot().value();
    const TablePartSnapshot from_device = device.Snapshot().value();
    EXPECT_EQ(0, std::memcmp(snap.p.data(), from_device.p.data(), kN * 4));
    EXPECT_EQ(0, std::memcmp(snap.m.data(), from_device.m.data(), kN * 4));
    EXPECT_EQ(0, std::memcmp(snap.v.data(), from_device.v.data(), kN * 4));
    EXPECT_EQ(0, std::memcmp(snap.vmax.data(), from_device.vmax.data(), kN * 4));
    EXPECT_EQ(snap.segment_steps, from_device.segment_steps);
    // A host snapshot restored onto a fresh device part reads back the same.
    TablePart restored(spec, range, backend_->Allocate(spec, range).value());
    ASSERT_TRUE(restored.Restore(snap).ok());
    const TablePartSnapshot again = restored.Snapshot().value();
    EXPECT_EQ(0, std::memcmp(snap.p.data(), again.p.data(), kN * 4));
    EXPECT_EQ(0, std::memcmp(snap.vmax.data(), again.vmax.data(), kN * 4));
    EXPECT_EQ(snap.segment_steps, again.segment_steps);
  }
  EXPECT_EQ(fake_cuda::PageableCopies(), 0u);
}

TEST(CudaBackendOptionsTest, BadOptionsAreRefused) {
  CudaBackendOptions options;
  options.lanes = 0;
  EXPECT_EQ(CudaStateBackend(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.lanes = 1;
  options.device = 1;
  absl::StatusOr<std::shared_ptr<StateBackend>> far = CudaStateBackend(options);
  EXPECT_EQ(far.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(far.status().message(), "has 1 device")) << far.status();
}

}  // namespace
}  // namespace adamasync
