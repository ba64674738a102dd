#include "tests/testing/fake_cuda_runtime.h"

#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "kernels/adam_cpu.h"
#include "kernels/adam_cuda.h"
#include "kernels/cuda_device.h"
#include "kernels/device_buffer.h"

namespace adamasync {
namespace {

// What the fake device knows; one lock for all of it.
struct Runtime {
  absl::Mutex mu;
  std::map<uintptr_t, size_t> device ABSL_GUARDED_BY(mu);  // begin -> bytes
  std::map<uintptr_t, size_t> pinned ABSL_GUARDED_BY(mu);
  uint64_t operations ABSL_GUARDED_BY(mu) = 0;
  uint64_t fail_at ABSL_GUARDED_BY(mu) = 0;  // 0: none
  uint64_t pageable ABSL_GUARDED_BY(mu) = 0;
};

Runtime& R() {
  static Runtime* runtime = new Runtime;
  return *runtime;
}

// One recorded operation: runs at Synchronize; `fails` marks an injected fault.
struct Operation {
  std::function<void()> run;
  bool fails = false;
};

struct Stream {
  absl::Mutex mu;
  std::vector<Operation> queue ABSL_GUARDED_BY(mu);
};

bool Inside(const std::map<uintptr_t, size_t>& buffers, const void* p, size_t bytes) {
  const uintptr_t at = reinterpret_cast<uintptr_t>(p);
  auto it = buffers.upper_bound(at);
  if (it == buffers.begin()) return false;
  --it;
  return at + bytes <= it->first + it->second;
}

absl::Status CheckDevice(const void* p, size_t bytes, const char* what) {
  absl::MutexLock lock(&R().mu);
  if (bytes == 0 || Inside(R().device, p, bytes)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("fake CUDA: ", what, ": ", bytes, " bytes at ",
                                                 reinterpret_cast<uintptr_t>(p),
                                                 " are not inside one device buffer"));
}

void CountHostSide(const void* p, size_t bytes) {
  absl::MutexLock lock(&R().mu);
  if (bytes != 0 && !Inside(R().pinned, p, bytes)) ++R().pageable;
}

absl::Status Enqueue(const kernels::CudaStream& stream, std::function<void()> run) {
  static Stream* legacy = new Stream;
  Stream* s =
      stream.native_handle() != nullptr ? static_cast<Stream*>(stream.native_handle()) : legacy;
  Operation op{std::move(run)};
  {
    absl::MutexLock lock(&R().mu);
    const uint64_t n = ++R().operations;
    op.fails = R().fail_at != 0 && n >= R().fail_at;
  }
  absl::MutexLock lock(&s->mu);
  s->queue.push_back(std::move(op));
  return absl::OkStatus();
}

void* Allocate(std::map<uintptr_t, size_t>& buffers, size_t bytes) {
  void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  // Garbage, as cudaMalloc leaves it: code must not read what it never wrote.
  std::memset(p, 0xA5, bytes);
  absl::MutexLock lock(&R().mu);
  buffers[reinterpret_cast<uintptr_t>(p)] = bytes;
  return p;
}

void Free(std::map<uintptr_t, size_t>& buffers, void* p) {
  if (p == nullptr) return;
  {
    absl::MutexLock lock(&R().mu);
    buffers.erase(reinterpret_cast<uintptr_t>(p));
  }
  std::free(p);
}

}  // namespace

namespace fake_cuda {

void Reset() {
  absl::MutexLock lock(&R().mu);
  R().operations = 0;
  R().fail_at = 0;
  R().pageable = 0;
}

void FailOperation(uint64_t n) {
  absl::MutexLock lock(&R().mu);
  R().fail_at = R().operations + n;
}

uint64_t Operations() {
  absl::MutexLock lock(&R().mu);
  return R().operations;
}

uint64_t PageableCopies() {
  absl::MutexLock lock(&R().mu);
  return R().pageable;
}

int LiveDeviceBuffers() {
  absl::MutexLock lock(&R().mu);
  return static_cast<int>(R().device.size());
}

int LivePinnedBuffers() {
  absl::MutexLock lock(&R().mu);
  return static_cast<int>(R().pinned.size());
}

}  // namespace fake_cuda

namespace kernels {

bool CudaCompiledIn() { return true; }
absl::StatusOr<int> CudaDeviceCount() { return 1; }
absl::Status SetCudaDevice(int device) {
  if (device != 0) return absl::InvalidArgumentError("fake CUDA has device 0 only");
  return absl::OkStatus();
}
absl::StatusOr<CudaDeviceProperties> GetCudaDeviceProperties(int device) {
  RETURN_IF_ERROR(SetCudaDevice(device));
  CudaDeviceProperties props;
  props.name = "fake CUDA device";
  props.compute_major = 9;
  props.global_memory_bytes = uint64_t{1} << 30;
  return props;
}

absl::StatusOr<CudaStream> CudaStream::Create() {
  CudaStream stream;
  stream.handle_ = new Stream;
  return stream;
}
CudaStream::CudaStream(CudaStream&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)) {}
CudaStream& CudaStream::operator=(CudaStream&& other) noexcept {
  std::swap(handle_, other.handle_);
  return *this;
}
CudaStream::~CudaStream() { delete static_cast<Stream*>(handle_); }

absl::Status CudaStream::Synchronize() const {
  if (handle_ == nullptr) return absl::OkStatus();
  Stream* s = static_cast<Stream*>(handle_);
  std::vector<Operation> queue;
  {
    absl::MutexLock lock(&s->mu);
    queue.swap(s->queue);
  }
  for (Operation& op : queue) {
    if (op.fails) {
      return absl::FailedPreconditionError(
          "cudaStreamSynchronize: cudaErrorIllegalAddress (fake CUDA: injected fault)");
    }
    op.run();
  }
  return absl::OkStatus();
}

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  DeviceBuffer buffer;
  if (bytes == 0) return buffer;
  buffer.data_ = adamasync::Allocate(R().device, bytes);
  buffer.bytes_ = bytes;
  return buffer;
}
DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  std::swap(data_, other.data_);
  std::swap(bytes_, other.bytes_);
  return *this;
}
DeviceBuffer::~DeviceBuffer() { Free(R().device, data_); }

