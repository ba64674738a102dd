#include "server/cuda_part_state.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/initializer.h"
#include "common/status_macros.h"
#include "kernels/adam_cuda.h"
#include "kernels/cuda_device.h"
#include "kernels/device_buffer.h"

namespace adamasync {
namespace {

// Elements one lane moves per copy: one segment, so a push chunk's
// per-segment step is one upload and one launch.
constexpr uint64_t kLaneElements = kSegmentElements;
constexpr uint64_t kLaneBytes = kLaneElements * sizeof(float);

struct Lane {
  kernels::CudaStream stream;
  kernels::PinnedHostBuffer staging;  // kLaneElements floats
  kernels::DeviceBuffer grad;         // kLaneElements floats
};

// The device, its lanes and its sticky error; shared by the backend and
// every part it allocated.
class CudaContext {
 public:
  CudaContext(int device, std::string description, std::vector<std::unique_ptr<Lane>> lanes)
      : device_(device), description_(std::move(description)), free_(std::move(lanes)) {}

  const std::string& description() const { return description_; }

  // Makes the device current on this thread; the sticky error if any.
  absl::Status Enter() const {
    RETURN_IF_ERROR(Health());
    return kernels::SetCudaDevice(device_);
  }

  absl::Status Health() const {
    if (!failed_.load(std::memory_order_acquire)) return absl::OkStatus();
    absl::MutexLock lock(&mu_);
    return error_;
  }

  // Records `status` as the device's failure (the first one stays) and
  // returns the error every caller sees from now on.
  absl::Status Fail(const absl::Status& status, absl::string_view what) {
    absl::MutexLock lock(&mu_);
    if (error_.ok()) {
      error_ = absl::UnavailableError(absl::StrCat(
          "CUDA device ", device_, " failed during ", what, ": ", status.message(),
          "; this shard's state can no longer be trusted: restart it from its checkpoint"));
      failed_.store(true, std::memory_order_release);
    }
    return error_;
  }

  // A lane for the caller alone until the lease ends (waits for one).
  class Lease {
   public:
    Lease(CudaContext* context, std::unique_ptr<Lane> lane)
        : context_(context), lane_(std::move(lane)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { context_->Return(std::move(lane_)); }
    Lane& operator*() const { return *lane_; }
    Lane* operator->() const { return lane_.get(); }

   private:
    CudaContext* context_;
    std::unique_ptr<Lane> lane_;
  };

  Lease Acquire() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::vector<std::unique_ptr<Lane>>* free) { return !free->empty(); }, &free_));
    std::unique_ptr<Lane> lane = std::move(free_.back());
    free_.pop_back();
    return Lease(this, std::move(lane));
  }

 private:
  void Return(std::unique_ptr<Lane> lane) {
    absl::MutexLock lock(&mu_);
    free_.push_back(std::move(lane));
  }

  const int device_;
  const std::string description_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Lane>> free_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> failed_{false};  // error_ is set
};

// Host -> device copy of n floats through the lane's staging buffer.
absl::Status Upload(Lane& lane, const float* host, uint64_t n, float* device) {
  for (uint64_t done = 0; done < n; done += kLaneElements) {
    const uint64_t k = std::min(kLaneElements, n - done);
    std::memcpy(lane.staging.data(), host + done, k * sizeof(float));
    RETURN_IF_ERROR(kernels::CopyToDeviceAsync(lane.staging.data(), k * sizeof(float), lane.stream,
                                               device + done));
    RETURN_IF_ERROR(lane.stream.Synchronize());
  }
  return absl::OkStatus();
}

// Device -> host copy of n floats through the lane's staging buffer.
absl::Status Download(Lane& lane, const float* device, uint64_t n, void* host) {
  for (uint64_t done = 0; done < n; done += kLaneElements) {
    const uint64_t k = std::min(kLaneElements, n - done);
    RETURN_IF_ERROR(kernels::CopyToHostAsync(device + done, k * sizeof(float), lane.stream,
                                             lane.staging.data()));
    RETURN_IF_ERROR(lane.stream.Synchronize());
    std::memcpy(static_cast<char*>(host) + done * sizeof(float), lane.staging.data(),
                k * sizeof(float));
  }
  return absl::OkStatus();
}

