// The CUDA device, streams and events behind a plain C++ interface (no CUDA
// types), so that the server, the tests and the benchmarks build the same
// with or without the toolkit. Without CUDA compiled in
// (-DADAMASYNC_ENABLE_CUDA=OFF) every call that would touch a device returns
// UNIMPLEMENTED; with CUDA but no usable device or driver, FAILED_PRECONDITION
// with the CUDA error.
//
// Every call works on the calling thread's current device (SetCudaDevice;
// device 0 unless changed).
//
// Example:
//   absl::StatusOr<CudaStream> stream = CudaStream::Create();
//   absl::StatusOr<CudaEvent> start = CudaEvent::Create(/*timing=*/true);
//   ... enqueue work on *stream between start->Record(*stream) and
//   end->Record(*stream) ...
//   absl::StatusOr<double> seconds = CudaEvent::ElapsedSeconds(*start, *end);
#ifndef ADAMASYNC_KERNELS_CUDA_DEVICE_H_
#define ADAMASYNC_KERNELS_CUDA_DEVICE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace adamasync {
namespace kernels {

// True when this build contains the CUDA kernels.
bool CudaCompiledIn();

// The number of usable CUDA devices; FAILED_PRECONDITION (with the CUDA
// error) when the driver or a device is missing, UNIMPLEMENTED without CUDA.
absl::StatusOr<int> CudaDeviceCount();

// Makes `device` the calling thread's current device. INVALID_ARGUMENT for
// a device number out of range.
absl::Status SetCudaDevice(int device);

// What the benchmarks print about a device.
struct CudaDeviceProperties {
  int device = 0;
  std::string name;
  int compute_major = 0;  // compute capability, e.g. 9.0 for an H100
  int compute_minor = 0;
  int multiprocessors = 0;
  uint64_t global_memory_bytes = 0;
  uint64_t l2_cache_bytes = 0;
  int memory_bus_bits = 0;      // 0 if the driver does not say
  int memory_clock_khz = 0;     // peak; 0 if the driver does not say
  double peak_memory_gbps = 0;  // 2 x clock x bus (DDR), 1e9 B/s; 0 if unknown
  int driver_version = 0;       // e.g. 13000
  int runtime_version = 0;
};

absl::StatusOr<CudaDeviceProperties> GetCudaDeviceProperties(int device);

// A CUDA stream, owned. A default-constructed CudaStream is the legacy
// default stream of the current device (not owned, nothing to destroy).
// Move-only. Thread-compatible: CUDA allows enqueueing from several
// threads, but the order between threads is then theirs to arrange.
class CudaStream {
 public:
  CudaStream() = default;
  // A new non-blocking stream (cudaStreamNonBlocking: no implicit
  // synchronisation with the legacy default stream) on the current device.
  static absl::StatusOr<CudaStream> Create();

  CudaStream(CudaStream&& other) noexcept;
  CudaStream& operator=(CudaStream&& other) noexcept;
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  ~CudaStream();

  // Waits until all work enqueued so far has finished; returns the first
  // asynchronous error reported.
  absl::Status Synchronize() const;

  // The cudaStream_t (nullptr: the legacy default stream), for code
  // compiled with CUDA in kernels/.
  void* native_handle() const { return handle_; }

 private:
  void* handle_ = nullptr;
};

// A CUDA event, owned. Move-only; same threading rules as CudaStream.
class CudaEvent {
 public:
  CudaEvent() = default;  // empty: every call but Create fails with FAILED_PRECONDITION
  // `timing`: the event records a timestamp (ElapsedSeconds); without it
  // recording and waiting are cheaper (cudaEventDisableTiming).
  static absl::StatusOr<CudaEvent> Create(bool timing = false);

  CudaEvent(CudaEvent&& other) noexcept;
  CudaEvent& operator=(CudaEvent&& other) noexcept;
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  ~CudaEvent();

  // Captures the work enqueued on `stream` so far.
  absl::Status Record(const CudaStream& stream);
  // Blocks the host until the captured work has finished (at once if the
  // event was never recorded).
  absl::Status Synchronize() const;
  // Makes work enqueued on `stream` after this call wait for the captured
  // work, without blocking the host.
  absl::Status MakeStreamWait(const CudaStream& stream) const;

  // Seconds between two recorded and completed timing events.
  static absl::StatusOr<double> ElapsedSeconds(const CudaEvent& start, const CudaEvent& end);

  void* native_handle() const { return handle_; }

 private:
  void* handle_ = nullptr;
};

}  // namespace kernels
}  // namespace adamasync

#endif  // ADAMASYNC_KERNELS_CUDA_DEVICE_H_
