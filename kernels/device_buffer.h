// Device memory, pinned host staging memory and asynchronous copies between
// them, behind a plain C++ interface (no CUDA types). Same error rules as
// cuda_device.h: UNIMPLEMENTED without CUDA compiled in, FAILED_PRECONDITION
// without a usable device, RESOURCE_EXHAUSTED when memory runs out.
//
// Buffers are owned, move-only, and freed by their destructors. Freeing
// memory that queued work still uses is the caller's bug: synchronise the
// stream (or an event recorded after the last use) first. Thread-compatible:
// const methods from any thread; the copy functions are thread-safe (the
// CUDA runtime is), ordering between threads is the callers' business.
//
// Example (one Adam gradient upload through a reused staging buffer):
//   absl::StatusOr<PinnedHostBuffer> staging = PinnedHostBuffer::Allocate(bytes);
//   absl::StatusOr<DeviceBuffer> grad = DeviceBuffer::Allocate(bytes);
//   std::memcpy(staging->data(), host_grad, bytes);
//   CopyToDeviceAsync(staging->data(), bytes, stream, grad->data());
//   ... launch the kernel on `stream`; record an event; wait for it before
//   the staging buffer is written again ...
#ifndef ADAMASYNC_KERNELS_DEVICE_BUFFER_H_
#define ADAMASYNC_KERNELS_DEVICE_BUFFER_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda_device.h"

namespace adamasync {
namespace kernels {

// Memory on the current device (cudaMalloc: at least 256-byte aligned, so
// float spans that start at a multiple of 16 elements take the kernels'
// 16-byte vector path).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;  // empty: data() == nullptr, bytes() == 0
  // `bytes` of uninitialised device memory; 0 gives an empty buffer.
  static absl::StatusOr<DeviceBuffer> Allocate(size_t bytes);

  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  void* data() const { return data_; }
  float* floats() const { return static_cast<float*>(data_); }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked host memory (cudaHostAlloc, portable to every device): copies
// from and to it run asynchronously at full PCIe/NVLink speed, while copies
// from pageable memory are staged by the driver and block the host.
class PinnedHostBuffer {
 public:
  PinnedHostBuffer() = default;
  static absl::StatusOr<PinnedHostBuffer> Allocate(size_t bytes);

  PinnedHostBuffer(PinnedHostBuffer&& other) noexcept;
  PinnedHostBuffer& operator=(PinnedHostBuffer&& other) noexcept;
  PinnedHostBuffer(const PinnedHostBuffer&) = delete;
  PinnedHostBuffer& operator=(const PinnedHostBuffer&) = delete;
  ~PinnedHostBuffer();

  void* data() const { return data_; }
  float* floats() const { return static_cast<float*>(data_); }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Enqueue a copy of `bytes` on `stream` (source first, destination last).
// Asynchronous when the host side is pinned; with pageable host memory the
// call returns once the source has been read (host to device) or the copy
// is done (device to host). A zero-byte copy is a no-op. INVALID_ARGUMENT
// for a null pointer with bytes > 0.
absl::Status CopyToDeviceAsync(const void* host_src, size_t bytes, const CudaStream& stream,
                               void* device_dst);
absl::Status CopyToHostAsync(const void* device_src, size_t bytes, const CudaStream& stream,
                             void* host_dst);
absl::Status CopyOnDeviceAsync(const void* device_src, size_t bytes, const CudaStream& stream,
                               void* device_dst);

// Sets `bytes` bytes of device memory to `value` (cudaMemsetAsync). Byte
// 0x3F fills floats with 0.7470...; 0 with +0.0f.
absl::Status FillBytesAsync(uint8_t value, size_t bytes, const CudaStream& stream,
                            void* device_dst);

}  // namespace kernels
}  // namespace adamasync

#endif  // ADAMASYNC_KERNELS_DEVICE_BUFFER_H_