class CudaPartState final : public PartState {
 public:
  CudaPartState(std::shared_ptr<CudaContext> context, uint64_t size, kernels::DeviceBuffer p,
                kernels::DeviceBuffer m, kernels::DeviceBuffer v, kernels::DeviceBuffer vmax)
      : context_(std::move(context)),
        size_(size),
        p_(std::move(p)),
        m_(std::move(m)),
        v_(std::move(v)),
        vmax_(std::move(vmax)) {}

  uint64_t size() const override { return size_; }
  uint64_t bytes() const override { return p_.bytes() + m_.bytes() + v_.bytes() + vmax_.bytes(); }

  absl::Status Step(const kernels::AdamScalars& s, uint64_t begin, uint64_t n,
                    const float* grad) override {
    RETURN_IF_ERROR(context_->Enter());
    CudaContext::Lease lane = context_->Acquire();
    for (uint64_t done = 0; done < n; done += kLaneElements) {
      const uint64_t k = std::min(kLaneElements, n - done);
      const uint64_t at = begin + done;
      std::memcpy(lane->staging.data(), grad + done, k * sizeof(float));
      absl::Status status = kernels::CopyToDeviceAsync(lane->staging.data(), k * sizeof(float),
                                                       lane->stream, lane->grad.data());
      if (status.ok()) {
        kernels::AdamSpan state{p_.floats() + at, m_.floats() + at, v_.floats() + at,
                                vmax_.bytes() != 0 ? vmax_.floats() + at : nullptr};
        status = kernels::AdamCudaAsync(s, lane->grad.floats(), state, k, lane->stream);
      }
      // The staging buffer is reused by the next piece: wait for the step.
      if (status.ok()) status = lane->stream.Synchronize();
      if (!status.ok()) return context_->Fail(status, "an Adam step");
    }
    return absl::OkStatus();
  }

  absl::Status ReadParameters(uint64_t begin, uint64_t n, void* out) const override {
    RETURN_IF_ERROR(context_->Enter());
    CudaContext::Lease lane = context_->Acquire();
    absl::Status status = Download(*lane, p_.floats() + begin, n, out);
    if (!status.ok()) return context_->Fail(status, "a parameter read");
    return absl::OkStatus();
  }

  absl::Status WriteParameters(uint64_t begin, uint64_t n, const float* values) override {
    RETURN_IF_ERROR(context_->Enter());
    CudaContext::Lease lane = context_->Acquire();
    absl::Status status = Upload(*lane, values, n, p_.floats() + begin);
    if (!status.ok()) return context_->Fail(status, "a parameter write");
    return absl::OkStatus();
  }

  absl::Status ReadState(uint64_t begin, uint64_t n, StateSlice out) const override {
    RETURN_IF_ERROR(context_->Enter());
    CudaContext::Lease lane = context_->Acquire();
    absl::Status status = Download(*lane, p_.floats() + begin, n, out.p);
    if (status.ok()) status = Download(*lane, m_.floats() + begin, n, out.m);
    if (status.ok()) status = Download(*lane, v_.floats() + begin, n, out.v);
    if (status.ok() && vmax_.bytes() != 0) {
      status = Download(*lane, vmax_.floats() + begin, n, out.vmax);
    }
    if (!status.ok()) return context_->Fail(status, "a state read");
    return absl::OkStatus();
  }

  absl::Status WriteState(uint64_t begin, uint64_t n, ConstStateSlice in) override {
    RETURN_IF_ERROR(context_->Enter());
    CudaContext::Lease lane = context_->Acquire();
    absl::Status status = Upload(*lane, in.p, n, p_.floats() + begin);
    if (status.ok()) status = Upload(*lane, in.m, n, m_.floats() + begin);
    if (status.ok()) status = Upload(*lane, in.v, n, v_.floats() + begin);
    if (status.ok() && vmax_.bytes() != 0) {
      status = Upload(*lane, in.vmax, n, vmax_.floats() + begin);
    }
    if (!status.ok()) return context_->Fail(status, "a state write");
    return absl::OkStatus();
  }

 private:
  const std::shared_ptr<CudaContext> context_;
  const uint64_t size_;
  kernels::DeviceBuffer p_, m_, v_, vmax_;  // vmax_ empty unless AMSGrad
};

