// Finding and loading the checkpoint files of every shard of a cluster,
// read-only, for `adamasync-ctl export --from_checkpoint_dir`:
//
// * a consistent cut: the manifest of checkpoint N names each shard's file,
//   which must match the size and XXH64 it records (LoadFromManifest);
// * otherwise each shard's newest file that reads and validates, falling
//   back past corrupt or truncated newer ones, as a restarting server
//   does. Unlike CheckpointDirectory::LoadNewestValid this never deletes
//   anything (temp files may belong to a running server's write).
//
// Example:
//   CheckpointSelection selection{{"/ckpt"}, /*num_shards=*/2, /*checkpoint_id=*/0};
//   RETURN_IF_ERROR(ForEachShardCheckpoint(selection, [&](LoadedShard shard) {
//     return assembler.Add(shard.checkpoint);
//   }));
//
// Thread safety: the functions keep no state.
#ifndef ADAMASYNC_CTL_SHARD_CHECKPOINTS_H_
#define ADAMASYNC_CTL_SHARD_CHECKPOINTS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/checkpoint_format.h"

namespace adamasync::ctl {

struct CheckpointSelection {
  // Where the files are: one directory for every shard, or one per shard in
  // shard order. REQUIRES: 1 or num_shards entries.
  std::vector<std::string> dirs;
  // The cluster's shard count. With checkpoint_id > 0 it may be 0 (taken
  // from the manifest); otherwise REQUIRES: > 0.
  uint32_t num_shards = 0;
  // > 0: the consistent cut whose manifest-<id>.txt (read from each shard's
  // directory) names the files; 0: each shard's newest valid file.
  uint64_t checkpoint_id = 0;
};

struct LoadedShard {
  uint32_t shard_index = 0;
  uint32_t num_shards = 0;
  std::string path;  // the file loaded
  ShardCheckpoint checkpoint;
  // Newer files of this shard that were skipped, "<file>: <reason>".
  std::vector<std::string> skipped;
};

// This shard's newest checkpoint in `dir` that reads, validates and was
// written by this shard (index and count). NOT_FOUND when there is none;
// DATA_LOSS when every file was rejected (the message lists why).
absl::StatusOr<LoadedShard> LoadNewestValidReadOnly(const std::string& dir, uint32_t shard_index,
                                                    uint32_t num_shards);

// Loads shard 0, 1, ... one at a time and hands each to `consume` (so at
// most one shard's file is held besides what `consume` keeps). Stops at the
// first error, of loading or of `consume`.
absl::Status ForEachShardCheckpoint(const CheckpointSelection& selection,
                                    const std::function<absl::Status(LoadedShard)>& consume);

}  // namespace adamasync::ctl

#endif  // ADAMASYNC_CTL_SHARD_CHECKPOINTS_H_
