#include "server/device_option.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/cuda_part_state.h"

namespace adamasync {

absl::StatusOr<DeviceOption> ParseDeviceOption(absl::string_view text) {
  DeviceOption option;
  if (text == "cpu") return option;
  if (text == "auto") {
    option.kind = DeviceOption::Kind::kAuto;
    return option;
  }
  if (text == "cuda") {
    option.kind = DeviceOption::Kind::kCuda;
    return option;
  }
  absl::string_view number = text;
  if (absl::ConsumePrefix(&number, "cuda:") && !number.empty() &&
      number.find_first_not_of("0123456789") == absl::string_view::npos &&
      absl::SimpleAtoi(number, &option.cuda_device)) {
    option.kind = DeviceOption::Kind::kCuda;
    return option;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--device='", text, "' is not one of cpu, cuda, cuda:N (N >= 0), auto"));
}

absl::StatusOr<OpenedBackend> OpenStateBackend(const DeviceOption& option) {
  OpenedBackend opened;
  if (option.kind == DeviceOption::Kind::kCpu) {
    opened.backend = HostStateBackend();
    opened.log_line = absl::StrCat("tables live on ", opened.backend->Describe());
    return opened;
  }
  CudaBackendOptions cuda;
  cuda.device = option.cuda_device;
  absl::StatusOr<std::shared_ptr<StateBackend>> backend = CudaStateBackend(cuda);
  if (backend.ok()) {
    opened.backend = *std::move(backend);
    opened.log_line = absl::StrCat("tables live on ", opened.backend->Describe());
    return opened;
  }
  if (option.kind == DeviceOption::Kind::kCuda) {
    return absl::Status(backend.status().code(),
                        absl::StrCat("--device=cuda:", option.cuda_device,
                                     " cannot be used: ", backend.status().message()));
  }
  opened.backend = HostStateBackend();
  opened.log_line =
      absl::StrCat("--device=auto: no usable CUDA device (", backend.status().message(),
                   "); tables live on ", opened.backend->Describe());
  return opened;
}

}  // namespace adamasync
