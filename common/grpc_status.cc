#include "common/grpc_status.h"

#include <string>

#include "absl/strings/cord.h"
#include "adamasync/v1/parameter_server.pb.h"

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

absl::Status NotAppliedUnavailable(absl::string_view message) {
  absl::Status status = absl::UnavailableError(message);
  v1::NotApplied details;
  details.set_reason(std::string(message));
  status.SetPayload(kErrorDetailsPayload, absl::Cord(details.SerializeAsString()));
  return status;
}

bool IsNotAppliedUnavailable(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return false;
  const absl::optional<absl::Cord> payload = status.GetPayload(kErrorDetailsPayload);
  if (!payload) return false;
  v1::NotApplied details;
  return details.ParseFromString(std::string(*payload)) && !details.reason().empty();
}

}  // namespace adamasync
