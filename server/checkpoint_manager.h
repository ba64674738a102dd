// CheckpointManager: when and how a shard's state reaches its checkpoint
// directory, and how it comes back at start.
//
// * Restore: the newest valid file of this shard (falling back past corrupt
//   ones), or the file a consistent cut's manifest names.
// * Periodic checkpoints (every interval and/or every N applied pushes), on
//   demand, and a final one at shutdown. Pushes are held only while the
//   shard is copied in memory; the file is written afterwards.
// * Consistent cuts across shards: Prepare holds pushes, Commit copies and
//   writes, Finalize records the manifest; a prepared cut that is neither
//   committed nor aborted releases pushes after `cut_hold_timeout`.
//
// Thread safety: all methods may be called concurrently.
#ifndef ADAMASYNC_SERVER_CHECKPOINT_MANAGER_H_
#define ADAMASYNC_SERVER_CHECKPOINT_MANAGER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/checkpoint_files.h"
#include "server/server_metrics.h"
#include "server/shard_store.h"

namespace adamasync {

struct CheckpointOptions {
  // Directory of this shard's checkpoints. REQUIRES: non-empty.
  std::string dir;
  // Write a checkpoint this often; zero: no timer.
  absl::Duration interval = absl::ZeroDuration();
  // ... or after this many applied push chunks; 0: no count.
  uint64_t every_updates = 0;
  // Checkpoints of this shard kept on disk. REQUIRES: >= 1.
  int keep_last = 3;
  // A prepared cut releases pushes after this long without Commit/Abort.
  absl::Duration cut_hold_timeout = absl::Seconds(30);
  // Tests only: crash simulation inside file writes.
  CheckpointFaultHook fault_hook;
};

struct CheckpointInfo {
  std::string file_name;  // empty: none yet
  absl::Time written = absl::InfinitePast();
  std::string restored_from;  // the file loaded at start, if any
};

class CheckpointManager {
 public:
  // `store` and `metrics` must outlive the manager.
  static absl::StatusOr<std::unique_ptr<CheckpointManager>> Open(const CheckpointOptions& options,
                                                                 ShardStore* store,
                                                                 ServerMetrics* metrics);
  ~CheckpointManager();
  CheckpointManager(const CheckpointManager&) = delete;
  CheckpointManager& operator=(const CheckpointManager&) = delete;

  // Loads this shard's newest valid checkpoint into the (empty) store, or
  // the file named by the manifest of cut `checkpoint_id` when it is not 0.
  // OK with nothing loaded when the directory holds no checkpoint of this
  // shard; DATA_LOSS when every one is corrupt (the server must not start
  // empty then); FAILED_PRECONDITION for another shard count.
  absl::Status Restore(uint64_t checkpoint_id);

  // Starts the timer / update-count thread.
  void Start();
  // Stops it (idempotent).
  void Stop();

  // Copies the shard now (pushes held briefly) and writes the file.
  absl::StatusOr<WrittenCheckpoint> WriteNow(uint64_t checkpoint_id = 0);
  absl::Status Prepare(uint64_t checkpoint_id);
  absl::StatusOr<WrittenCheckpoint> Commit(uint64_t checkpoint_id);
  absl::Status Abort(uint64_t checkpoint_id);
  // Writes the manifest of a committed cut; returns its file name.
  absl::StatusOr<std::string> Finalize(const CheckpointManifest& manifest);

  CheckpointInfo info() const;
  absl::Duration cut_hold_timeout() const { return options_.cut_hold_timeout; }

 private:
  CheckpointManager(const CheckpointOptions& options, ShardStore* store, ServerMetrics* metrics,
                    std::unique_ptr<CheckpointDirectory> directory);
  void Run();
  absl::StatusOr<WrittenCheckpoint> Write(const ShardCheckpoint& checkpoint, absl::Time started);

  const CheckpointOptions options_;
  ShardStore* const store_;
  ServerMetrics* const metrics_;
  std::unique_ptr<CheckpointDirectory> directory_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t prepared_id_ ABSL_GUARDED_BY(mu_) = 0;  // 0: no cut prepared
  absl::Time prepared_at_ ABSL_GUARDED_BY(mu_);
  CheckpointInfo info_ ABSL_GUARDED_BY(mu_);
  uint64_t pushes_at_last_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_CHECKPOINT_MANAGER_H_
