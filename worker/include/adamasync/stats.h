// Counters a shard reports per table and per shard (GetStats). Plain
// structs shared by the client SDK and the server.
#ifndef ADAMASYNC_STATS_H_
#define ADAMASYNC_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

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
};

struct ShardStats {
  uint32_t shard_index = 0;
  uint32_t num_shards = 0;
  double uptime_seconds = 0;
  std::string server_version;
  std::vector<TableStats> tables;  // sorted by name
};

}  // namespace adamasync

#endif  // ADAMASYNC_STATS_H_
