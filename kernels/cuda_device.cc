// CUDA implementation of cuda_device.h and cuda_internal.h (built only with
// CUDA; cuda_device_stub.cc stands in without it). Host code only: compiled
// by the C++ compiler against the CUDA runtime.
#include "kernels/cuda_device.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda_internal.h"

namespace adamasync {
namespace kernels {
namespace internal {

absl::Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  std::string message =
      std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
  switch (err) {
    case cudaErrorMemoryAllocation:
      return absl::ResourceExhaustedError(message);
    case cudaErrorInvalidDevice:
      return absl::InvalidArgumentError(message);
    default:
      return absl::FailedPreconditionError(message);
  }
}

absl::StatusOr<int> ResidentBlocks(const void* kernel, int threads_per_block) {
  struct Entry {
    const void* kernel;
    int device;
    int threads;
    int blocks;
  };
  static std::mutex mu;
  static std::vector<Entry>* cache = new std::vector<Entry>();  // never destroyed
  int device = 0;
  ADAMASYNC_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device), "cudaGetDevice");
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const Entry& e : *cache) {
      if (e.kernel == kernel && e.device == device && e.threads == threads_per_block) {
        return e.blocks;
      }
    }
  }
  int sms = 0, per_sm = 0;
  ADAMASYNC_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
      "cudaDeviceGetAttribute(MultiProcessorCount)");
  ADAMASYNC_CUDA_RETURN_IF_ERROR(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads_per_block, 0),
      "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
  const int blocks = std::max(1, sms) * std::max(1, per_sm);
  std::lock_guard<std::mutex> lock(mu);
  cache->push_back({kernel, device, threads_per_block, blocks});
  return blocks;
}

}  // namespace internal

using internal::CudaStatus;
using internal::StreamOf;

bool CudaCompiledIn() { return true; }

absl::StatusOr<int> CudaDeviceCount() {
  int count = 0;
  ADAMASYNC_CUDA_RETURN_IF_ERROR(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  if (count == 0) return absl::FailedPreconditionError("no CUDA device present");
  return count;
}

absl::Status SetCudaDevice(int device) {
  return CudaStatus(cudaSetDevice(device), "cudaSetDevice");
}

absl::StatusOr<CudaDeviceProperties> GetCudaDeviceProperties(int device) {
  cudaDeviceProp prop;
  ADAMASYNC_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  CudaDeviceProperties out;
  out.device = device;
  out.name = prop.name;
  out.compute_major = prop.major;
  out.compute_minor = prop.minor;
  out.multiprocessors = prop.multiProcessorCount;
  out.global_memory_bytes = prop.totalGlobalMem;
  out.l2_cache_bytes = static_cast<uint64_t>(prop.l2CacheSize);
  // Attributes rather than cudaDeviceProp fields: CUDA 13 dropped
  // cudaDeviceProp::memoryClockRate. Unknown values stay 0.
  int value = 0;
  if (cudaDeviceGetAttribute(&value, cudaDevAttrGlobalMemoryBusWidth, device) == cudaSuccess) {
    out.memory_bus_bits = value;
  }
  if (cudaDeviceGetAttribute(&value, cudaDevAttrMemoryClockRate, device) == cudaSuccess) {
    out.memory_clock_khz = value;
  }
  cudaGetLastError();  // an unsupported attribute is not the caller's error
  // Double data rate: two transfers per clock over the whole bus.
  out.peak_memory_gbps = 2.0 * out.memory_clock_khz * 1e3 * (out.memory_bus_bits / 8.0) / 1e9;
  cudaDriverGetVersion(&out.driver_version);
  cudaRuntimeGetVersion(&out.runtime_version);
  return out;
}

absl::StatusOr<CudaStream> CudaStream::Create() {
  cudaStream_t handle = nullptr;
  ADAMASYNC_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&handle, cudaStreamNonBlocking),
                                 "cudaStreamCreateWithFlags");
  CudaStream stream;
  stream.handle_ = handle;
  return stream;
}

CudaStream::CudaStream(CudaStream&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)) {}

CudaStream& CudaStream::operator=(CudaStream&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) cudaStreamDestroy(StreamOf(*this));
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

CudaStream::~CudaStream() {
  // Work still queued completes; the stream's resources go once it has.
  if (handle_ != nullptr) cudaStreamDestroy(StreamOf(*this));
}

absl::Status CudaStream::Synchronize() const {
  return CudaStatus(cudaStreamSynchronize(StreamOf(*this)), "cudaStreamSynchronize");
}

absl::StatusOr<CudaEvent> CudaEvent::Create(bool timing) {
  cudaEvent_t handle = nullptr;
  ADAMASYNC_CUDA_RETURN_IF_ERROR(
      cudaEventCreateWithFlags(&handle, timing ? cudaEventDefault : cudaEventDisableTiming),
      "cudaEventCreateWithFlags");
  CudaEvent event;
  event.handle_ = handle;
  return event;
}

CudaEvent::CudaEvent(CudaEvent&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}

CudaEvent& CudaEvent::operator=(CudaEvent&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(handle_));
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

CudaEvent::~CudaEvent() {
  if (handle_ != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(handle_));
}

namespace {

absl::Status EmptyEvent() {
  return absl::FailedPreconditionError("CudaEvent is empty (not made by CudaEvent::Create)");
}

}  // namespace

absl::Status CudaEvent::Record(const CudaStream& stream) {
  if (handle_ == nullptr) return EmptyEvent();
  return CudaStatus(cudaEventRecord(static_cast<cudaEvent_t>(handle_), StreamOf(stream)),
                    "cudaEventRecord");
}

absl::Status CudaEvent::Synchronize() const {
  if (handle_ == nullptr) return EmptyEvent();
  return CudaStatus(cudaEventSynchronize(static_cast<cudaEvent_t>(handle_)),
                    "cudaEventSynchronize");
}

absl::Status CudaEvent::MakeStreamWait(const CudaStream& stream) const {
  if (handle_ == nullptr) return EmptyEvent();
  return CudaStatus(cudaStreamWaitEvent(StreamOf(stream), static_cast<cudaEvent_t>(handle_), 0),
                    "cudaStreamWaitEvent");
}

absl::StatusOr<double> CudaEvent::ElapsedSeconds(const CudaEvent& start, const CudaEvent& end) {
  if (start.handle_ == nullptr || end.handle_ == nullptr) return EmptyEvent();
  float ms = 0;
  ADAMASYNC_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start.handle_),
                                                      static_cast<cudaEvent_t>(end.handle_)),
                                 "cudaEventElapsedTime");
  return ms * 1e-3;
}

}  // namespace kernels
}  // namespace adamasync
