// CheckpointDirectory (common/checkpoint_files.h): one shard's checkpoint
// files in a directory. Atomic writes (temp file, fsync, rename, fsync the
// directory) through a sink that hashes the bytes and fires the fault
// stages; retention that spares the files a manifest names; and loading the
// newest valid file, falling back past the ones that do not read.
#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/checkpoint_files.h"
#include "common/checkpoint_files_internal.h"
#include "common/status_macros.h"

namespace adamasync {
namespace {

using checkpoint_internal::ErrnoError;
using checkpoint_internal::FdCloser;
using checkpoint_internal::FileNames;
using checkpoint_internal::JoinPath;
using checkpoint_internal::kTempSuffix;
using checkpoint_internal::SyncDirectory;
using checkpoint_internal::WriteAll;

// Appends to an open file, hashing what it writes, and fires the mid_write
// fault stage after the first piece.
class FdSink final : public CheckpointSink {
 public:
  FdSink(int fd, std::string path, const CheckpointFaultHook* hook)
      : fd_(fd), path_(std::move(path)), hook_(hook), state_(XXH64_createState()) {
    XXH64_reset(state_, 0);
  }
  ~FdSink() override { XXH64_freeState(state_); }

  absl::Status Append(std::string_view bytes) override {
    RETURN_IF_ERROR(WriteAll(fd_, bytes.data(), bytes.size(), path_));
    XXH64_update(state_, bytes.data(), bytes.size());
    size_ += bytes.size();
    if (!fired_ && hook_ != nullptr && *hook_) {
      fired_ = true;
      absl::Status status = (*hook_)(kStageMidWrite);
      if (!status.ok()) {
        crashed_ = true;
        return status;
      }
    }
    return absl::OkStatus();
  }

  FileDigest digest() const { return {size_, XXH64_digest(state_)}; }
  // True when the fault hook stopped the write (a simulated crash).
  bool crashed() const { return crashed_; }

 private:
  const int fd_;
  const std::string path_;
  const CheckpointFaultHook* const hook_;
  XXH64_state_t* const state_;
  uint64_t size_ = 0;
  bool fired_ = false;
  bool crashed_ = false;
};

}  // namespace

CheckpointDirectory::CheckpointDirectory(CheckpointDirectoryOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<CheckpointDirectory>> CheckpointDirectory::Open(
    CheckpointDirectoryOptions options) {
  if (options.path.empty()) return absl::InvalidArgumentError("checkpoint directory path is empty");
  if (options.num_shards == 0 || options.num_shards > kMaxCheckpointShards ||
      options.shard_index >= options.num_shards) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint directory for shard ", options.shard_index, " of ", options.num_shards,
        ": need shard_index < num_shards <= ", kMaxCheckpointShards));
  }
  if (options.keep_last < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("keep_last must be >= 1, got ", options.keep_last));
  }
  std::error_code ec;
  const bool created = std::filesystem::create_directories(options.path, ec);
  if (ec) return ErrnoError(ec.value(), "create directory", options.path);
  if (created) {
    // Make the new directory's own entry durable.
    std::filesystem::path dir = std::filesystem::absolute(options.path, ec).lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();
    if (!ec) RETURN_IF_ERROR(SyncDirectory(dir.parent_path().string()));
  }
  if (!std::filesystem::is_directory(options.path, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint path '", options.path, "' is not a directory"));
  }
  return std::unique_ptr<CheckpointDirectory>(new CheckpointDirectory(std::move(options)));
}

absl::Status CheckpointDirectory::Hook(std::string_view stage) const {
  return options_.fault_hook ? options_.fault_hook(stage) : absl::OkStatus();
}

absl::StatusOr<std::vector<CheckpointFileId>> CheckpointDirectory::List() const {
  ASSIGN_OR_RETURN(const std::vector<std::string> names, FileNames(options_.path));
  std::vector<CheckpointFileId> ids;
  for (const std::string& name : names) {
    const std::optional<CheckpointFileId> id = ParseCheckpointFileName(name);
    if (id && id->shard_index == options_.shard_index && id->num_shards == options_.num_shards) {
      ids.push_back(*id);
    }
  }
  std::sort(ids.begin(), ids.end(), [](const CheckpointFileId& a, const CheckpointFileId& b) {
    return a.sequence < b.sequence;
  });
  return ids;
}

absl::StatusOr<std::vector<std::string>> CheckpointDirectory::RemoveTempFiles() {
  ASSIGN_OR_RETURN(const std::vector<std::string> names, FileNames(options_.path));
  std::vector<std::string> removed;
  for (const std::string& name : names) {
    if (!absl::EndsWith(name, kTempSuffix)) continue;
    const std::optional<CheckpointFileId> id =
        ParseCheckpointFileName(std::string_view(name).substr(0, name.size() - kTempSuffix.size()));
    if (!id || id->shard_index != options_.shard_index || id->num_shards != options_.num_shards) {
      continue;
    }
    const std::string path = JoinPath(options_.path, name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError(errno, "remove temp file", path);
    }
    removed.push_back(name);
  }
  return removed;
}

