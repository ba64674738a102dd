// The rules a TableSpec must satisfy, checked identically by the client
// (before anything is sent) and by the server (which trusts no client).
#ifndef ADAMASYNC_COMMON_TABLE_SPEC_VALIDATION_H_
#define ADAMASYNC_COMMON_TABLE_SPEC_VALIDATION_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "adamasync/table_spec.h"

namespace adamasync {

inline constexpr uint64_t kMaxTableElements = uint64_t{1} << 40;
inline constexpr size_t kMaxTableNameLength = 128;
inline constexpr int64_t kMaxSyncWorkers = 4096;

// OK, or INVALID_ARGUMENT naming the offending field and value.
absl::Status ValidateTableName(std::string_view name);
absl::Status ValidateAdamConfig(const AdamConfig& adam);
absl::Status ValidateInitializer(const Initializer& init);
absl::Status ValidateConsistency(const ConsistencyConfig& consistency);
absl::Status ValidateTableSpec(const TableSpec& spec);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_TABLE_SPEC_VALIDATION_H_
