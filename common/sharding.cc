#include "common/sharding.h"

#include <xxhash.h>

#include "absl/strings/str_cat.h"

namespace adamasync {
namespace {

uint64_t BlocksOf(uint64_t num_elements) {
  return (num_elements + kShardBlockElements - 1) / kShardBlockElements;
}

// Number of blocks shard `s` gets.
uint64_t BlockCount(uint64_t num_blocks, uint32_t rotation, uint32_t s, uint32_t num_shards) {
  const uint64_t rank = (s + num_shards - rotation) % num_shards;
  return num_blocks / num_shards + (rank < num_blocks % num_shards ? 1 : 0);
}

}  // namespace

uint32_t RotationOf(std::string_view table_name, uint32_t num_shards) {
  // XXH64 is specified byte for byte, so every build agrees on it.
  return static_cast<uint32_t>(XXH64(table_name.data(), table_name.size(), 0) % num_shards);
}

ElementRange ShardRange(std::string_view table_name, uint64_t num_elements, uint32_t shard_index,
                        uint32_t num_shards) {
  const uint64_t num_blocks = BlocksOf(num_elements);
  const uint32_t rotation = RotationOf(table_name, num_shards);
  uint64_t first_block = 0;
  for (uint32_t s = 0; s < shard_index; ++s) {
    first_block += BlockCount(num_blocks, rotation, s, num_shards);
  }
  const uint64_t count = BlockCount(num_blocks, rotation, shard_index, num_shards);
  ElementRange range;
  range.begin = std::min(first_block * kShardBlockElements, num_elements);
  range.end = std::min((first_block + count) * kShardBlockElements, num_elements);
  return range;
}

std::vector<ElementRange> ShardRanges(std::string_view table_name, uint64_t num_elements,
                                      uint32_t num_shards) {
  std::vector<ElementRange> ranges;
  ranges.reserve(num_shards);
  for (uint32_t s = 0; s < num_shards; ++s) {
    ranges.push_back(ShardRange(table_name, num_elements, s, num_shards));
  }
  return ranges;
}

std::vector<ElementRange> ChunkRanges(ElementRange part, uint64_t chunk_elements) {
  std::vector<ElementRange> chunks;
  for (uint64_t b = part.begin; b < part.end; b += chunk_elements) {
    chunks.push_back({b, std::min(b + chunk_elements, part.end)});
  }
  return chunks;
}

absl::Status ValidateChunk(ElementRange part, uint64_t offset, uint64_t length) {
  if (length == 0) return absl::InvalidArgumentError("chunk is empty (length 0)");
  if (offset < part.begin || offset > part.end || length > part.end - offset) {
    // Not "[offset, offset + length)": the sum may wrap around.
    return absl::InvalidArgumentError(absl::StrCat("chunk of ", length, " elements at offset ",
                                                   offset, " is outside this shard's part [",
                                                   part.begin, ", ", part.end, ")"));
  }
  if ((offset - part.begin) % kSegmentElements != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk offset ", offset, " is not on a segment boundary (part begins at ",
                     part.begin, ", segments are ", kSegmentElements, " elements)"));
  }
  const uint64_t end = offset + length;
  if (end != part.end && (end - part.begin) % kSegmentElements != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk end ", end, " is neither a segment boundary nor the part's end ",
                     part.end, " (segments are ", kSegmentElements, " elements)"));
  }
  return absl::OkStatus();
}

}  // namespace adamasync
