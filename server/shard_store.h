// ShardStore: the tables one shard server holds, keyed by name.
//
// Knows the shard's place in the cluster (index, count) and enforces the
// state-memory quota. Knows nothing of gRPC: the service converts requests
// into these calls.
//
// Thread safety: all methods may be called concurrently. Table lookups take
// a reader lock on the table map only; the work on a table happens on its
// TablePart, outside that lock.
#ifndef ADAMASYNC_SERVER_SHARD_STORE_H_
#define ADAMASYNC_SERVER_SHARD_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "adamasync/stats.h"
#include "adamasync/table_spec.h"
#include "common/checkpoint_format.h"
#include "common/clock.h"
#include "common/sharding.h"
#include "server/part_state.h"
#include "server/table_part.h"
#include "server/worker_registry.h"

namespace adamasync {

struct ShardOptions {
  // This server's shard index. REQUIRES: < num_shards.
  uint32_t shard_index = 0;
  // Shards in the cluster. REQUIRES: >= 1.
  uint32_t num_shards = 1;
  // Most bytes of table state (p, m, v, vmax) this shard may hold; a
  // CreateTable beyond it is RESOURCE_EXHAUSTED. 0 means no limit.
  uint64_t max_state_bytes = 0;
  // Most tables this shard may hold; a CreateTable beyond it is
  // RESOURCE_EXHAUSTED. 0 means no limit.
  uint64_t max_tables = 0;
  // Most workers the registry may track (registered, or seen through a push
  // or pull); a new worker beyond it is RESOURCE_EXHAUSTED. 0: no limit.
  uint64_t max_workers = 0;
  // Time source for worker leases. Not owned; must outlive the store.
  const Clock* clock = Clock::Real();
  // Where the tables' state lives (--device); null: host memory.
  std::shared_ptr<StateBackend> backend;
};

class ShardStore {
 public:
  struct CreateResult {
    bool created = false;  // false: an identical table already existed
    ElementRange range;    // this shard's part
  };

  explicit ShardStore(const ShardOptions& options);
  ShardStore(const ShardStore&) = delete;
  ShardStore& operator=(const ShardStore&) = delete;

  const ShardOptions& options() const { return options_; }

  // OK when the caller's view of the cluster matches this shard's;
  // FAILED_PRECONDITION otherwise, naming both views.
  absl::Status CheckView(uint32_t shard_index, uint32_t num_shards) const;

  // Creates this shard's part of `spec`. Idempotent for an identical spec;
  // ALREADY_EXISTS for a different spec under the same name;
  // INVALID_ARGUMENT for a bad spec; RESOURCE_EXHAUSTED past the quota
  // (saying what was asked and what is left).
  absl::StatusOr<CreateResult> CreateTable(const TableSpec& spec);

  // The part of table `name`; NOT_FOUND when this shard has no such table.
  absl::StatusOr<std::shared_ptr<TablePart>> Find(absl::string_view name) const;

  // Pushes one chunk of `table` (see TablePart::Push); a registered
  // worker's lease is renewed and its applied seq recorded.
  absl::StatusOr<PushResult> Push(absl::string_view table, const PushArgs& args);

  // The part of `table` for a pull by `worker_id` (0: anonymous), after the
  // table's SSP wait (until `deadline`) for a registered worker.
  absl::StatusOr<std::shared_ptr<TablePart>> PrepareForPull(absl::string_view table,
                                                            uint64_t worker_id,
                                                            absl::Time deadline);

  WorkerRegistry& workers() { return workers_; }
  const WorkerRegistry& workers() const { return workers_; }

  // Per-table counters, sorted by table name.
  std::vector<TableStats> Stats() const;

  // Pushes are held at a gate while a checkpoint copies the shard: HoldPushes
  // closes it and returns once no push is being applied (new pushes wait);
  // ReleasePushes opens it. Pulls are never held. Idempotent.
  void HoldPushes();
  void ReleasePushes();

  // A copy of the whole shard (every table's state, dedupe and open sync
  // rounds, and the workers), taken with pushes held (briefly, for as long
  // as the in-memory copy takes; the gate is left as it was found). Fails
  // only with the backend (a failed device: nothing trustworthy to save).
  absl::StatusOr<ShardCheckpoint> Snapshot(uint64_t checkpoint_id);

  // Loads a checkpoint into an empty store. FAILED_PRECONDITION when the
  // store already has tables or the checkpoint is of another shard or shard
  // count; INVALID_ARGUMENT when it does not fit (its parts are validated).
  absl::Status Restore(const ShardCheckpoint& checkpoint);

  // The backend's health (StateBackend::Health): not OK once the device
  // holding the state failed.
  absl::Status Health() const { return backend_->Health(); }
  const StateBackend& backend() const { return *backend_; }

  // Push chunks applied since the store started (for "every N updates").
  uint64_t applied_pushes() const { return applied_pushes_.load(std::memory_order_relaxed); }

 private:
  const ShardOptions options_;
  const std::shared_ptr<StateBackend> backend_;
  WorkerRegistry workers_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<TablePart>> tables_ ABSL_GUARDED_BY(mu_);
  uint64_t state_bytes_ ABSL_GUARDED_BY(mu_) = 0;

  // The push gate (HoldPushes).
  absl::Mutex gate_mu_;
  bool held_ ABSL_GUARDED_BY(gate_mu_) = false;
  int active_pushes_ ABSL_GUARDED_BY(gate_mu_) = 0;
  std::atomic<uint64_t> applied_pushes_{0};
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_SHARD_STORE_H_
