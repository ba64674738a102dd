#include "common/staleness.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "adamasync/v1/parameter_server.pb.h"
#include "common/grpc_status.h"

namespace adamasync {

StalenessDecision DecideStaleness(const ConsistencyConfig& config, uint64_t current_version,
                                  uint64_t pulled_version) {
  StalenessDecision d;
  d.staleness = current_version > pulled_version ? current_version - pulled_version : 0;
  if (config.staleness_policy == StalenessPolicy::kApply) return d;
  if (d.staleness <= static_cast<uint64_t>(config.max_staleness)) return d;
  if (config.staleness_policy == StalenessPolicy::kReject) {
    d.reject = true;
  } else {
    // d.staleness > max_staleness >= 0, so it is at least 1.
    d.lr_scale = 1.0 / static_cast<double>(d.staleness);
  }
  return d;
}

int StalenessBucket(uint64_t staleness) {
  int bucket = 0;
  while (staleness != 0 && bucket < kStalenessBuckets - 1) {
    staleness >>= 1;
    ++bucket;
  }
  return bucket;
}

absl::Status StaleGradientError(uint64_t current_version, uint64_t pulled_version,
                                int64_t max_staleness) {
  absl::Status status = absl::AbortedError(absl::StrCat(
      "stale gradient: computed at version ", pulled_version, ", the table is at version ",
      current_version, " (staleness ", current_version - pulled_version, " > max_staleness ",
      max_staleness, "); nothing was applied: pull again"));
  v1::StaleGradient details;
  details.set_current_version(current_version);
  details.set_pulled_version(pulled_version);
  details.set_max_staleness(max_staleness);
  status.SetPayload(kErrorDetailsPayload, absl::Cord(details.SerializeAsString()));
  return status;
}

std::optional<StaleGradientInfo> GetStaleGradient(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kAborted) return std::nullopt;
  const absl::optional<absl::Cord> payload = status.GetPayload(kErrorDetailsPayload);
  if (!payload) return std::nullopt;
  v1::StaleGradient details;
  if (!details.ParseFromString(std::string(*payload))) return std::nullopt;
  return StaleGradientInfo{details.current_version(), details.pulled_version(),
                           details.max_staleness()};
}

}  // namespace adamasync
