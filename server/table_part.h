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
// Thread safety: every method may be called from any thread at any time.
#ifndef ADAMASYNC_SERVER_TABLE_PART_H_
#define ADAMASYNC_SERVER_TABLE_PART_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "adamasync/stats.h"
#include "adamasync/table_spec.h"
#include "common/aligned_buffer.h"
#include "common/sharding.h"

namespace adamasync {

// A consistent copy of a part's state (each segment copied under its lock).
struct TablePartSnapshot {
  std::vector<float> p, m, v, vmax;  // vmax empty unless amsgrad
  std::vector<uint64_t> segment_steps;
};

class TablePart {
 public:
  // Allocates the part's state and fills p from spec.init.
  // REQUIRES: ValidateTableSpec(spec).ok(); range within [0, num_elements).
  TablePart(const TableSpec& spec, ElementRange range);
  TablePart(const TablePart&) = delete;
  TablePart& operator=(const TablePart&) = delete;

  const TableSpec& spec() const { return spec_; }
  ElementRange range() const { return range_; }

  // Applies one Adam step with `grad` to the elements starting at global
  // index `offset`. Returns the fewest updates of any touched segment after
  // the step. INVALID_ARGUMENT, with nothing changed, for a chunk that
  // ValidateChunk rejects or a gradient holding NaN or Inf.
  // `pulled_version` only feeds the staleness counters.
  absl::StatusOr<uint64_t> Push(uint64_t offset, absl::Span<const float> grad,
                                uint64_t pulled_version);

  // Copies `length` parameters starting at global index `offset` into
  // `out` (length * 4 bytes, little-endian fp32). Returns the fewest updates
  // of any segment read. INVALID_ARGUMENT for a chunk ValidateChunk rejects.
  absl::StatusOr<uint64_t> Pull(uint64_t offset, uint64_t length, char* out);

  // Counts a push rejected before it reached this part (for GetStats).
  void CountRejectedPush() { rejected_pushes_.fetch_add(1, std::memory_order_relaxed); }

  // The fewest updates applied to any segment (0 for an empty part).
  uint64_t Version() const;
  TableStats Stats() const;
  // Copies the whole state, segment by segment under each segment's lock.
  TablePartSnapshot Snapshot() const;
  // Bytes of p, m, v (and vmax) held.
  uint64_t StateBytes() const;

 private:
  struct Segment {
    mutable absl::Mutex mu;
    // Written under mu; read without it for Version().
    std::atomic<uint64_t> step{0};
  };

  uint64_t SegmentCount() const;

  const TableSpec spec_;
  const ElementRange range_;
  // State of the part's elements, indexed from range_.begin. Each segment's
  // slice is guarded by that segment's mu.
  AlignedFloats p_, m_, v_, vmax_;
  std::unique_ptr<Segment[]> segments_;

  std::atomic<uint64_t> pushes_{0}, pulls_{0}, rejected_pushes_{0};
  std::atomic<uint64_t> bytes_pushed_{0}, bytes_pulled_{0};
  std::atomic<uint64_t> staleness_sum_{0}, staleness_max_{0};
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_TABLE_PART_H_
