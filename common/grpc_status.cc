#include "common/grpc_status.h"

#include <string>

#include "absl/strings/cord.h"

namespace adamasync {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const absl::optional<absl::Cord> details = status.GetPayload(kErrorDetailsPayload);
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      details ? std::string(*details) : std::string());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status result(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (!status.error_details().empty()) {
    result.SetPayload(kErrorDetailsPayload, absl::Cord(status.error_details()));
  }
  return result;
}

}  // namespace adamasync
