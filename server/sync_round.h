// SyncRound: the gradients of one synchronous round for one segment, until
// every expected worker has contributed; then their mean.
//
// The mean is summed in fp32 in ascending worker-id order and divided by the
// worker count, whatever order the pushes arrived in, so a round equals the
// data-parallel "all-reduce mean, then one Adam step" reference bit for bit:
//   mean = (((g_w0 + g_w1) + g_w2) + ...) / N,   w0 < w1 < w2 ...
//
// Not thread-safe: the owning TablePart calls it under the segment's lock.
#ifndef ADAMASYNC_SERVER_SYNC_ROUND_H_
#define ADAMASYNC_SERVER_SYNC_ROUND_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "common/aligned_buffer.h"

namespace adamasync {

class SyncRound {
 public:
  // `workers`: contributions per round (> 0); `elements`: segment size.
  SyncRound(uint64_t workers, uint64_t elements);

  bool HasContribution(uint64_t worker_id) const;
  uint64_t contributions() const { return pending_.size(); }
  uint64_t workers() const { return workers_; }

  // Adds `worker_id`'s gradient. REQUIRES: !HasContribution(worker_id),
  // contributions() < workers(), grad.size() == elements. Returns true when
  // the round is complete.
  bool Add(uint64_t worker_id, absl::Span<const float> grad);
  // The mean of a complete round into `mean` (elements floats); empties the
  // round. REQUIRES: contributions() == workers().
  void TakeMean(float* mean);

  // The contributions so far (for checkpoints), in arrival order.
  struct Contribution {
    uint64_t worker_id;
    std::vector<float> gradient;
  };
  std::vector<Contribution> Export() const;

 private:
  struct Slot {
    uint64_t worker_id;
    AlignedFloats gradient;
  };
  const uint64_t workers_;
  const uint64_t elements_;
  std::vector<Slot> pending_;
  std::vector<AlignedFloats> free_;  // buffers of past rounds, reused
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_SYNC_ROUND_H_
