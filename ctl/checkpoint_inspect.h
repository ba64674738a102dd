// `adamasync-ctl inspect FILE`: reads and verifies a checkpoint file or a
// manifest and describes it.
//
// * A checkpoint file is read with ReadCheckpointFile, which verifies every
//   checksum and rule (docs/checkpoint.md); the report gives the header
//   (format version, shard, checkpoint id, creation time), the workers, and
//   per table its spec, part range, versions (min/max segment step), dedupe
//   records and pending synchronous contributions.
// * A manifest (manifest-<id>.txt) is read with ReadManifest; every file it
//   names is checked against the size and XXH64 it records and read in full
//   (LoadFromManifest).
//
// Example:
//   InspectReport report = InspectFile("/ckpt/shard-0-of-2-...ckpt", {}, false, absl::Now());
//   std::cout << report.text;
//   if (!report.status.ok()) std::cerr << report.status.message();
//
// Thread safety: the functions keep no state.
#ifndef ADAMASYNC_CTL_CHECKPOINT_INSPECT_H_
#define ADAMASYNC_CTL_CHECKPOINT_INSPECT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace adamasync::ctl {

struct InspectReport {
  std::string text;     // what was found (also on failure: as much as could be read)
  absl::Status status;  // OK when the file (and every file a manifest names) verified
};

// Inspects `path`: a manifest when its content starts like one, otherwise a
// checkpoint file. `shard_dirs` says where a manifest's files are: empty =
// the manifest's directory; one directory for all shards, or one per shard.
// `json`: the report as one JSON object instead of text.
InspectReport InspectFile(const std::string& path, const std::vector<std::string>& shard_dirs,
                          bool json, absl::Time now);

}  // namespace adamasync::ctl

#endif  // ADAMASYNC_CTL_CHECKPOINT_INSPECT_H_
