// Shard checkpoints on disk: atomic writes, retention, loading the newest
// valid file with fallback, and manifests that name the files of one
// consistent cut across all shards (docs/checkpoint.md).
//
// A checkpoint directory holds, per shard,
//   shard-<index>-of-<count>-<sequence, 20 digits>.ckpt
// files (common/checkpoint_format.h). A file is written as "<name>.tmp",
// fsynced, renamed to its name and the directory fsynced, so a crash leaves
// either the complete file or only a temp file, which loading ignores and
// removes. Several shards may share a directory; one process writes each
// shard's files.
//
// Example:
//   CheckpointDirectoryOptions options;
//   options.path = "/var/lib/adamasync/ckpt";
//   options.shard_index = 2;
//   options.num_shards = 4;
//   ASSIGN_OR_RETURN(auto dir, CheckpointDirectory::Open(options));
//   absl::StatusOr<LoadedCheckpoint> loaded = dir->LoadNewestValid();
//   if (loaded.ok()) { ... restore loaded->checkpoint ... }
//   else if (!absl::IsNotFound(loaded.status())) return loaded.status();
//   ...
//   ASSIGN_OR_RETURN(WrittenCheckpoint written, dir->WriteAtomically(ckpt));
#ifndef ADAMASYNC_COMMON_CHECKPOINT_FILES_H_
#define ADAMASYNC_COMMON_CHECKPOINT_FILES_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/checkpoint_format.h"

namespace adamasync {

// ------------------------------------------------------------- file names

struct CheckpointFileId {
  uint32_t shard_index = 0;
  uint32_t num_shards = 0;
  uint64_t sequence = 0;
  bool operator==(const CheckpointFileId& o) const {
    return shard_index == o.shard_index && num_shards == o.num_shards && sequence == o.sequence;
  }
};

// "shard-<index>-of-<count>-<sequence, 20 digits>.ckpt".
std::string CheckpointFileName(const CheckpointFileId& id);
// The id of a file named exactly as CheckpointFileName names it (no path,
// no leading zeros in index and count), else nullopt.
std::optional<CheckpointFileId> ParseCheckpointFileName(std::string_view file_name);

// ------------------------------------------------------------ whole files

struct FileDigest {
  uint64_t size_bytes = 0;
  uint64_t xxh64 = 0;  // XXH64 (seed 0) of the whole file
  bool operator==(const FileDigest& o) const {
    return size_bytes == o.size_bytes && xxh64 == o.xxh64;
  }
  bool operator!=(const FileDigest& o) const { return !(*this == o); }
};

// Streams the file once. Errors: NOT_FOUND, PERMISSION_DENIED, ... with
// the path.
absl::StatusOr<FileDigest> DigestFile(const std::string& path);

// ReadCheckpoint, streaming from the file at `path` (errors name it).
// When `digest` is not null it receives the digest of the bytes read (the
// whole file when the read succeeds).
absl::StatusOr<ShardCheckpoint> ReadCheckpointFile(const std::string& path,
                                                   FileDigest* digest = nullptr);

// ---------------------------------------------------- fault injection

// Called at each stage of an atomic write. A non-OK status simulates a
// crash right there: the write stops and returns that status, leaving the
// files as they are (temp file included) and cleaning nothing up. Tests
// only; production leaves it empty.
using CheckpointFaultHook = std::function<absl::Status(std::string_view stage)>;

// The stages of CheckpointDirectory::WriteAtomically, in order.
inline constexpr std::string_view kStageAfterCreateTemp = "after_create_temp";
inline constexpr std::string_view kStageMidWrite = "mid_write";  // after the first bytes
inline constexpr std::string_view kStageAfterWriteBeforeFsync = "after_write_before_fsync";
inline constexpr std::string_view kStageAfterFsyncBeforeRename = "after_fsync_before_rename";
inline constexpr std::string_view kStageAfterRenameBeforeDirFsync = "after_rename_before_dir_fsync";
inline constexpr std::string_view kStageAfterDirFsyncBeforePrune = "after_dir_fsync_before_prune";
inline constexpr std::string_view kCheckpointWriteStages[] = {
    kStageAfterCreateTemp,           kStageMidWrite,
    kStageAfterWriteBeforeFsync,     kStageAfterFsyncBeforeRename,
    kStageAfterRenameBeforeDirFsync, kStageAfterDirFsyncBeforePrune};

// ------------------------------------------------------- the directory

struct CheckpointDirectoryOptions {
  // The directory; created (with its parents) if missing. REQUIRES: non-empty.
  std::string path;
  // The shard whose files this object writes and loads.
  // REQUIRES: shard_index < num_shards <= kMaxCheckpointShards.
  uint32_t shard_index = 0;
  uint32_t num_shards = 1;
  // How many of this shard's newest files to keep after a write; older ones
  // are deleted unless a manifest in the directory names them.
  // REQUIRES: >= 1. Default 3.
  int keep_last = 3;
  // Tests only (see CheckpointFaultHook). Default: none.
  CheckpointFaultHook fault_hook;
};

struct WrittenCheckpoint {
  std::string file_name;  // e.g. shard-2-of-4-00000000000000000007.ckpt
  std::string path;       // options.path + "/" + file_name
  uint64_t sequence = 0;
  FileDigest digest;                      // of the file as written (for a manifest)
  std::vector<std::string> pruned;        // older files deleted
  std::vector<std::string> prune_errors;  // deletions that failed (the write still succeeded)
};

struct RejectedCheckpoint {
  std::string file_name;
  absl::Status reason;  // why it could not be loaded
};

struct LoadedCheckpoint {
  ShardCheckpoint checkpoint;
  std::string file_name;
  uint64_t sequence = 0;
  // Newer files of this shard that were skipped, newest first.
  std::vector<RejectedCheckpoint> rejected;
  // Temp files of this shard left by an interrupted write, now deleted.
  std::vector<std::string> removed_temp_files;
};

// Thread safety: all methods may be called from any thread; writes and
// loads are serialized by an internal lock. One CheckpointDirectory (one
// process) per shard and directory.
class CheckpointDirectory {
 public:
  // INVALID_ARGUMENT for bad options; the error of creating the directory.
  static absl::StatusOr<std::unique_ptr<CheckpointDirectory>> Open(
      CheckpointDirectoryOptions options);
  CheckpointDirectory(const CheckpointDirectory&) = delete;
  CheckpointDirectory& operator=(const CheckpointDirectory&) = delete;

