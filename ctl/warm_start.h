// `adamasync-ctl warm-start`: creates tables on a cluster and sets their
// parameters from a safetensors file (for example one `export` wrote, or
// weights converted from PyTorch), before any training.
//
// For each chosen tensor: its spec is PyTorch's Adam defaults, overlaid by
// the file's "adamasync.spec.<name>" metadata when present (what `export`
// records), overlaid by the operator's overrides; num_elements is the
// tensor's element count. The table is created (CreateTable is idempotent:
// an identical existing table is fine, a different one is ALREADY_EXISTS),
// then every shard gets its part with WriteParameters, in chunks that start
// on segment boundaries of the part (common/sharding.h ChunkRanges), at
// most ClientOptions-sized (4 MiB) each, shards in parallel.
//
// A shard accepts WriteParameters only for segments no push has touched
// (FAILED_PRECONDITION otherwise), so a warm start never overwrites
// training; the tool also checks GetStats first and refuses before writing
// anything when a chosen table has been trained. A warm start that fails
// half-way leaves the tables untrained: running it again finishes it.
//
// Workers that later call CreateTable for these tables must ask for the
// same spec (initializer included), or they get ALREADY_EXISTS.
//
// Thread safety: the function keeps no state.
#ifndef ADAMASYNC_CTL_WARM_START_H_
#define ADAMASYNC_CTL_WARM_START_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adamasync/client.h"
#include "ctl/admin_client.h"

namespace adamasync::ctl {

struct WarmStartOptions {
  // The safetensors file. REQUIRES: non-empty.
  std::string in;
  // Tensors to load; empty: every tensor except moments ("<t>.exp_avg" and
  // "<t>.exp_avg_sq" when the file also holds "<t>"). Default empty.
  std::vector<std::string> tables;
  // Table-spec text (ctl/table_spec_text.h) applied to every table after
  // the file's metadata, e.g. "lr=0.01 algorithm=adamw". Default empty.
  std::string spec_overrides;
  // Elements per WriteParameters call. REQUIRES: a positive multiple of
  // kSegmentElements. Default 1 Mi (4 MiB).
  uint64_t chunk_elements = uint64_t{1} << 20;
};

struct WarmStartedTable {
  TableSpec spec;
  uint64_t chunks = 0;  // WriteParameters calls made
};

// NOT_FOUND for a requested tensor the file lacks; INVALID_ARGUMENT for an
// invalid file, spec or non-finite value (nothing sent);
// FAILED_PRECONDITION when a table has been trained; the servers' errors.
absl::StatusOr<std::vector<WarmStartedTable>> WarmStart(const WarmStartOptions& options,
                                                        AdminClient& admin, Client& client);

}  // namespace adamasync::ctl

#endif  // ADAMASYNC_CTL_WARM_START_H_
