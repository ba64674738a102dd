// PushDedupe: exactly-once application of push chunks within one table part.
//
// A push chunk from a registered worker carries (worker id, seq); with its
// offset it names one unit of work. The first arrival is applied and its
// outcome remembered; a retry (same worker, offset and seq) gets the
// remembered outcome and applies nothing, waiting if the original is still
// being applied; an older seq is refused. Only the newest seq per
// (worker, offset) is kept, so memory is bounded by workers x chunks.
//
// Thread safety: all methods may be called concurrently.
#ifndef ADAMASYNC_SERVER_PUSH_DEDUPE_H_
#define ADAMASYNC_SERVER_PUSH_DEDUPE_H_

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace adamasync {

// The answer a push chunk got: remembered for its retries.
struct PushOutcome {
  absl::Status status;  // OK, or why it was refused (e.g. ABORTED: stale)
  uint64_t version = 0;
  uint64_t staleness = 0;
  double lr_scale = 1.0;
};

// One remembered outcome, for checkpoints.
struct DedupeEntry {
  uint64_t worker_id = 0;
  uint64_t offset = 0;
  uint64_t seq = 0;
  PushOutcome outcome;
};

class PushDedupe {
 public:
  // nullopt: this is the first arrival; the caller applies it and then
  // calls Finish. A value: a retry; answer with it and apply nothing.
  // FAILED_PRECONDITION: seq is older than the newest one seen for this
  // (worker, offset): the push is out of order.
  absl::StatusOr<std::optional<PushOutcome>> Begin(uint64_t worker_id, uint64_t offset,
                                                   uint64_t seq);
  // Records the outcome of a chunk Begin returned nullopt for.
  void Finish(uint64_t worker_id, uint64_t offset, uint64_t seq, PushOutcome outcome);

  // Finished entries, for checkpoints; Import replaces everything.
  std::vector<DedupeEntry> Export() const;
  void Import(const std::vector<DedupeEntry>& entries);

 private:
  struct Entry {
    uint64_t seq = 0;
    bool done = false;
    PushOutcome outcome;
  };
  using Key = std::pair<uint64_t, uint64_t>;  // (worker, offset)

  mutable absl::Mutex mu_;
  absl::CondVar finished_;
  // Node-based: a waiting retry holds a reference across Wait().
  absl::node_hash_map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_PUSH_DEDUPE_H_
