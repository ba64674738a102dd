#include "server/checkpoint_manager.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace adamasync {
namespace {

// How often the background thread looks at timers, counts and held cuts.
constexpr absl::Duration kTick = absl::Milliseconds(100);

}  // namespace

absl::StatusOr<std::unique_ptr<CheckpointManager>> CheckpointManager::Open(
    const CheckpointOptions& options, ShardStore* store, ServerMetrics* metrics) {
  if (options.dir.empty()) return absl::InvalidArgumentError("checkpoint dir is empty");
  if (options.interval < absl::ZeroDuration() || options.cut_hold_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "checkpoint interval must be >= 0 and the cut hold timeout > 0");
  }
  CheckpointDirectoryOptions dir_options;
  dir_options.path = options.dir;
  dir_options.shard_index = store->options().shard_index;
  dir_options.num_shards = store->options().num_shards;
  dir_options.keep_last = options.keep_last;
  dir_options.fault_hook = options.fault_hook;
  ASSIGN_OR_RETURN(std::unique_ptr<CheckpointDirectory> directory,
                   CheckpointDirectory::Open(std::move(dir_options)));
  return std::unique_ptr<CheckpointManager>(
      new CheckpointManager(options, store, metrics, std::move(directory)));
}

CheckpointManager::CheckpointManager(const CheckpointOptions& options, ShardStore* store,
                                     ServerMetrics* metrics,
                                     std::unique_ptr<CheckpointDirectory> directory)
    : options_(options), store_(store), metrics_(metrics), directory_(std::move(directory)) {}

CheckpointManager::~CheckpointManager() { Stop(); }

absl::Status CheckpointManager::Restore(uint64_t checkpoint_id) {
  ShardCheckpoint checkpoint;
  std::string source;
  if (checkpoint_id != 0) {
    ASSIGN_OR_RETURN(
        CheckpointManifest manifest,
        ReadManifest(absl::StrCat(options_.dir, "/", ManifestFileName(checkpoint_id))));
    ASSIGN_OR_RETURN(checkpoint,
                     LoadFromManifest(options_.dir, manifest, store_->options().shard_index,
                                      store_->options().num_shards));
    source = absl::StrCat(ManifestFileName(checkpoint_id), " (consistent cut)");
  } else {
    absl::StatusOr<LoadedCheckpoint> loaded = directory_->LoadNewestValid();
    if (absl::IsNotFound(loaded.status())) {
      spdlog::info("no checkpoint of this shard in {}: starting empty", options_.dir);
      return absl::OkStatus();
    }
    if (!loaded.ok()) return loaded.status();
    for (const RejectedCheckpoint& rejected : loaded->rejected) {
      spdlog::error("checkpoint {} rejected: {}; falling back to an older one", rejected.file_name,
                    rejected.reason.ToString());
    }
    for (const std::string& temp : loaded->removed_temp_files) {
      spdlog::warn("removed {} left by an interrupted checkpoint write", temp);
    }
    checkpoint = std::move(loaded->checkpoint);
    source = loaded->file_name;
  }
  RETURN_IF_ERROR(store_->Restore(checkpoint));
  uint64_t versions = 0;
  for (const TableRecord& t : checkpoint.tables) {
    for (uint64_t step : t.segment_steps) versions = std::max(versions, step);
  }
  spdlog::info("restored {} table(s) and {} worker(s) from {} (highest version {})",
               checkpoint.tables.size(), checkpoint.workers.size(), source, versions);
  if (metrics_ != nullptr) {
    metrics_->RecordRestore(
        absl::FromUnixMillis(static_cast<int64_t>(checkpoint.header.created_unix_ms)));
  }
  absl::MutexLock lock(&mu_);
  info_.restored_from = source;
  pushes_at_last_ = store_->applied_pushes();
  return absl::OkStatus();
}

void CheckpointManager::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void CheckpointManager::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (prepared_id_ != 0) {
      prepared_id_ = 0;
      store_->ReleasePushes();
    }
  }
  if (thread_.joinable()) thread_.join();
}

