#include "ctl/shard_checkpoints.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/checkpoint_files.h"
#include "common/status_macros.h"

namespace adamasync::ctl {

absl::StatusOr<LoadedShard> LoadNewestValidReadOnly(const std::string& dir, uint32_t shard_index,
                                                    uint32_t num_shards) {
  std::error_code error;
  std::vector<CheckpointFileId> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::optional<CheckpointFileId> id =
        ParseCheckpointFileName(entry.path().filename().string());
    if (id && id->shard_index == shard_index && id->num_shards == num_shards) files.push_back(*id);
  }
  if (error) {
    return absl::NotFoundError(absl::StrCat("cannot list ", dir, ": ", error.message()));
  }
  if (files.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no checkpoint of shard ", shard_index, " of ", num_shards, " in ", dir));
  }
  std::sort(files.begin(), files.end(), [](const CheckpointFileId& a, const CheckpointFileId& b) {
    return a.sequence > b.sequence;
  });
  LoadedShard loaded;
  loaded.shard_index = shard_index;
  loaded.num_shards = num_shards;
  for (const CheckpointFileId& id : files) {
    const std::string name = CheckpointFileName(id);
    const std::string path = absl::StrCat(dir, "/", name);
    absl::StatusOr<ShardCheckpoint> checkpoint = ReadCheckpointFile(path);
    absl::Status s = checkpoint.status();
    if (s.ok()) s = CheckCheckpointShard(checkpoint->header, shard_index, num_shards);
    if (!s.ok()) {
      loaded.skipped.push_back(absl::StrCat(name, ": ", s.message()));
      continue;
    }
    loaded.path = path;
    loaded.checkpoint = *std::move(checkpoint);
    return loaded;
  }
  return absl::DataLossError(absl::StrCat("every checkpoint of shard ", shard_index, " in ", dir,
                                          " was rejected: ", absl::StrJoin(loaded.skipped, "; ")));
}

absl::Status ForEachShardCheckpoint(const CheckpointSelection& selection,
                                    const std::function<absl::Status(LoadedShard)>& consume) {
  if (selection.dirs.empty()) return absl::InvalidArgumentError("no checkpoint directory given");
  uint32_t num_shards = selection.num_shards;
  std::optional<CheckpointManifest> manifest;
  if (selection.checkpoint_id != 0) {
    const std::string path =
        absl::StrCat(selection.dirs[0], "/", ManifestFileName(selection.checkpoint_id));
    ASSIGN_OR_RETURN(manifest, ReadManifest(path));
    if (num_shards != 0 && num_shards != manifest->num_shards) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is a cut of ", manifest->num_shards, " shards, not ", num_shards));
    }
    num_shards = manifest->num_shards;
  }
  if (num_shards == 0) {
    return absl::InvalidArgumentError(
        "the shard count is needed to find each shard's newest checkpoint");
  }
  if (selection.dirs.size() != 1 && selection.dirs.size() != num_shards) {
    return absl::InvalidArgumentError(
        absl::StrCat("give one checkpoint directory, or one per shard (", num_shards, "), not ",
                     selection.dirs.size()));
  }
  for (uint32_t shard = 0; shard < num_shards; ++shard) {
    const std::string& dir = selection.dirs[selection.dirs.size() == 1 ? 0 : shard];
    LoadedShard loaded;
    if (manifest) {
      loaded.shard_index = shard;
      loaded.num_shards = num_shards;
      loaded.path = absl::StrCat(dir, "/", manifest->entries[shard].file_name);
      ASSIGN_OR_RETURN(loaded.checkpoint, LoadFromManifest(dir, *manifest, shard, num_shards));
    } else {
      ASSIGN_OR_RETURN(loaded, LoadNewestValidReadOnly(dir, shard, num_shards));
    }
    RETURN_IF_ERROR(consume(std::move(loaded)));
  }
  return absl::OkStatus();
}

}  // namespace adamasync::ctl