absl::StatusOr<WrittenCheckpoint> CheckpointDirectory::WriteAtomically(
    const ShardCheckpoint& checkpoint) {
  if (!CheckCheckpointShard(checkpoint.header, options_.shard_index, options_.num_shards).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint of shard ", checkpoint.header.shard_index, " of ", checkpoint.header.num_shards,
        " given to the directory of shard ", options_.shard_index, " of ", options_.num_shards));
  }
  // Fail before touching the directory (WriteCheckpoint checks it again).
  if (absl::Status s = ValidateShardCheckpoint(checkpoint); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot write checkpoint: ", s.message()));
  }
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(RemoveTempFiles().status());
  ASSIGN_OR_RETURN(const std::vector<CheckpointFileId> existing, List());
  WrittenCheckpoint written;
  if (!existing.empty() && existing.back().sequence == UINT64_MAX) {
    return absl::ResourceExhaustedError(
        absl::StrCat("checkpoint sequence numbers of ", options_.path, " are used up"));
  }
  written.sequence = existing.empty() ? 1 : existing.back().sequence + 1;
  written.file_name =
      CheckpointFileName({options_.shard_index, options_.num_shards, written.sequence});
  written.path = JoinPath(options_.path, written.file_name);
  const std::string temp = absl::StrCat(written.path, kTempSuffix);

  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, "create", temp);
  FdCloser closer(fd);
  RETURN_IF_ERROR(Hook(kStageAfterCreateTemp));
  FdSink sink(fd, temp, &options_.fault_hook);
  absl::Status status = WriteCheckpoint(checkpoint, &sink);
  if (sink.crashed()) return status;
  if (status.ok()) {
    RETURN_IF_ERROR(Hook(kStageAfterWriteBeforeFsync));
    if (::fsync(fd) != 0) status = ErrnoError(errno, "fsync", temp);
  }
  if (status.ok()) status = closer.Close(temp);
  if (status.ok()) {
    RETURN_IF_ERROR(Hook(kStageAfterFsyncBeforeRename));
    if (::rename(temp.c_str(), written.path.c_str()) != 0) {
      status = ErrnoError(errno, "rename", temp);
    }
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  written.digest = sink.digest();
  RETURN_IF_ERROR(Hook(kStageAfterRenameBeforeDirFsync));
  RETURN_IF_ERROR(SyncDirectory(options_.path));
  RETURN_IF_ERROR(Hook(kStageAfterDirFsyncBeforePrune));
  Prune(&written);
  return written;
}

void CheckpointDirectory::Prune(WrittenCheckpoint* written) {
  absl::StatusOr<std::vector<CheckpointFileId>> files = List();
  if (!files.ok()) {
    written->prune_errors.push_back(std::string(files.status().message()));
    return;
  }
  const size_t keep = static_cast<size_t>(options_.keep_last);
  if (files->size() <= keep) return;
  // Files a consistent cut needs stay until its manifest is deleted.
  std::set<std::string> needed;
  absl::StatusOr<std::vector<CheckpointManifest>> manifests = ListManifests(options_.path);
  if (!manifests.ok()) {
    written->prune_errors.push_back(absl::StrCat("not pruning: ", manifests.status().message()));
    return;
  }
  for (const CheckpointManifest& m : *manifests) {
    for (const ManifestEntry& e : m.entries) needed.insert(e.file_name);
  }
  for (size_t i = 0; i + keep < files->size(); ++i) {
    const std::string name = CheckpointFileName((*files)[i]);
    if (needed.count(name) > 0) continue;
    const std::string path = JoinPath(options_.path, name);
    if (::unlink(path.c_str()) == 0) {
      written->pruned.push_back(name);
    } else {
      written->prune_errors.push_back(ErrnoError(errno, "remove", path).ToString());
    }
  }
}

absl::StatusOr<LoadedCheckpoint> CheckpointDirectory::LoadNewestValid() {
  absl::MutexLock lock(&mu_);
  LoadedCheckpoint loaded;
  ASSIGN_OR_RETURN(loaded.removed_temp_files, RemoveTempFiles());
  ASSIGN_OR_RETURN(const std::vector<CheckpointFileId> files, List());
  const std::string shard =
      absl::StrCat("shard ", options_.shard_index, " of ", options_.num_shards);
  if (files.empty()) {
    ASSIGN_OR_RETURN(const std::vector<std::string> names, FileNames(options_.path));
    std::set<uint32_t> other_counts;
    for (const std::string& name : names) {
      const std::optional<CheckpointFileId> id = ParseCheckpointFileName(name);
      if (id && id->num_shards != options_.num_shards) other_counts.insert(id->num_shards);
    }
    if (!other_counts.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint directory '", options_.path, "' has no checkpoint of ", shard,
          " but has checkpoints written with ", absl::StrJoin(other_counts, ", "),
          " shards: a checkpoint restores only into a cluster with the same shard count"));
    }
    return absl::NotFoundError(
        absl::StrCat("checkpoint directory '", options_.path, "' has no checkpoint of ", shard));
  }
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    const std::string name = CheckpointFileName(*it);
    absl::StatusOr<ShardCheckpoint> checkpoint = ReadCheckpointFile(JoinPath(options_.path, name));
    absl::Status status = checkpoint.status();
    if (status.ok()) {
      status = CheckCheckpointShard(checkpoint->header, options_.shard_index, options_.num_shards);
    }
    if (!status.ok()) {
      loaded.rejected.push_back({name, status});
      continue;
    }
    loaded.checkpoint = *std::move(checkpoint);
    loaded.file_name = name;
    loaded.sequence = it->sequence;
    return loaded;
  }
  std::vector<std::string> reasons;
  for (const RejectedCheckpoint& r : loaded.rejected) {
    reasons.push_back(absl::StrCat(r.file_name, ": ", r.reason.ToString()));
  }
  return absl::DataLossError(absl::StrCat("no valid checkpoint of ", shard, " in '", options_.path,
                                          "'; rejected: ", absl::StrJoin(reasons, "; ")));
}

}  // namespace adamasync
