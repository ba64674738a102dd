// The server's --device option: where its tables' state lives and where
// Adam runs. "cpu" (host memory, Highway kernel), "cuda" / "cuda:N" (device
// memory of CUDA device 0 / N, CUDA kernel), or "auto" (CUDA device 0 when
// one opens, else the CPU; the server logs which and why).
//
// Example:
//   ASSIGN_OR_RETURN(DeviceOption option, ParseDeviceOption(flag));
//   ASSIGN_OR_RETURN(OpenedBackend opened, OpenStateBackend(option));
//   spdlog::info("{}", opened.log_line);
#ifndef ADAMASYNC_SERVER_DEVICE_OPTION_H_
#define ADAMASYNC_SERVER_DEVICE_OPTION_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/part_state.h"

namespace adamasync {

struct DeviceOption {
  enum class Kind { kCpu, kCuda, kAuto };
  Kind kind = Kind::kCpu;
  int cuda_device = 0;  // kCuda only
};

// INVALID_ARGUMENT, naming the accepted forms, for anything else.
absl::StatusOr<DeviceOption> ParseDeviceOption(absl::string_view text);

struct OpenedBackend {
  std::shared_ptr<StateBackend> backend;
  std::string log_line;  // what was chosen (and, for auto, why)
};

// Opens the chosen backend. For kCuda, the CUDA error when the device does
// not open (UNIMPLEMENTED in a build without CUDA, FAILED_PRECONDITION
// without a driver or device, INVALID_ARGUMENT for a device number out of
// range): a server asked for a GPU does not quietly run on the CPU. kAuto
// never fails: it falls back to the CPU.
absl::StatusOr<OpenedBackend> OpenStateBackend(const DeviceOption& option);

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_DEVICE_OPTION_H_
