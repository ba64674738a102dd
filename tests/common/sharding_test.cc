// Tests of common/sharding.h: parts tile a table with no gap or overlap, are
// balanced to within one block, are a pure function of (name, size, shard
// count), spread small tables over shards; chunking and chunk validation.
#include "common/sharding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace adamasync {
namespace {

using ::testing::HasSubstr;

const std::vector<uint64_t>& TableSizes() {
  static const std::vector<uint64_t> sizes = {
      1,
      2,
      1023,  // below one block
      kShardBlockElements,
      kShardBlockElements + 1,
      2 * kShardBlockElements - 1,
      3000,  // not a multiple of 1024
      17 * kShardBlockElements,
      17 * kShardBlockElements + 1,
      100'003,
      kSegmentElements,
      5 * kSegmentElements + 777,
      uint64_t{1} << 20,
      (uint64_t{1} << 20) + 7,
      uint64_t{1} << 40,  // the largest table a spec allows
  };
  return sizes;
}

const std::vector<std::string>& TableNames() {
  static const std::vector<std::string> names = {"w", "mlp/layer1/weight", "emb:users", "b-17"};
  return names;
}

std::string Describe(const std::string& name, uint64_t n, uint32_t shards) {
  return "table '" + name + "' n=" + std::to_string(n) + " shards=" + std::to_string(shards);
}

TEST(ShardRangesTest, TileTheTableWithoutGapOrOverlap) {
  for (const std::string& name : TableNames()) {
    for (uint64_t n : TableSizes()) {
      for (uint32_t shards = 1; shards <= 17; ++shards) {
        SCOPED_TRACE(Describe(name, n, shards));
        const std::vector<ElementRange> parts = ShardRanges(name, n, shards);
        ASSERT_EQ(parts.size(), shards);
        uint64_t next = 0;
        for (uint32_t s = 0; s < shards; ++s) {
          EXPECT_EQ(parts[s].begin, next) << "shard " << s;
          EXPECT_LE(parts[s].begin, parts[s].end) << "shard " << s;
          // Parts start on a block boundary (or are empty at the table's end).
          EXPECT_TRUE(parts[s].begin % kShardBlockElements == 0 || parts[s].begin == n)
              << "shard " << s << " begins at " << parts[s].begin;
          EXPECT_EQ(ShardRange(name, n, s, shards), parts[s]) << "shard " << s;
          next = parts[s].end;
        }
        EXPECT_EQ(next, n);
      }
    }
  }
}

TEST(ShardRangesTest, EveryPartIsAtMostItsSharePlusOneBlock) {
  for (const std::string& name : TableNames()) {
    for (uint64_t n : TableSizes()) {
      for (uint32_t shards = 1; shards <= 17; ++shards) {
        SCOPED_TRACE(Describe(name, n, shards));
        const uint64_t share = (n + shards - 1) / shards;
        uint64_t fewest_blocks = std::numeric_limits<uint64_t>::max();
        uint64_t most_blocks = 0;
        for (const ElementRange& part : ShardRanges(name, n, shards)) {
          EXPECT_LE(part.size(), share + kShardBlockElements);
          // Parts start on a block boundary; the one holding the table's
          // partial last block counts it as a whole block.
          const uint64_t blocks = (part.size() + kShardBlockElements - 1) / kShardBlockElements;
          fewest_blocks = std::min(fewest_blocks, blocks);
          most_blocks = std::max(most_blocks, blocks);
        }
        // Block counts differ by at most one between shards.
        EXPECT_LE(most_blocks - fewest_blocks, 1u);
      }
    }
  }
}

TEST(ShardRangesTest, SingleShardOwnsEverything) {
  for (uint64_t n : TableSizes()) {
    EXPECT_EQ(ShardRange("t", n, 0, 1), (ElementRange{0, n}));
  }
}

TEST(ShardRangesTest, IsAPureFunctionOfNameSizeAndShardCount) {
  for (const std::string& name : TableNames()) {
    for (uint64_t n : TableSizes()) {
      for (uint32_t shards : {1u, 3u, 8u, 17u}) {
        const std::string copy = name;  // a different buffer, the same bytes
        EXPECT_EQ(ShardRanges(name, n, shards), ShardRanges(copy, n, shards));
        EXPECT_EQ(RotationOf(name, shards), RotationOf(copy, shards));
        EXPECT_LT(RotationOf(name, shards), shards);
      }
    }
  }
}

TEST(ShardRangesTest, RotationIsStableAcrossBuilds) {
  // Every client and server must agree on the rule, also across versions:
  // these values pin XXH64(name, seed 0) % shards. Changing them changes
  // where existing tables live.
  EXPECT_EQ(RotationOf("w", 1), 0u);
  EXPECT_EQ(RotationOf("mlp/layer1/weight", 7), 4u);
  EXPECT_EQ(RotationOf("emb:users", 7), 4u);
  EXPECT_EQ(RotationOf("b-17", 7), 5u);
  // A large prime modulus pins 32 bits of the hash.
  EXPECT_EQ(RotationOf("mlp/layer1/weight", 4294967291u), 2551183010u);
  EXPECT_EQ(RotationOf("emb:users", 4294967291u), 1321662922u);
  EXPECT_EQ(RotationOf("b-17", 4294967291u), 1321429637u);
}

TEST(ShardRangesTest, OneBlockTableLivesOnItsRotationShard) {
  for (uint32_t shards = 1; shards <= 17; ++shards) {
    for (const std::string& name : TableNames()) {
      const std::vector<ElementRange> parts = ShardRanges(name, 10, shards);
      for (uint32_t s = 0; s < shards; ++s) {
        EXPECT_EQ(parts[s].size(), s == RotationOf(name, shards) ? 10u : 0u)
            << Describe(name, 10, shards) << " shard " << s;
      }
    }
  }
}

TEST(ShardRangesTest, RotationSpreadsManySmallTablesOverAllShards) {
  constexpr uint32_t kShards = 8;
  constexpr int kTables = 1000;
  std::vector<uint64_t> elements_per_shard(kShards, 0);
  for (int t = 0; t < kTables; ++t) {
    const std::string name = "layer" + std::to_string(t) + "/bias";
    const std::vector<ElementRange> parts = ShardRanges(name, 300, kShards);
    for (uint32_t s = 0; s < kShards; ++s) elements_per_shard[s] += parts[s].size();
  }
  // Without rotation shard 0 would hold all 300'000 elements. Expect each
  // shard near 1/8 of them (a loose bound on a binomial: mean 125 tables,
  // stddev ~10.5).
  for (uint32_t s = 0; s < kShards; ++s) {
    EXPECT_GE(elements_per_shard[s], 80u * 300) << "shard " << s;
    EXPECT_LE(elements_per_shard[s], 170u * 300) << "shard " << s;
  }
}

TEST(ChunkRangesTest, CoversThePartInOrder) {
  const std::vector<ElementRange> parts = {
      {0, 1},
      {5 * kShardBlockElements, 5 * kShardBlockElements + kSegmentElements},
      {3 * kShardBlockElements, 3 * kShardBlockElements + 5 * kSegmentElements + 17},
      {0, 7 * kSegmentElements},
  };
  for (const ElementRange& part : parts) {
    for (uint64_t chunk : {kSegmentElements, 2 * kSegmentElements, 3 * kSegmentElements}) {
      SCOPED_TRACE("part [" + std::to_string(part.begin) + ", " + std::to_string(part.end) +
                   ") chunk " + std::to_string(chunk));
      const std::vector<ElementRange> chunks = ChunkRanges(part, chunk);
      ASSERT_EQ(chunks.size(), (part.size() + chunk - 1) / chunk);
      uint64_t next = part.begin;
      for (size_t k = 0; k < chunks.size(); ++k) {
        EXPECT_EQ(chunks[k].begin, next);
        if (k + 1 < chunks.size()) {
          EXPECT_EQ(chunks[k].size(), chunk);
        }
        EXPECT_FALSE(chunks[k].empty());
        EXPECT_TRUE(ValidateChunk(part, chunks[k].begin, chunks[k].size()).ok());
        next = chunks[k].end;
      }
      EXPECT_EQ(next, part.end);
    }
  }
}

TEST(ChunkRangesTest, EmptyPartHasNoChunks) {
  EXPECT_TRUE(ChunkRanges({4096, 4096}, kSegmentElements).empty());
}

// A part that starts on a block but not on a segment boundary of the table:
// segments count from the part's own start.
constexpr ElementRange kPart = {5 * kShardBlockElements,
                                5 * kShardBlockElements + 3 * kSegmentElements + 100};

TEST(ValidateChunkTest, AcceptsSegmentAlignedChunks) {
  EXPECT_TRUE(ValidateChunk(kPart, kPart.begin, kPart.size()).ok());  // the whole part
  EXPECT_TRUE(ValidateChunk(kPart, kPart.begin, kSegmentElements).ok());
  EXPECT_TRUE(ValidateChunk(kPart, kPart.begin + kSegmentElements, 2 * kSegmentElements).ok());
  // The last chunk may end at the part's end, off the segment grid.
  EXPECT_TRUE(ValidateChunk(kPart, kPart.begin + 3 * kSegmentElements, 100).ok());
  EXPECT_TRUE(ValidateChunk(kPart, kPart.begin + kSegmentElements,
                            kPart.end - kPart.begin - kSegmentElements)
                  .ok());
  // A part smaller than one segment accepts exactly itself.
  EXPECT_TRUE(ValidateChunk({2048, 3000}, 2048, 952).ok());
}

void ExpectInvalid(ElementRange part, uint64_t offset, uint64_t length, const char* why) {
  const absl::Status status = ValidateChunk(part, offset, length);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
      << "offset " << offset << " length " << length << ": " << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(why));
}

