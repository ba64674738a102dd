// Helpers for the CUDA kernel tests: skipping without a usable GPU, device
// arrays with guard zones (to catch writes outside a tensor), and exact
// comparison of GPU results with the CPU kernel's. Everything goes through
// the plain interfaces of kernels/ (no CUDA types), so the tests compile
// the same with -DADAMASYNC_ENABLE_CUDA=OFF and skip at run time there.
#ifndef ADAMASYNC_TESTS_KERNELS_CUDA_TEST_UTIL_H_
#define ADAMASYNC_TESTS_KERNELS_CUDA_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda_device.h"
#include "kernels/device_buffer.h"

namespace adamasync {
namespace testing_util {

// Why the GPU tests cannot run here, or "" when they can.
inline std::string WhyNoGpu() {
  if (!kernels::CudaCompiledIn()) {
    return "built without CUDA (-DADAMASYNC_ENABLE_CUDA=OFF): GPU kernels not tested";
  }
  const absl::StatusOr<int> count = kernels::CudaDeviceCount();
  if (!count.ok()) {
    return "no usable CUDA device, GPU kernels not tested: " + count.status().ToString();
  }
  return "";
}

#define ADAMASYNC_SKIP_WITHOUT_GPU()                                                \
  do {                                                                              \
    const std::string adamasync_why_no_gpu = ::adamasync::testing_util::WhyNoGpu(); \
    if (!adamasync_why_no_gpu.empty()) GTEST_SKIP() << adamasync_why_no_gpu;        \
  } while (false)

#define ADAMASYNC_ASSERT_OK(expr)                             \
  do {                                                        \
    const ::absl::Status adamasync_status_ = (expr);          \
    ASSERT_TRUE(adamasync_status_.ok()) << adamasync_status_; \
  } while (false)

// Guard floats on each side of a DeviceFloats array; their bytes are
// kGuardByte (float 0x7F7F7F7F = 3.39e38) until something writes them.
inline constexpr size_t kGuardFloats = 16;
inline constexpr uint8_t kGuardByte = 0x7F;

// n device floats that start `offset` floats (0-3: 0, 4, 8 or 12 bytes)
// past a 256-byte-aligned allocation, behind kGuardFloats guard floats, so
// tests choose each array's alignment. Copies are synchronous on `stream`.
class DeviceFloats {
 public:
  static absl::StatusOr<DeviceFloats> Create(size_t n, size_t offset,
                                             const kernels::CudaStream& stream) {
    DeviceFloats out;
    out.n_ = n;
    out.offset_ = kGuardFloats + offset;
    const size_t total = out.offset_ + n + kGuardFloats;
    absl::StatusOr<kernels::DeviceBuffer> buffer = kernels::DeviceBuffer::Allocate(total * 4);
    if (!buffer.ok()) return buffer.status();
    out.buffer_ = *std::move(buffer);
    absl::Status s = kernels::FillBytesAsync(kGuardByte, total * 4, stream, out.buffer_.data());
    if (s.ok()) s = stream.Synchronize();
    if (!s.ok()) return s;
    return out;
  }

  float* data() const { return buffer_.floats() + offset_; }
  size_t size() const { return n_; }

  absl::Status Upload(const std::vector<float>& host, const kernels::CudaStream& stream) const {
    absl::Status s = kernels::CopyToDeviceAsync(host.data(), n_ * 4, stream, data());
    return s.ok() ? stream.Synchronize() : s;
  }

  absl::StatusOr<std::vector<float>> Download(const kernels::CudaStream& stream) const {
    std::vector<float> host(n_);
    absl::Status s = kernels::CopyToHostAsync(data(), n_ * 4, stream, host.data());
    if (s.ok()) s = stream.Synchronize();
    if (!s.ok()) return s;
    return host;
  }

  // OK when every guard byte is still kGuardByte; INTERNAL naming the
  // first one that is not.
  absl::Status CheckGuards(const kernels::CudaStream& stream) const {
    const size_t total_bytes = buffer_.bytes();
    std::vector<uint8_t> all(total_bytes);
    absl::Status s = kernels::CopyToHostAsync(buffer_.data(), total_bytes, stream, all.data());
    if (s.ok()) s = stream.Synchronize();
    if (!s.ok()) return s;
    const size_t begin = offset_ * 4, end = (offset_ + n_) * 4;
    for (size_t i = 0; i < total_bytes; ++i) {
      if ((i < begin || i >= end) && all[i] != kGuardByte) {
        return absl::InternalError("guard byte " + std::to_string(i) +
                                   " overwritten (array bytes " + std::to_string(begin) + "-" +
                                   std::to_string(end) + ")");
      }
    }
    return absl::OkStatus();
  }

 private:
  kernels::DeviceBuffer buffer_;
  size_t n_ = 0;
  size_t offset_ = 0;
};

// Largest |a - b| / max(|b|, 1e-30) over the elements that differ, and
// whether every bit agrees.
struct Comparison {
  double max_relative = 0;
  bool bit_equal = true;
  size_t first_difference = 0;
};

inline Comparison Compare(const std::vector<float>& gpu, const std::vector<float>& cpu) {
  Comparison c;
  if (gpu.size() != cpu.size()) {
    c.bit_equal = false;
    c.max_relative = INFINITY;
    return c;
  }
  for (size_t i = 0; i < gpu.size(); ++i) {
    if (std::memcmp(&gpu[i], &cpu[i], sizeof(float)) != 0) {
      if (c.bit_equal) c.first_difference = i;
      c.bit_equal = false;
      const double rel = std::abs(static_cast<double>(gpu[i]) - cpu[i]) /
                         std::max(std::abs(static_cast<double>(cpu[i])), 1e-30);
      if (!(rel <= c.max_relative)) c.max_relative = rel;  // NaN counts as worst
    }
  }
  return c;
}

// Relative tolerance per step: the kernels share AdamElement and neither
// contracts a*b+c, so they are expected to agree bit for bit; 1e-6 is what
// PyTorch's own paths guarantee among themselves (REFERENCE.md section 1).
inline constexpr double kGpuRelativeTolerance = 1e-6;

}  // namespace testing_util
}  // namespace adamasync

#endif  // ADAMASYNC_TESTS_KERNELS_CUDA_TEST_UTIL_H_
