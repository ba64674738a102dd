// WorkerRegistry: the workers a shard knows, their leases and their SSP
// clocks, and the wait that stale synchronous parallel pulls make.
//
// A worker registers with a lease; every call it makes renews the lease.
// A worker whose lease has run out is "expired": it no longer holds other
// workers back (logged and counted) until it calls again, which makes it
// live again ("rejoin") with the clock it had.
//
// Time comes from an injected Clock, so tests drive lease expiry with a
// FakeClock; waits poll it every few milliseconds besides waking on every
// clock advance. Thread safety: all methods may be called concurrently.
#ifndef ADAMASYNC_SERVER_WORKER_REGISTRY_H_
#define ADAMASYNC_SERVER_WORKER_REGISTRY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace adamasync {

struct WorkerState {
  uint64_t worker_id = 0;
  uint64_t clock = 0;
  uint64_t last_seq = 0;  // highest push seq applied on this shard
  absl::Duration lease;
  bool live = false;
  absl::Duration since_contact;
  std::string blocked_on;  // non-empty while a pull of this worker waits
};

class WorkerRegistry {
 public:
  inline static const absl::Duration kMinLease = absl::Milliseconds(100);
  inline static const absl::Duration kMaxLease = absl::Hours(1);
  // Lease of a worker first seen through a push or pull (not registered).
  inline static const absl::Duration kDefaultLease = absl::Seconds(60);

  // `clock` must outlive the registry. `max_workers`: most workers tracked
  // (0: no limit); a new one beyond it is RESOURCE_EXHAUSTED.
  explicit WorkerRegistry(const Clock* clock, uint64_t max_workers = 0);

  struct Registration {
    uint64_t last_seq = 0;
    uint64_t clock = 0;
  };
  // Registers `worker_id` (> 0) or renews its lease. INVALID_ARGUMENT for id
  // 0 or a lease outside [kMinLease, kMaxLease]; RESOURCE_EXHAUSTED for a new
  // worker when max_workers are tracked.
  absl::StatusOr<Registration> Register(uint64_t worker_id, absl::Duration lease);

  struct ClockTick {
    uint64_t clock = 0;
    uint64_t min_live_clock = 0;
  };
  // Sets the worker's clock. FAILED_PRECONDITION for an unregistered
  // worker; INVALID_ARGUMENT for a clock below the current one.
  absl::StatusOr<ClockTick> AdvanceClock(uint64_t worker_id, uint64_t clock);

  // Renews the lease of a worker seen through a push or pull, registering
  // it with kDefaultLease if it is new (RESOURCE_EXHAUSTED when max_workers
  // are tracked already). REQUIRES: worker_id > 0.
  absl::Status Touch(uint64_t worker_id);
  // Records that push `seq` of the worker was applied (kept: the highest).
  void NoteSeq(uint64_t worker_id, uint64_t seq);

  // SSP: returns once every live worker has reached clock (c - bound), c
  // being this worker's clock. DEADLINE_EXCEEDED at `deadline` (real time),
  // saying which worker it waited for. While it waits, GetStats shows
  // `table` and the wait under the worker's blocked_on.
  absl::Status WaitForSsp(uint64_t worker_id, absl::string_view table, uint64_t bound,
                          absl::Time deadline);

  std::vector<WorkerState> Workers() const;
  // Slowest live worker's clock (0 when none is live).
  uint64_t MinLiveClock() const;
  uint64_t expired_leases() const;

  // For checkpoints: Import replaces everything; restored workers start a
  // fresh lease.
  std::vector<WorkerState> Export() const { return Workers(); }
  void Import(const std::vector<WorkerState>& workers);

 private:
  struct Worker {
    uint64_t clock = 0;
    uint64_t last_seq = 0;
    absl::Duration lease;
    absl::Time last_contact;
    bool expired = false;
    std::string blocked_on;
  };

  // Marks workers whose lease ran out as expired (logs and counts them).
  void ExpireLeases(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Contact(uint64_t worker_id, Worker& worker, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t MinLiveClockLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // RESOURCE_EXHAUSTED when a new worker would exceed max_workers_.
  absl::Status CheckRoomFor(uint64_t worker_id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const uint64_t max_workers_;
  mutable absl::Mutex mu_;
  absl::CondVar changed_;
  absl::flat_hash_map<uint64_t, Worker> workers_ ABSL_GUARDED_BY(mu_);
  uint64_t expired_leases_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_WORKER_REGISTRY_H_
