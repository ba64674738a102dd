// The rules a ShardCheckpoint must satisfy (the REQUIRES of
// common/checkpoint_format.h), shared by the writer, which refuses to write
// a checkpoint that breaks them, and the reader, which refuses to return
// one. Internal to the checkpoint code: callers use ValidateShardCheckpoint.
#ifndef ADAMASYNC_COMMON_CHECKPOINT_VALIDATION_H_
#define ADAMASYNC_COMMON_CHECKPOINT_VALIDATION_H_

#include "absl/status/status.h"
#include "common/checkpoint_format.h"

namespace adamasync {
namespace checkpoint_internal {

enum class ArrayCheck {
  kSizes,  // p, m, v, vmax and sync gradients must have their final sizes
  kSkip,   // metadata only: the reader checks it before reading the arrays
};

// OK, or INVALID_ARGUMENT naming the table, the record and the rule.
absl::Status ValidateCheckpoint(const ShardCheckpoint& checkpoint, ArrayCheck arrays);

// Elements of segment `segment` of a part of `part_size` elements.
// REQUIRES: segment < SegmentCount(part_size).
uint64_t SegmentSize(uint64_t part_size, uint64_t segment);
uint64_t SegmentCount(uint64_t part_size);

}  // namespace checkpoint_internal
}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_CHECKPOINT_VALIDATION_H_
