// Tests of the device plumbing behind the CUDA kernels
// (kernels/cuda_device.h, kernels/device_buffer.h): buffers, pinned
// staging, copies, fills, streams and events. Skips itself without a usable
// GPU; the argument checks run everywhere CUDA is compiled in.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

#include "kernels/cuda_device.h"
#include "kernels/device_buffer.h"
#include "tests/kernels/cuda_test_util.h"

namespace adamasync {
namespace kernels {
namespace {

TEST(CudaDeviceBufferTest, NullPointersAreRejectedBeforeAnyDeviceWork) {
  if (!CudaCompiledIn()) GTEST_SKIP() << "built without CUDA: every call is UNIMPLEMENTED";
  char x = 0;
  const CudaStream stream;
  EXPECT_EQ(CopyToDeviceAsync(nullptr, 4, stream, &x).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CopyToHostAsync(&x, 4, stream, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CopyOnDeviceAsync(nullptr, 4, stream, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FillBytesAsync(0, 4, stream, nullptr).code(), absl::StatusCode::kInvalidArgument);
  // Zero bytes: nothing to do, nothing to fail.
  EXPECT_TRUE(CopyToDeviceAsync(nullptr, 0, stream, nullptr).ok());
  EXPECT_TRUE(FillBytesAsync(0, 0, stream, nullptr).ok());
  // Empty handles say so instead of crashing.
  CudaEvent empty;
  EXPECT_EQ(empty.Record(stream).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CudaEvent::ElapsedSeconds(empty, empty).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CudaDeviceBufferTest, DevicePropertiesAreSane) {
  ADAMASYNC_SKIP_WITHOUT_GPU();
  ADAMASYNC_ASSERT_OK(SetCudaDevice(0));
  absl::StatusOr<CudaDeviceProperties> props = GetCudaDeviceProperties(0);
  ASSERT_TRUE(props.ok()) << props.status();
  EXPECT_FALSE(props->name.empty());
  EXPECT_GE(props->compute_major, 7);
  EXPECT_GT(props->multiprocessors, 0);
  EXPECT_GT(props->global_memory_bytes, uint64_t{1} << 30);
  std::printf("device 0: %s, cc %d.%d, %d SMs, %.1f GiB, peak %.0f GB/s\n", props->name.c_str(),
              props->compute_major, props->compute_minor, props->multiprocessors,
              props->global_memory_bytes / double(1 << 30), props->peak_memory_gbps);
  absl::StatusOr<int> count = CudaDeviceCount();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(SetCudaDevice(*count).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CudaDeviceBufferTest, RoundTripThroughPinnedStagingAndDeviceCopy) {
  ADAMASYNC_SKIP_WITHOUT_GPU();
  constexpr size_t kBytes = (size_t{1} << 20) + 12;  // not a multiple of anything round
  absl::StatusOr<CudaStream> stream = CudaStream::Create();
  absl::StatusOr<PinnedHostBuffer> up = PinnedHostBuffer::Allocate(kBytes);
  absl::StatusOr<PinnedHostBuffer> down = PinnedHostBuffer::Allocate(kBytes);
  absl::StatusOr<DeviceBuffer> a = DeviceBuffer::Allocate(kBytes);
  absl::StatusOr<DeviceBuffer> b = DeviceBuffer::Allocate(kBytes);
  ASSERT_TRUE(stream.ok() && up.ok() && down.ok() && a.ok() && b.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a->data()) % 256, 0u) << "cudaMalloc alignment";
  auto* src = static_cast<unsigned char*>(up->data());
  for (size_t i = 0; i < kBytes; ++i) src[i] = static_cast<unsigned char>(i * 131 + 7);
  std::memset(down->data(), 0, kBytes);

  absl::StatusOr<CudaEvent> start = CudaEvent::Create(/*timing=*/true);
  absl::StatusOr<CudaEvent> end = CudaEvent::Create(/*timing=*/true);
  ASSERT_TRUE(start.ok() && end.ok());
  ADAMASYNC_ASSERT_OK(start->Record(*stream));
  ADAMASYNC_ASSERT_OK(CopyToDeviceAsync(up->data(), kBytes, *stream, a->data()));
  ADAMASYNC_ASSERT_OK(CopyOnDeviceAsync(a->data(), kBytes, *stream, b->data()));
  ADAMASYNC_ASSERT_OK(CopyToHostAsync(b->data(), kBytes, *stream, down->data()));
  ADAMASYNC_ASSERT_OK(end->Record(*stream));
  ADAMASYNC_ASSERT_OK(end->Synchronize());
  EXPECT_EQ(std::memcmp(up->data(), down->data(), kBytes), 0);
  absl::StatusOr<double> seconds = CudaEvent::ElapsedSeconds(*start, *end);
  ASSERT_TRUE(seconds.ok()) << seconds.status();
  EXPECT_GT(*seconds, 0.0);

  // A fill on the device, seen through a second stream that waits on an
  // event of the first.
  absl::StatusOr<CudaStream> second = CudaStream::Create();
  ASSERT_TRUE(second.ok());
  ADAMASYNC_ASSERT_OK(FillBytesAsync(0x3F, kBytes, *stream, b->data()));
  ADAMASYNC_ASSERT_OK(end->Record(*stream));
  ADAMASYNC_ASSERT_OK(end->MakeStreamWait(*second));
  ADAMASYNC_ASSERT_OK(CopyToHostAsync(b->data(), kBytes, *second, down->data()));
  ADAMASYNC_ASSERT_OK(second->Synchronize());
  const auto* got = static_cast<const unsigned char*>(down->data());
  EXPECT_EQ(std::count(got, got + kBytes, 0x3F), static_cast<long>(kBytes));
  float f;
  std::memcpy(&f, got, 4);
  EXPECT_FLOAT_EQ(f, 0.7470588f);
}

TEST(CudaDeviceBufferTest, MovesTransferOwnershipAndEmptyBuffersAreFine) {
  ADAMASYNC_SKIP_WITHOUT_GPU();
  absl::StatusOr<DeviceBuffer> zero = DeviceBuffer::Allocate(0);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->data(), nullptr);
  EXPECT_EQ(zero->bytes(), 0u);
  absl::StatusOr<DeviceBuffer> a = DeviceBuffer::Allocate(4096);
  ASSERT_TRUE(a.ok());
  void* const raw = a->data();
  DeviceBuffer moved = *std::move(a);
  EXPECT_EQ(moved.data(), raw);
  EXPECT_EQ(moved.bytes(), 4096u);
  DeviceBuffer assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.data(), raw);
  EXPECT_EQ(moved.data(), nullptr);  // NOLINT(bugprone-use-after-move): documented empty
  absl::StatusOr<CudaStream> s1 = CudaStream::Create();
  ASSERT_TRUE(s1.ok());
  CudaStream s2 = *std::move(s1);
  EXPECT_NE(s2.native_handle(), nullptr);
  ADAMASYNC_ASSERT_OK(s2.Synchronize());
  // Too much memory is RESOURCE_EXHAUSTED, not a crash.
  absl::StatusOr<DeviceBuffer> huge = DeviceBuffer::Allocate(size_t{1} << 50);
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted) << huge.status();
}

}  // namespace
}  // namespace kernels
}  // namespace adamasync
