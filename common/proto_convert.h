// Conversions between the wire messages (proto/) and the plain domain types
// (adamasync/table_spec.h). Conversions from the wire check that enums hold
// known values; the full rules are in table_spec_validation.h.
#ifndef ADAMASYNC_COMMON_PROTO_CONVERT_H_
#define ADAMASYNC_COMMON_PROTO_CONVERT_H_

#include "absl/status/statusor.h"
#include "adamasync/table_spec.h"
#include "adamasync/v1/parameter_server.pb.h"

namespace adamasync {

v1::TableSpec ToProto(const TableSpec& spec);
v1::AdamConfig ToProto(const AdamConfig& adam);
absl::StatusOr<TableSpec> FromProto(const v1::TableSpec& proto);
absl::StatusOr<AdamConfig> FromProto(const v1::AdamConfig& proto);
v1::ConsistencyConfig ToProto(const ConsistencyConfig& consistency);
absl::StatusOr<ConsistencyConfig> FromProto(const v1::ConsistencyConfig& proto);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_PROTO_CONVERT_H_
