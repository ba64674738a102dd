// The staleness rule: what a shard does with a push computed from an older
// version, as a pure function of the table's policy and the two versions.
// See docs/consistency.md and REFERENCE.md section 3 (staleness-aware ASGD
// scales the step, lr / tau, never the gradient: Adam is nearly invariant
// to a gradient scale).
#ifndef ADAMASYNC_COMMON_STALENESS_H_
#define ADAMASYNC_COMMON_STALENESS_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "adamasync/table_spec.h"

namespace adamasync {

struct StalenessDecision {
  uint64_t staleness = 0;  // current - pulled (0 when pulled >= current)
  bool reject = false;     // kReject past the bound: apply nothing
  double lr_scale = 1.0;   // kScale past the bound: 1 / staleness
};

StalenessDecision DecideStaleness(const ConsistencyConfig& config, uint64_t current_version,
                                  uint64_t pulled_version);

// Histogram buckets: 0 holds staleness 0, bucket i >= 1 holds
// [2^(i-1), 2^i), the last bucket everything from 2^(kStalenessBuckets-2) up.
inline constexpr int kStalenessBuckets = 12;
int StalenessBucket(uint64_t staleness);

// The ABORTED status of a push the kReject policy refused, carrying a
// serialized adamasync.v1.StaleGradient as its error details.
absl::Status StaleGradientError(uint64_t current_version, uint64_t pulled_version,
                                int64_t max_staleness);

// What a StaleGradientError says, or nullopt for any other status.
struct StaleGradientInfo {
  uint64_t current_version = 0;
  uint64_t pulled_version = 0;
  int64_t max_staleness = 0;
};
std::optional<StaleGradientInfo> GetStaleGradient(const absl::Status& status);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_STALENESS_H_
