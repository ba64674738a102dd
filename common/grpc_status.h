// The one place where absl::Status and grpc::Status are converted.
#ifndef ADAMASYNC_COMMON_GRPC_STATUS_H_
#define ADAMASYNC_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace adamasync {

// absl::Status payload key whose bytes travel as the gRPC status's binary
// error details (a serialized adamasync.v1.StaleGradient, for example).
inline constexpr char kErrorDetailsPayload[] = "type.googleapis.com/adamasync.v1.ErrorDetails";

// Same code (the numeric values of the two enums are the gRPC codes) and
// message; the kErrorDetailsPayload payload <-> error_details.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_GRPC_STATUS_H_