class CudaBackend final : public StateBackend {
 public:
  explicit CudaBackend(std::shared_ptr<CudaContext> context) : context_(std::move(context)) {}

  std::string Describe() const override { return context_->description(); }

  absl::StatusOr<std::unique_ptr<PartState>> Allocate(const TableSpec& spec,
                                                      ElementRange range) override {
    RETURN_IF_ERROR(context_->Enter());
    const uint64_t n = range.size();
    const size_t bytes = n * sizeof(float);
    // Out of device memory is RESOURCE_EXHAUSTED and not a device failure.
    ASSIGN_OR_RETURN(kernels::DeviceBuffer p, kernels::DeviceBuffer::Allocate(bytes));
    ASSIGN_OR_RETURN(kernels::DeviceBuffer m, kernels::DeviceBuffer::Allocate(bytes));
    ASSIGN_OR_RETURN(kernels::DeviceBuffer v, kernels::DeviceBuffer::Allocate(bytes));
    kernels::DeviceBuffer vmax;
    if (spec.adam.amsgrad) {
      ASSIGN_OR_RETURN(vmax, kernels::DeviceBuffer::Allocate(bytes));
    }
    CudaContext::Lease lane = context_->Acquire();
    absl::Status status;
    for (const kernels::DeviceBuffer* zeroed : {&m, &v, &vmax}) {
      if (status.ok() && zeroed->bytes() != 0) {
        status = kernels::FillBytesAsync(0, zeroed->bytes(), lane->stream, zeroed->data());
      }
    }
    // p from the initializer, one staging buffer at a time.
    for (uint64_t done = 0; status.ok() && done < n; done += kLaneElements) {
      const uint64_t k = std::min(kLaneElements, n - done);
      FillInitialValues(spec.init, range.begin + done, absl::MakeSpan(lane->staging.floats(), k));
      status = kernels::CopyToDeviceAsync(lane->staging.data(), k * sizeof(float), lane->stream,
                                          p.floats() + done);
      if (status.ok()) status = lane->stream.Synchronize();
    }
    if (status.ok()) status = lane->stream.Synchronize();  // the fills, when n == 0
    if (!status.ok()) return context_->Fail(status, "a table's initialisation");
    return std::make_unique<CudaPartState>(context_, n, std::move(p), std::move(m), std::move(v),
                                           std::move(vmax));
  }

  absl::Status Health() const override { return context_->Health(); }

 private:
  const std::shared_ptr<CudaContext> context_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<StateBackend>> CudaStateBackend(const CudaBackendOptions& options) {
  if (options.lanes < 1) return absl::InvalidArgumentError("CUDA lanes must be at least 1");
  ASSIGN_OR_RETURN(const int count, kernels::CudaDeviceCount());
  if (options.device < 0 || options.device >= count) {
    return absl::InvalidArgumentError(absl::StrCat("CUDA device ", options.device,
                                                   " does not exist: this machine has ", count,
                                                   count == 1 ? " device" : " devices"));
  }
  RETURN_IF_ERROR(kernels::SetCudaDevice(options.device));
  ASSIGN_OR_RETURN(const kernels::CudaDeviceProperties props,
                   kernels::GetCudaDeviceProperties(options.device));
  std::vector<std::unique_ptr<Lane>> lanes;
  for (int i = 0; i < options.lanes; ++i) {
    auto lane = std::make_unique<Lane>();
    ASSIGN_OR_RETURN(lane->stream, kernels::CudaStream::Create());
    ASSIGN_OR_RETURN(lane->staging, kernels::PinnedHostBuffer::Allocate(kLaneBytes));
    ASSIGN_OR_RETURN(lane->grad, kernels::DeviceBuffer::Allocate(kLaneBytes));
    lanes.push_back(std::move(lane));
  }
  std::string description = absl::StrFormat(
      "cuda:%d (%s, compute %d.%d, %.1f GiB)", options.device, props.name, props.compute_major,
      props.compute_minor, static_cast<double>(props.global_memory_bytes) / (1ull << 30));
  return std::make_shared<CudaBackend>(
      std::make_shared<CudaContext>(options.device, std::move(description), std::move(lanes)));
}

}  // namespace adamasync
