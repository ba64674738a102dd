// CUDA implementation of device_buffer.h (cuda_device_stub.cc stands in
// without CUDA). Host code only.
#include "kernels/device_buffer.h"

#include <cuda_runtime.h>

#include <string>
#include <utility>

#include "kernels/cuda_internal.h"

namespace adamasync {
namespace kernels {
namespace {

using internal::CudaStatus;
using internal::StreamOf;

absl::Status NullPointer(const char* what) {
  return absl::InvalidArgumentError(std::string(what) + ": null pointer with a non-zero size");
}

absl::Status Copy(const void* src, size_t bytes, const CudaStream& stream, void* dst,
                  cudaMemcpyKind kind, const char* what) {
  if (bytes == 0) return absl::OkStatus();
  if (src == nullptr || dst == nullptr) return NullPointer(what);
  return CudaStatus(cudaMemcpyAsync(dst, src, bytes, kind, StreamOf(stream)), what);
}

}  // namespace

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  DeviceBuffer buffer;
  if (bytes == 0) return buffer;
  ADAMASYNC_CUDA_RETURN_IF_ERROR(cudaMalloc(&buffer.data_, bytes), "cudaMalloc");
  buffer.bytes_ = bytes;
  return buffer;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) cudaFree(data_);
}

absl::StatusOr<PinnedHostBuffer> PinnedHostBuffer::Allocate(size_t bytes) {
  PinnedHostBuffer buffer;
  if (bytes == 0) return buffer;
  ADAMASYNC_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&buffer.data_, bytes, cudaHostAllocPortable),
                                 "cudaHostAlloc");
  buffer.bytes_ = bytes;
  return buffer;
}

PinnedHostBuffer::PinnedHostBuffer(PinnedHostBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

PinnedHostBuffer& PinnedHostBuffer::operator=(PinnedHostBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFreeHost(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

PinnedHostBuffer::~PinnedHostBuffer() {
  if (data_ != nullptr) cudaFreeHost(data_);
}

absl::Status CopyToDeviceAsync(const void* host_src, size_t bytes, const CudaStream& stream,
                               void* device_dst) {
  return Copy(host_src, bytes, stream, device_dst, cudaMemcpyHostToDevice,
              "cudaMemcpyAsync(host to device)");
}

absl::Status CopyToHostAsync(const void* device_src, size_t bytes, const CudaStream& stream,
                             void* host_dst) {
  return Copy(device_src, bytes, stream, host_dst, cudaMemcpyDeviceToHost,
              "cudaMemcpyAsync(device to host)");
}

absl::Status CopyOnDeviceAsync(const void* device_src, size_t bytes, const CudaStream& stream,
                               void* device_dst) {
  return Copy(device_src, bytes, stream, device_dst, cudaMemcpyDeviceToDevice,
              "cudaMemcpyAsync(device to device)");
}

absl::Status FillBytesAsync(uint8_t value, size_t bytes, const CudaStream& stream,
                            void* device_dst) {
  if (bytes == 0) return absl::OkStatus();
  if (device_dst == nullptr) return NullPointer("cudaMemsetAsync");
  return CudaStatus(cudaMemsetAsync(device_dst, value, bytes, StreamOf(stream)), "cudaMemsetAsync");
}

}  // namespace kernels
}  // namespace adamasync
