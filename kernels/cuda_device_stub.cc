// cuda_device.h and device_buffer.h for builds without CUDA
// (-DADAMASYNC_ENABLE_CUDA=OFF): nothing can be allocated or enqueued, so
// every handle stays empty and every call returns UNIMPLEMENTED.
#include "kernels/cuda_device.h"
#include "kernels/device_buffer.h"

namespace adamasync {
namespace kernels {
namespace {

absl::Status NoCuda() {
  return absl::UnimplementedError("this build has no CUDA support (ADAMASYNC_ENABLE_CUDA=OFF)");
}

}  // namespace

bool CudaCompiledIn() { return false; }
absl::StatusOr<int> CudaDeviceCount() { return NoCuda(); }
absl::Status SetCudaDevice(int) { return NoCuda(); }
absl::StatusOr<CudaDeviceProperties> GetCudaDeviceProperties(int) { return NoCuda(); }

absl::StatusOr<CudaStream> CudaStream::Create() { return NoCuda(); }
CudaStream::CudaStream(CudaStream&&) noexcept {}
CudaStream& CudaStream::operator=(CudaStream&&) noexcept { return *this; }
CudaStream::~CudaStream() = default;
absl::Status CudaStream::Synchronize() const { return NoCuda(); }

absl::StatusOr<CudaEvent> CudaEvent::Create(bool) { return NoCuda(); }
CudaEvent::CudaEvent(CudaEvent&&) noexcept {}
CudaEvent& CudaEvent::operator=(CudaEvent&&) noexcept { return *this; }
CudaEvent::~CudaEvent() = default;
absl::Status CudaEvent::Record(const CudaStream&) { return NoCuda(); }
absl::Status CudaEvent::Synchronize() const { return NoCuda(); }
absl::Status CudaEvent::MakeStreamWait(const CudaStream&) const { return NoCuda(); }
absl::StatusOr<double> CudaEvent::ElapsedSeconds(const CudaEvent&, const CudaEvent&) {
  return NoCuda();
}

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t) { return NoCuda(); }
DeviceBuffer::DeviceBuffer(DeviceBuffer&&) noexcept {}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&&) noexcept { return *this; }
DeviceBuffer::~DeviceBuffer() = default;

absl::StatusOr<PinnedHostBuffer> PinnedHostBuffer::Allocate(size_t) { return NoCuda(); }
PinnedHostBuffer::PinnedHostBuffer(PinnedHostBuffer&&) noexcept {}
PinnedHostBuffer& PinnedHostBuffer::operator=(PinnedHostBuffer&&) noexcept { return *this; }
PinnedHostBuffer::~PinnedHostBuffer() = default;

absl::Status CopyToDeviceAsync(const void*, size_t, const CudaStream&, void*) { return NoCuda(); }
absl::Status CopyToHostAsync(const void*, size_t, const CudaStream&, void*) { return NoCuda(); }
absl::Status CopyOnDeviceAsync(const void*, size_t, const CudaStream&, void*) { return NoCuda(); }
absl::Status FillBytesAsync(uint8_t, size_t, const CudaStream&, void*) { return NoCuda(); }

}  // namespace kernels
}  // namespace adamasync
