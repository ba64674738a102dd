// Initial parameter values as a pure function of (initializer, element).
//
// A counter-based generator (SplitMix64 of seed and global index) makes
// element i's value independent of which shard computes it, so a table
// starts identical for any shard count and after any restart.
#ifndef ADAMASYNC_COMMON_INITIALIZER_H_
#define ADAMASYNC_COMMON_INITIALIZER_H_

#include <cstdint>

#include "absl/types/span.h"
#include "adamasync/table_spec.h"

namespace adamasync {

// Writes the initial values of global elements [first, first + out.size()).
// REQUIRES: ValidateInitializer(init).ok().
void FillInitialValues(const Initializer& init, uint64_t first, absl::Span<float> out);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_INITIALIZER_H_
