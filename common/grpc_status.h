// The one place where absl::Status and grpc::Status are converted.
#ifndef ADAMASYNC_COMMON_GRPC_STATUS_H_
#define ADAMASYNC_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace adamasync {

// absl::Status payload key whose bytes travel as the gRPC status's binary
// error details (a serialized adamasync.v1.StaleGradient, for example).
inline constexpr char kErrorDetailsPayload[] = "type.googleapis.com/adamasync.v1.ErrorDetails";

// Same code (the numeric values of the two enums are the gRPC codes) and
// message; the kErrorDetailsPayload payload <-> error_details.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// UNAVAILABLE with `message`, marked (adamasync.v1.NotApplied in the error
// details) as answered before anything was applied: safe to send again.
absl::Status NotAppliedUnavailable(absl::string_view message);
// True for a status NotAppliedUnavailable made (after the trip through
// gRPC); false for every other status, an unmarked UNAVAILABLE included.
bool IsNotAppliedUnavailable(const absl::Status& status);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_GRPC_STATUS_H_
