// Counters a shard reports per table and per shard (GetStats). Plain
// structs shared by the client SDK and the server.
#ifndef ADAMASYNC_STATS_H_
#define ADAMASYNC_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "adamasync/table_spec.h"

namespace adamasync {

// One shard's counters for its part of one table.
struct TableStats {
  std::string name;
  uint64_t num_elements = 0;  // the whole table
  uint64_t part_begin = 0;    // this shard's elements [part_begin, part_end)
  uint64_t part_end = 0;
  uint64_t version = 0;  // fewest updates applied to any segment of the part
  uint64_t pushes = 0;   // accepted push chunks
  uint64_t pulls = 0;    // served pull chunks
  uint64_t rejected_pushes = 0;
  uint64_t bytes_pushed = 0;
  uint64_t bytes_pulled = 0;
  uint64_t state_bytes = 0;    // p, m, v (and vmax) held for the part
  uint64_t staleness_sum = 0;  // sum over accepted push chunks of version - pulled_version
  uint64_t staleness_max = 0;
  // Accepted push chunks by staleness: bucket 0 counts staleness 0, bucket
  // i >= 1 counts [2^(i-1), 2^i); the last bucket is open-ended.
  std::vector<uint64_t> staleness_histogram;
  uint64_t duplicate_pushes = 0;  // retries answered without applying
  uint64_t stale_rejected = 0;    // refused by the REJECT policy
  uint64_t stale_scaled = 0;      // shrunk by the SCALE policy
  ConsistencyConfig consistency;
};

// A worker as one shard sees it.
struct WorkerStats {
  uint64_t worker_id = 0;
  uint64_t clock = 0;
  bool live = false;
  uint64_t last_seq = 0;
  double seconds_since_contact = 0;
  std::string blocked_on;  // what its waiting pull waits for; empty if none
};

struct ShardStats {
  uint32_t shard_index = 0;
  uint32_t num_shards = 0;
  double uptime_seconds = 0;
  std::string server_version;
  std::vector<TableStats> tables;    // sorted by name
  std::vector<WorkerStats> workers;  // sorted by id
  uint64_t min_live_clock = 0;       // slowest live worker's clock
  uint64_t expired_leases = 0;
};

}  // namespace adamasync

#endif  // ADAMASYNC_STATS_H_