  const CheckpointDirectoryOptions& options() const { return options_; }

  // Writes `checkpoint` as this shard's next file (sequence = newest + 1)
  // with write-temp, fsync, rename, fsync-directory, then deletes the files
  // beyond keep_last. Leftover temp files of this shard are removed first.
  // INVALID_ARGUMENT when the checkpoint's header names another shard or
  // breaks ValidateShardCheckpoint (nothing is written); on an I/O error
  // (e.g. RESOURCE_EXHAUSTED: disk full) the temp file is removed and the
  // previous files are untouched.
  absl::StatusOr<WrittenCheckpoint> WriteAtomically(const ShardCheckpoint& checkpoint);

  // Removes this shard's temp files, then returns its newest file that
  // reads, validates and was written by this shard, listing the newer ones
  // it had to skip. NOT_FOUND: the directory holds no file of this shard;
  // FAILED_PRECONDITION: none of this shard, but files written with another
  // shard count (restoring would need resharding); DATA_LOSS: every file of
  // this shard was rejected (the message lists each with its reason).
  absl::StatusOr<LoadedCheckpoint> LoadNewestValid();

  // This shard's checkpoint files, oldest first.
  absl::StatusOr<std::vector<CheckpointFileId>> List() const;

 private:
  explicit CheckpointDirectory(CheckpointDirectoryOptions options);

  absl::StatusOr<std::vector<std::string>> RemoveTempFiles() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Prune(WrittenCheckpoint* written) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Hook(std::string_view stage) const;

  const CheckpointDirectoryOptions options_;
  absl::Mutex mu_;  // serializes writes and loads (directory contents)
};

// -------------------------------------------------------------- manifests

// A consistent cut: one checkpoint file per shard, all taken at the same
// cut (their headers carry checkpoint_id). Files are named relative to the
// manifest's directory.
struct ManifestEntry {
  uint32_t shard_index = 0;
  std::string file_name;  // REQUIRES: a CheckpointFileName of this shard and count
  FileDigest digest;
  bool operator==(const ManifestEntry& o) const {
    return shard_index == o.shard_index && file_name == o.file_name && digest == o.digest;
  }
};

struct CheckpointManifest {
  uint64_t checkpoint_id = 0;  // REQUIRES: > 0
  uint32_t num_shards = 0;     // REQUIRES: 1 .. kMaxCheckpointShards
  // REQUIRES: num_shards entries, entry i for shard i.
  std::vector<ManifestEntry> entries;
  bool operator==(const CheckpointManifest& o) const {
    return checkpoint_id == o.checkpoint_id && num_shards == o.num_shards && entries == o.entries;
  }
};

// "manifest-<checkpoint_id, 20 digits>.txt".
std::string ManifestFileName(uint64_t checkpoint_id);

// The text of a manifest (docs/checkpoint.md), and back. DecodeManifest
// accepts only the exact text EncodeManifest produces (DATA_LOSS otherwise;
// `name` opens its messages).
std::string EncodeManifest(const CheckpointManifest& manifest);
absl::StatusOr<CheckpointManifest> DecodeManifest(std::string_view text, std::string_view name);

// Writes ManifestFileName(checkpoint_id) in `dir` atomically (temp, fsync,
// rename, fsync directory), replacing one with the same id. INVALID_ARGUMENT
// for a manifest that breaks a REQUIRES. `fault_hook` as for checkpoints,
// with stages "manifest_after_write_before_fsync",
// "manifest_after_fsync_before_rename", "manifest_after_rename_before_dir_fsync".
absl::Status WriteManifest(const std::string& dir, const CheckpointManifest& manifest,
                           const CheckpointFaultHook& fault_hook = nullptr);
absl::StatusOr<CheckpointManifest> ReadManifest(const std::string& path);

// The manifests in `dir` that read and validate, oldest (lowest id) first.
absl::StatusOr<std::vector<CheckpointManifest>> ListManifests(const std::string& dir);

// Reads shard `shard_index`'s file of the cut from `dir`, checking its size
// and XXH64 against the manifest and its header against the cut.
// FAILED_PRECONDITION when the manifest is for another shard count;
// DATA_LOSS when the file differs from what the manifest recorded.
absl::StatusOr<ShardCheckpoint> LoadFromManifest(const std::string& dir,
                                                 const CheckpointManifest& manifest,
                                                 uint32_t shard_index, uint32_t num_shards);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_CHECKPOINT_FILES_H_
