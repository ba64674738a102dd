// What `adamasync-ctl status` prints: every shard's GetStats answer merged
// into one view of the cluster — shards (uptime, last checkpoint and its
// age, what each restored from at start), tables (elements, version per
// shard, pushes, staleness, duplicates) and workers (clock per shard,
// liveness, what a blocked pull waits for) — as aligned text or as JSON.
//
// Pure functions of the answers and the current time, so they are tested
// without servers.
//
// Example:
//   std::vector<absl::StatusOr<v1::GetStatsResponse>> answers = admin->GetStatsAll();
//   std::cout << FormatStatusText(addresses, answers, absl::Now());
#ifndef ADAMASYNC_CTL_CLUSTER_STATUS_H_
#define ADAMASYNC_CTL_CLUSTER_STATUS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "adamasync/v1/parameter_server.pb.h"

namespace adamasync::ctl {

// answers[i] is shard i's answer (or the error of asking it); addresses[i]
// its address. REQUIRES: addresses.size() == answers.size().
std::string FormatStatusText(const std::vector<std::string>& addresses,
                             const std::vector<absl::StatusOr<v1::GetStatsResponse>>& answers,
                             absl::Time now);

// The same as one JSON object:
//   {"shards": [{"index", "address", "ok", "error", "uptime_s", "server_version",
//                "last_checkpoint_file", "last_checkpoint_unix_ms", "last_checkpoint_age_s",
//                "restored_from"}],
//    "tables": [{"name", "num_elements", "versions": [per shard, null if unknown],
//                "pushes": [...], "pulls": [...], "part_empty": [per shard: holds no
//                element], "staleness_mean", "staleness_max",
//                "duplicates", "rejected", "spec"}],
//    "workers": [{"id", "clocks": [...], "live": [...], "last_seq", "blocked_on": [...]}]}
std::string FormatStatusJson(const std::vector<std::string>& addresses,
                             const std::vector<absl::StatusOr<v1::GetStatsResponse>>& answers,
                             absl::Time now);

// "850ms", "12.3s", "4m05s", "3h02m", "5d03h".
std::string FormatAge(absl::Duration age);

}  // namespace adamasync::ctl

#endif  // ADAMASYNC_CTL_CLUSTER_STATUS_H_
