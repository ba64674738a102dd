// The absl <-> gRPC status conversion: code, message and error details
// survive the trip, and only a server's NotApplied UNAVAILABLE is recognised
// as safe to send again.
#include "common/grpc_status.h"

#include <gtest/gtest.h>

#include "common/staleness.h"

namespace adamasync {
namespace {

absl::Status RoundTrip(const absl::Status& status) { return FromGrpcStatus(ToGrpcStatus(status)); }

TEST(GrpcStatusTest, CodeMessageAndDetailsSurviveTheTrip) {
  EXPECT_TRUE(RoundTrip(absl::OkStatus()).ok());
  const absl::Status stale = StaleGradientError(/*current_version=*/9, /*pulled_version=*/2, 3);
  const absl::Status back = RoundTrip(stale);
  EXPECT_EQ(back.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(back.message(), stale.message());
  ASSERT_TRUE(GetStaleGradient(back).has_value());
  EXPECT_EQ(GetStaleGradient(back)->current_version, 9u);
}

TEST(GrpcStatusTest, OnlyAMarkedUnavailableIsNotApplied) {
  const absl::Status marked = RoundTrip(NotAppliedUnavailable("shard restoring"));
  EXPECT_EQ(marked.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(marked.message(), "shard restoring");
  EXPECT_TRUE(IsNotAppliedUnavailable(marked));
  // A connection lost mid-call, another code with details, garbage details.
  EXPECT_FALSE(IsNotAppliedUnavailable(RoundTrip(absl::UnavailableError("Socket closed"))));
  EXPECT_FALSE(IsNotAppliedUnavailable(RoundTrip(StaleGradientError(9, 2, 3))));
  absl::Status garbage = absl::UnavailableError("x");
  garbage.SetPayload(kErrorDetailsPayload, absl::Cord("\xff\xff\xff"));
  EXPECT_FALSE(IsNotAppliedUnavailable(RoundTrip(garbage)));
  // The marker on another code does not count either.
  absl::Status internal = absl::InternalError("x");
  internal.SetPayload(kErrorDetailsPayload,
                      *NotAppliedUnavailable("x").GetPayload(kErrorDetailsPayload));
  EXPECT_FALSE(IsNotAppliedUnavailable(RoundTrip(internal)));
}

}  // namespace
}  // namespace adamasync