TEST(ValidateChunkTest, RejectsEmptyChunk) {
  ExpectInvalid(kPart, kPart.begin, 0, "empty");
  ExpectInvalid(kPart, kPart.end, 0, "empty");
}

TEST(ValidateChunkTest, RejectsChunksOutsideThePart) {
  ExpectInvalid(kPart, kPart.begin - kSegmentElements, kSegmentElements, "outside");
  ExpectInvalid(kPart, 0, 1, "outside");
  ExpectInvalid(kPart, kPart.begin, kPart.size() + 1, "outside");
  ExpectInvalid(kPart, kPart.end, 1, "outside");
  ExpectInvalid(kPart, kPart.end + kSegmentElements, kSegmentElements, "outside");
  // offset + length would wrap around 2^64.
  ExpectInvalid(kPart, kPart.begin + kSegmentElements, std::numeric_limits<uint64_t>::max(),
                "outside");
  ExpectInvalid(kPart, std::numeric_limits<uint64_t>::max(), 2, "outside");
}

TEST(ValidateChunkTest, RejectsUnalignedOffset) {
  ExpectInvalid(kPart, kPart.begin + 1, kSegmentElements, "segment boundary");
  ExpectInvalid(kPart, kPart.begin + kShardBlockElements, kSegmentElements, "segment boundary");
  // Aligned to the table's segment grid, but not to the part's.
  ExpectInvalid(kPart, 2 * kSegmentElements, kSegmentElements, "segment boundary");
  ExpectInvalid(kPart, kPart.begin + 3 * kSegmentElements + 1, 99, "segment boundary");
}

TEST(ValidateChunkTest, RejectsUnalignedEndBeforeThePartEnd) {
  ExpectInvalid(kPart, kPart.begin, kSegmentElements - 1, "neither a segment boundary");
  ExpectInvalid(kPart, kPart.begin, kSegmentElements + 1, "neither a segment boundary");
  ExpectInvalid(kPart, kPart.begin + kSegmentElements, kPart.size() - kSegmentElements - 1,
                "neither a segment boundary");
}

}  // namespace
}  // namespace adamasync
