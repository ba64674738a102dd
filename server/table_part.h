// TablePart: one shard's part of one table, with its Adam state, and the
// only code that reads or writes that state.
//
// The part is cut into segments of kSegmentElements (common/sharding.h).
// Each segment has its own lock and its own step count (its version: the
// number of Adam updates applied to it). A push chunk applies one Adam step
// to each segment it covers, taking their locks one at a time in order;
// pushes to different segments run in parallel, and a pull copies each
// segment under its lock, so it never sees a half-applied update of a
// segment. When every push covers the whole part (as the SDK does), all
// segments carry the same step count and each element follows exactly
// PyTorch's Adam for that sequence of gradients.
//
// Consistency (docs/consistency.md): a push from a registered worker with a
// sequence number is applied exactly once (PushDedupe); the table's
// staleness policy may refuse or scale a stale push; a synchronous table
// (sync_workers > 0) collects one push per worker per round in each segment
// (SyncRound) and applies their mean once all have arrived, and a pull from
// a worker that already pushed for the open round waits for it to close.
//
// The values themselves live in a PartState (server/part_state.h): host
// memory, or a CUDA device's memory with --device=cuda. A PartState error
// (a failed device) fails the call with UNAVAILABLE, and the server's
// StateBackend stays unhealthy from then on.
//
// Thread safety: every method may be called from any thread at any time.
#ifndef ADAMASYNC_SERVER_TABLE_PART_H_
#define ADAMASYNC_SERVER_TABLE_PART_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "adamasync/stats.h"
#include "adamasync/table_spec.h"
#include "common/sharding.h"
#include "common/staleness.h"
#include "server/part_state.h"
#include "server/push_dedupe.h"
#include "server/sync_round.h"

namespace adamasync {

// A consistent copy of a part's state (each segment copied under its lock).
struct TablePartSnapshot {
  std::vector<float> p, m, v, vmax;  // vmax empty unless amsgrad
  std::vector<uint64_t> segment_steps;
  std::vector<DedupeEntry> dedupe;
  struct SyncPending {
    uint64_t segment = 0;
    uint64_t worker_id = 0;
    std::vector<float> gradient;
  };
  std::vector<SyncPending> sync_pending;  // contributions to open rounds
};

struct PushArgs {
  uint64_t offset = 0;  // global index of the first element
  absl::Span<const float> grad;
  uint64_t pulled_version = 0;
  uint64_t worker_id = 0;  // 0: anonymous (no dedupe; refused by sync tables)
  uint64_t seq = 0;        // 0: no dedupe
};

struct PushResult {
  uint64_t version = 0;  // fewest updates of any touched segment, after the push
  bool duplicate = false;
  uint64_t staleness = 0;
  double lr_scale = 1.0;
};

class TablePart {
 public:
  // A part whose state is `state` (fresh from StateBackend::Allocate for
  // this spec and range).
  // REQUIRES: ValidateTableSpec(spec).ok(); range within [0, num_elements);
  // state->size() == range.size().
  TablePart(const TableSpec& spec, ElementRange range, std::unique_ptr<PartState> state);
  // A part in host memory (HostStateBackend); throws std::bad_alloc when
  // the memory is not there.
  TablePart(const TableSpec& spec, ElementRange range);
  TablePart(const TablePart&) = delete;
  TablePart& operator=(const TablePart&) = delete;

  const TableSpec& spec() const { return spec_; }
  ElementRange range() const { return range_; }

  // Applies one Adam step with `args.grad` to the elements starting at
  // global index `args.offset` (or, for a synchronous table, adds it to the
  // open round). With nothing changed: INVALID_ARGUMENT for a chunk that
  // ValidateChunk rejects, a gradient holding NaN or Inf, or an anonymous
  // push to a synchronous table; FAILED_PRECONDITION for an out-of-order
  // seq, a round mismatch or a second push of one worker in a round;
  // ABORTED (StaleGradientError) when the REJECT policy refuses it. A retry
  // of an applied chunk answers as the original did, with duplicate = true.
  absl::StatusOr<PushResult> Push(const PushArgs& args);

  // Copies `length` parameters starting at global index `offset` into
  // `out` (length * 4 bytes, little-endian fp32). Returns the fewest updates
  // of any segment read. INVALID_ARGUMENT for a chunk ValidateChunk rejects.
  // For a synchronous table, a pull by a worker that pushed for the open
  // round waits for the round to close (DEADLINE_EXCEEDED at `deadline`).
  absl::StatusOr<uint64_t> Pull(uint64_t offset, uint64_t length, char* out, uint64_t worker_id = 0,
                                absl::Time deadline = absl::InfiniteFuture());

  // Warm start: overwrites the parameters of the chunk at `offset` (a chunk
  // as for Push). FAILED_PRECONDITION once any push touched one of its
  // segments (version > 0, or a synchronous round is open);
  // INVALID_ARGUMENT for a bad chunk or a non-finite value. Nothing
  // changes on error.
  absl::Status WriteParameters(uint64_t offset, absl::Span<const float> values);

  // Counts a push rejected before it reached this part (for GetStats).
  void CountRejectedPush() { rejected_pushes_.fetch_add(1, std::memory_order_relaxed); }

  // The fewest updates applied to any segment (0 for an empty part).
  uint64_t Version() const;
  TableStats Stats() const;
  // Copies the whole state, segment by segment under each segment's lock.
  // Fails only when the PartState does (a failed device).
  absl::StatusOr<TablePartSnapshot> Snapshot() const;
  // Replaces the whole state. REQUIRES: the snapshot is of a part with this
  // spec and range (sizes are checked: INVALID_ARGUMENT otherwise).
  absl::Status Restore(const TablePartSnapshot& snapshot);
  // Bytes of p, m, v (and vmax) held.
  uint64_t StateBytes() const;

 private:
  struct Segment {
    mutable absl::Mutex mu;
    // Written under mu; read without it for Version().
    std::atomic<uint64_t> step{0};
    // Synchronous tables only: the open round, and its end.
    std::unique_ptr<SyncRound> round;
    absl::CondVar round_closed;
  };

  uint64_t SegmentCount() const;
  uint64_t SegmentSize(uint64_t segment) const;
  bool synchronous() const { return spec_.consistency.sync_workers > 0; }
  // The work of Push once validated and claimed.
  absl::StatusOr<PushResult> ApplyAsync(const PushArgs& args);
  absl::StatusOr<PushResult> ApplySync(const PushArgs& args);
  // One Adam step on elements [begin, begin + n) of the part.
  absl::Status Step(uint64_t begin, uint64_t n, const float* grad, uint64_t step, double lr_scale);

  const TableSpec spec_;
  const ElementRange range_;
  // State of the part's elements, indexed from range_.begin. Each segment's
  // slice is guarded by that segment's mu.
  const std::unique_ptr<PartState> state_;
  std::unique_ptr<Segment[]> segments_;

  std::atomic<uint64_t> pushes_{0}, pulls_{0}, rejected_pushes_{0};
  std::atomic<uint64_t> bytes_pushed_{0}, bytes_pulled_{0};
  std::atomic<uint64_t> staleness_sum_{0}, staleness_max_{0};
  std::atomic<uint64_t> staleness_histogram_[kStalenessBuckets] = {};
  std::atomic<uint64_t> duplicate_pushes_{0}, stale_rejected_{0}, stale_scaled_{0};
  PushDedupe dedupe_;
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_TABLE_PART_H_