absl::StatusOr<PinnedHostBuffer> PinnedHostBuffer::Allocate(size_t bytes) {
  PinnedHostBuffer buffer;
  if (bytes == 0) return buffer;
  buffer.data_ = adamasync::Allocate(R().pinned, bytes);
  buffer.bytes_ = bytes;
  return buffer;
}
PinnedHostBuffer::PinnedHostBuffer(PinnedHostBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
PinnedHostBuffer& PinnedHostBuffer::operator=(PinnedHostBuffer&& other) noexcept {
  std::swap(data_, other.data_);
  std::swap(bytes_, other.bytes_);
  return *this;
}
PinnedHostBuffer::~PinnedHostBuffer() { Free(R().pinned, data_); }

absl::Status CopyToDeviceAsync(const void* host_src, size_t bytes, const CudaStream& stream,
                               void* device_dst) {
  RETURN_IF_ERROR(CheckDevice(device_dst, bytes, "CopyToDeviceAsync destination"));
  CountHostSide(host_src, bytes);
  return Enqueue(stream, [=] { std::memcpy(device_dst, host_src, bytes); });
}

absl::Status CopyToHostAsync(const void* device_src, size_t bytes, const CudaStream& stream,
                             void* host_dst) {
  RETURN_IF_ERROR(CheckDevice(device_src, bytes, "CopyToHostAsync source"));
  CountHostSide(host_dst, bytes);
  return Enqueue(stream, [=] { std::memcpy(host_dst, device_src, bytes); });
}

absl::Status FillBytesAsync(uint8_t value, size_t bytes, const CudaStream& stream,
                            void* device_dst) {
  RETURN_IF_ERROR(CheckDevice(device_dst, bytes, "FillBytesAsync destination"));
  return Enqueue(stream, [=] { std::memset(device_dst, value, bytes); });
}

absl::Status AdamCudaAsync(const AdamScalars& s, const float* grad, AdamSpan state, size_t n,
                           const CudaStream& stream) {
  const size_t bytes = n * sizeof(float);
  RETURN_IF_ERROR(CheckDevice(grad, bytes, "AdamCudaAsync grad"));
  RETURN_IF_ERROR(CheckDevice(state.p, bytes, "AdamCudaAsync p"));
  RETURN_IF_ERROR(CheckDevice(state.m, bytes, "AdamCudaAsync m"));
  RETURN_IF_ERROR(CheckDevice(state.v, bytes, "AdamCudaAsync v"));
  if (s.amsgrad) RETURN_IF_ERROR(CheckDevice(state.vmax, bytes, "AdamCudaAsync vmax"));
  return Enqueue(stream, [=] { AdamCpu(s, grad, state, n); });
}

}  // namespace kernels
}  // namespace adamasync
