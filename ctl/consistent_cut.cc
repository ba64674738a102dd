#include "ctl/consistent_cut.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace adamasync::ctl {
namespace {

// The first error of `statuses` with every error's message, or OK.
absl::Status Collect(const std::vector<absl::Status>& statuses, const std::string& phase) {
  std::vector<std::string> messages;
  absl::StatusCode code = absl::StatusCode::kOk;
  for (const absl::Status& s : statuses) {
    if (s.ok()) continue;
    if (code == absl::StatusCode::kOk) code = s.code();
    messages.push_back(std::string(s.message()));
  }
  if (code == absl::StatusCode::kOk) return absl::OkStatus();
  return absl::Status(code,
                      absl::StrCat(phase, " failed on ", messages.size(), " of ", statuses.size(),
                                   " shard(s): ", absl::StrJoin(messages, "; ")));
}

// Releases every shard and says so in `failure`'s message.
absl::Status AbortAll(AdminClient& admin, uint64_t checkpoint_id, const absl::Status& failure,
                      const std::string& left) {
  const absl::Status aborted = Collect(admin.AbortCheckpointAll(checkpoint_id), "abort");
  return absl::Status(
      failure.code(),
      absl::StrCat("checkpoint ", checkpoint_id, ": ", failure.message(), ". ",
                   aborted.ok() ? "Aborted on every shard (pushes released)"
                                : absl::StrCat("Aborting failed too (", aborted.message(),
                                               "); a shard still holding pushes releases them "
                                               "after its --cut_hold_timeout_s"),
                   ". ", left));
}

}  // namespace

absl::StatusOr<CutResult> TakeConsistentCut(AdminClient& admin, uint64_t checkpoint_id) {
  if (checkpoint_id == 0) return absl::InvalidArgumentError("the checkpoint id must be > 0");

  if (absl::Status prepared = Collect(admin.PrepareCheckpointAll(checkpoint_id), "prepare");
      !prepared.ok()) {
    return AbortAll(admin, checkpoint_id, prepared, "No file was written for this cut.");
  }

  std::vector<absl::StatusOr<v1::CommitCheckpointResponse>> committed =
      admin.CommitCheckpointAll(checkpoint_id);
  std::vector<absl::Status> commit_status;
  CutResult result;
  result.manifest.checkpoint_id = checkpoint_id;
  result.manifest.num_shards = admin.num_shards();
  std::vector<v1::ManifestEntry> entries;
  for (uint32_t shard = 0; shard < admin.num_shards(); ++shard) {
    commit_status.push_back(committed[shard].status());
    if (!committed[shard].ok()) continue;
    const v1::CommitCheckpointResponse& c = *committed[shard];
    v1::ManifestEntry entry;
    entry.set_shard_index(shard);
    entry.set_file_name(c.file_name());
    entry.set_size_bytes(c.size_bytes());
    entry.set_xxh64(c.xxh64());
    entries.push_back(entry);
    ManifestEntry plain;
    plain.shard_index = shard;
    plain.file_name = c.file_name();
    plain.digest.size_bytes = c.size_bytes();
    plain.digest.xxh64 = c.xxh64();
    result.manifest.entries.push_back(std::move(plain));
  }
  if (absl::Status s = Collect(commit_status, "commit"); !s.ok()) {
    return AbortAll(admin, checkpoint_id, s,
                    "Files written for this cut carry its id but no manifest names them: "
                    "they are not a consistent cut.");
  }

  std::vector<absl::StatusOr<std::string>> finalized =
      admin.FinalizeCheckpointAll(checkpoint_id, entries);
  std::vector<absl::Status> finalize_status;
  std::vector<std::string> with_manifest;
  for (uint32_t shard = 0; shard < admin.num_shards(); ++shard) {
    finalize_status.push_back(finalized[shard].status());
    if (finalized[shard].ok()) {
      result.manifest_file = *finalized[shard];
      with_manifest.push_back(absl::StrCat(shard));
    }
  }
  if (absl::Status s = Collect(finalize_status, "finalize"); !s.ok()) {
    return AbortAll(
        admin, checkpoint_id, s,
        with_manifest.empty()
            ? "No shard recorded the manifest: the files are not a consistent cut."
            : absl::StrCat("Shard(s) ", absl::StrJoin(with_manifest, ","), " recorded ",
                           ManifestFileName(checkpoint_id),
                           "; copy it to the others' checkpoint directories to restore this "
                           "cut there."));
  }
  return result;
}

}  // namespace adamasync::ctl
