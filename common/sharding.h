// How a table's elements are split across shards, and how one shard's part
// is cut into segments and chunks.
//
// The rule is a pure function of (table name, table size, shard count), so
// every client and every server computes the same ranges with no metadata
// service. Tables are partitioned in blocks of kShardBlockElements: with
// nb = ceil(n / kShardBlockElements) blocks and S shards, every shard gets
// floor(nb / S) blocks and nb % S shards get one more, so no shard holds more
// than its share plus one block. Which shards get the extra block rotates
// with a hash of the table name, so many small tables spread over all shards
// instead of piling onto shard 0. Parts are contiguous and laid out in shard
// order: shard 0 owns the lowest elements.
//
// Within a part, kSegmentElements elements form a segment: the unit the
// server locks, versions and applies Adam to. Chunk RPCs start on a segment
// boundary and cover whole segments (the last one may end at the part's end).
#ifndef ADAMASYNC_COMMON_SHARDING_H_
#define ADAMASYNC_COMMON_SHARDING_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace adamasync {

// Partition granularity: 1024 fp32 = 4 KiB.
inline constexpr uint64_t kShardBlockElements = 1024;
// Lock/version/apply unit inside a part: 64Ki fp32 = 256 KiB.
inline constexpr uint64_t kSegmentElements = 64 * 1024;

// A half-open range [begin, end) of global element indices.
struct ElementRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t size() const { return end - begin; }
  bool empty() const { return end == begin; }
  bool operator==(const ElementRange& o) const { return begin == o.begin && end == o.end; }
};

// The shard that receives the first of the extra blocks of `table_name`.
// REQUIRES: num_shards > 0.
uint32_t RotationOf(std::string_view table_name, uint32_t num_shards);

// The elements of a table of `num_elements` that shard `shard_index` owns.
// The range may be empty when the table has fewer blocks than shards.
// REQUIRES: shard_index < num_shards.
ElementRange ShardRange(std::string_view table_name, uint64_t num_elements, uint32_t shard_index,
                        uint32_t num_shards);

// ShardRange for every shard, in shard order; together they tile [0, n).
std::vector<ElementRange> ShardRanges(std::string_view table_name, uint64_t num_elements,
                                      uint32_t num_shards);

// Cuts `part` into consecutive chunks of `chunk_elements` (the last may be
// shorter). REQUIRES: chunk_elements is a positive multiple of
// kSegmentElements.
std::vector<ElementRange> ChunkRanges(ElementRange part, uint64_t chunk_elements);

// OK when [offset, offset + length) is a chunk the server accepts for
// `part`: inside the part, non-empty, starting on a segment boundary and
// ending on one or at the part's end. INVALID_ARGUMENT otherwise, saying why.
absl::Status ValidateChunk(ElementRange part, uint64_t offset, uint64_t length);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_SHARDING_H_
