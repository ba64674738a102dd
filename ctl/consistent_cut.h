// The coordinator of a consistent cut across all shards
// (docs/checkpoint.md, "Manifests and consistent cuts"):
//
//   1. PrepareCheckpoint on every shard at once: each holds new pushes and
//      waits for those being applied;
//   2. once every shard is prepared, CommitCheckpoint on every shard at
//      once: each copies its state, releases pushes and writes its file;
//   3. once every file is written, FinalizeCheckpoint on every shard (one
//      after the other: shards may share a directory) with the list of all
//      files: each writes the cut's manifest, the commit point, into its
//      checkpoint directory.
//
// On any failure every shard gets AbortCheckpoint (a no-op where nothing is
// held), so no shard keeps pushes held until its hold timeout; files
// written before the failure carry the cut's id but no manifest names
// them, so they are not a cut (and are pruned like any other file).
//
// Example:
//   absl::StatusOr<CutResult> cut = TakeConsistentCut(*admin, NowUnixMillis());
//   if (cut.ok()) std::cout << EncodeManifest(cut->manifest);
//
// Thread safety: one cut at a time per AdminClient caller; the shards
// refuse a second concurrent cut (FAILED_PRECONDITION).
#ifndef ADAMASYNC_CTL_CONSISTENT_CUT_H_
#define ADAMASYNC_CTL_CONSISTENT_CUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/checkpoint_files.h"
#include "ctl/admin_client.h"

namespace adamasync::ctl {

struct CutResult {
  CheckpointManifest manifest;  // every shard's file, size and XXH64
  std::string manifest_file;    // its name in each shard's checkpoint directory
};

// Runs the three phases. REQUIRES: checkpoint_id > 0 (INVALID_ARGUMENT).
// On failure: the first failing shard's code, with a message listing every
// shard's failure and what state the cut was left in.
absl::StatusOr<CutResult> TakeConsistentCut(AdminClient& admin, uint64_t checkpoint_id);

}  // namespace adamasync::ctl

#endif  // ADAMASYNC_CTL_CONSISTENT_CUT_H_