void CheckpointManager::Run() {
  absl::Time next_timer = absl::Now() + options_.interval;
  while (true) {
    bool due = false;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), kTick);
      if (stopping_) return;
      // A cut whose coordinator vanished must not hold pushes forever.
      if (prepared_id_ != 0 && absl::Now() - prepared_at_ > options_.cut_hold_timeout) {
        spdlog::warn("checkpoint cut {} was neither committed nor aborted within {}: released",
                     prepared_id_, absl::FormatDuration(options_.cut_hold_timeout));
        prepared_id_ = 0;
        store_->ReleasePushes();
      }
      if (prepared_id_ == 0) {
        const bool timer = options_.interval > absl::ZeroDuration() && absl::Now() >= next_timer;
        const bool count = options_.every_updates > 0 &&
                           store_->applied_pushes() - pushes_at_last_ >= options_.every_updates;
        due = timer || count;
      }
    }
    if (due) {
      next_timer = absl::Now() + options_.interval;
      absl::StatusOr<WrittenCheckpoint> written = WriteNow();
      if (!written.ok())
        spdlog::error("periodic checkpoint failed: {}", written.status().ToString());
    }
  }
}

absl::StatusOr<WrittenCheckpoint> CheckpointManager::Write(const ShardCheckpoint& checkpoint,
                                                           absl::Time started) {
  ASSIGN_OR_RETURN(WrittenCheckpoint written, directory_->WriteAtomically(checkpoint));
  const absl::Time finished = absl::Now();
  if (metrics_ != nullptr) {
    metrics_->RecordCheckpoint(finished, finished - started, written.digest.size_bytes);
  }
  for (const std::string& error : written.prune_errors) spdlog::warn("{}", error);
  spdlog::info("checkpoint {} written ({} bytes, {})", written.file_name, written.digest.size_bytes,
               absl::FormatDuration(finished - started));
  absl::MutexLock lock(&mu_);
  info_.file_name = written.file_name;
  info_.written = finished;
  return written;
}

absl::StatusOr<WrittenCheckpoint> CheckpointManager::WriteNow(uint64_t checkpoint_id) {
  const absl::Time started = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    if (prepared_id_ != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("consistent cut ", prepared_id_, " is in progress"));
    }
    pushes_at_last_ = store_->applied_pushes();
  }
  ASSIGN_OR_RETURN(ShardCheckpoint checkpoint, store_->Snapshot(checkpoint_id));
  return Write(checkpoint, started);
}

absl::Status CheckpointManager::Prepare(uint64_t checkpoint_id) {
  if (checkpoint_id == 0) return absl::InvalidArgumentError("checkpoint_id must be > 0");
  {
    absl::MutexLock lock(&mu_);
    if (prepared_id_ == checkpoint_id) return absl::OkStatus();
    if (prepared_id_ != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("consistent cut ", prepared_id_, " is already in progress"));
    }
    prepared_id_ = checkpoint_id;
    prepared_at_ = absl::Now();
  }
  store_->HoldPushes();
  return absl::OkStatus();
}

absl::StatusOr<WrittenCheckpoint> CheckpointManager::Commit(uint64_t checkpoint_id) {
  if (checkpoint_id == 0) return WriteNow(0);
  const absl::Time started = absl::Now();
  ShardCheckpoint checkpoint;
  {
    absl::MutexLock lock(&mu_);
    if (prepared_id_ != checkpoint_id) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint ", checkpoint_id, " was not prepared here (or its hold timed out)"));
    }
    absl::StatusOr<ShardCheckpoint> taken = store_->Snapshot(checkpoint_id);
    prepared_id_ = 0;
    pushes_at_last_ = store_->applied_pushes();
    store_->ReleasePushes();
    if (!taken.ok()) return taken.status();
    checkpoint = *std::move(taken);
  }
  return Write(checkpoint, started);
}

absl::Status CheckpointManager::Abort(uint64_t checkpoint_id) {
  absl::MutexLock lock(&mu_);
  if (prepared_id_ != checkpoint_id || checkpoint_id == 0) return absl::OkStatus();
  prepared_id_ = 0;
  store_->ReleasePushes();
  spdlog::info("checkpoint cut {} aborted", checkpoint_id);
  return absl::OkStatus();
}

absl::StatusOr<std::string> CheckpointManager::Finalize(const CheckpointManifest& manifest) {
  RETURN_IF_ERROR(WriteManifest(options_.dir, manifest, options_.fault_hook));
  spdlog::info("consistent cut {} recorded in {}", manifest.checkpoint_id,
               ManifestFileName(manifest.checkpoint_id));
  return ManifestFileName(manifest.checkpoint_id);
}

CheckpointInfo CheckpointManager::info() const {
  absl::MutexLock lock(&mu_);
  return info_;
}

}  // namespace adamasync
