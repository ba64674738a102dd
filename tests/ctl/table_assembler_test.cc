// Tests of ctl/table_assembler.h: parts of every shard make whole tables,
// and mismatched sets of checkpoints are refused.
#include "ctl/table_assembler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/sharding.h"

namespace adamasync::ctl {
namespace {

using ::testing::HasSubstr;

// Shard `shard` of `shards` holding table `name` of `n` elements, element i
// of p = i (m = -i, v = 2i), every segment at step `step`.
TableRecord Part(const std::string& name, uint64_t n, uint32_t shard, uint32_t shards,
                 uint64_t step) {
  TableRecord t;
  t.spec.name = name;
  t.spec.num_elements = n;
  const ElementRange part = ShardRange(name, n, shard, shards);
  t.part_begin = part.begin;
  t.part_end = part.end;
  t.segment_steps.assign((part.size() + kSegmentElements - 1) / kSegmentElements, step);
  for (uint64_t i = part.begin; i < part.end; ++i) {
    t.p.push_back(static_cast<float>(i));
    t.m.push_back(-static_cast<float>(i));
    t.v.push_back(2.0f * static_cast<float>(i));
  }
  return t;
}

ShardCheckpoint Shard(uint32_t shard, uint32_t shards, uint64_t step = 5) {
  ShardCheckpoint c;
  c.header.shard_index = shard;
  c.header.num_shards = shards;
  c.tables.push_back(Part("a", 200'000, shard, shards, step + shard));
  c.tables.push_back(Part("b", 3000, shard, shards, step));
  return c;
}

TEST(TableAssemblerTest, AssemblesEveryShardsParts) {
  TableAssembler assembler(3, /*with_moments=*/true);
  for (uint32_t shard : {2u, 0u, 1u}) ASSERT_TRUE(assembler.Add(Shard(shard, 3)).ok());
  auto tables = std::move(assembler).Finish();
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 2u);
  const AssembledTable& a = (*tables)[0];
  EXPECT_EQ(a.spec.name, "a");
  ASSERT_EQ(a.p.size(), 200'000u);
  for (uint64_t i = 0; i < a.p.size(); ++i) {
    ASSERT_EQ(a.p[i], static_cast<float>(i));
    ASSERT_EQ(a.m[i], -static_cast<float>(i));
    ASSERT_EQ(a.v[i], 2.0f * static_cast<float>(i));
  }
  EXPECT_EQ(a.min_step, 5u);
  EXPECT_EQ(a.max_step, 7u);
}

TEST(TableAssemblerTest, SkipsMomentsWhenNotAsked) {
  TableAssembler assembler(1, /*with_moments=*/false);
  ASSERT_TRUE(assembler.Add(Shard(0, 1)).ok());
  auto tables = std::move(assembler).Finish();
  ASSERT_TRUE(tables.ok());
  EXPECT_TRUE((*tables)[0].m.empty());
  EXPECT_EQ((*tables)[1].p.size(), 3000u);
}

TEST(TableAssemblerTest, RefusesMismatchedCheckpoints) {
  {
    TableAssembler assembler(2, false);
    ASSERT_TRUE(assembler.Add(Shard(0, 2)).ok());
    EXPECT_THAT(assembler.Add(Shard(0, 2)).message(), HasSubstr("twice"));
    EXPECT_THAT(assembler.Add(Shard(0, 3)).message(), HasSubstr("cluster of 2"));
    EXPECT_THAT(std::move(assembler).Finish().status().message(), HasSubstr("shard 1"));
  }
  {
    TableAssembler assembler(2, false);
    ASSERT_TRUE(assembler.Add(Shard(0, 2)).ok());
    ShardCheckpoint other = Shard(1, 2);
    other.tables.pop_back();
    EXPECT_THAT(assembler.Add(other).message(), HasSubstr("'b' is missing from shard 1"));
  }
  {
    TableAssembler assembler(2, false);
    ASSERT_TRUE(assembler.Add(Shard(0, 2)).ok());
    ShardCheckpoint other = Shard(1, 2);
    other.tables.push_back(Part("c", 10, 1, 2, 0));
    EXPECT_THAT(assembler.Add(other).message(), HasSubstr("'c' is in shard 1"));
  }
  {
    TableAssembler assembler(2, false);
    ASSERT_TRUE(assembler.Add(Shard(0, 2)).ok());
    ShardCheckpoint other = Shard(1, 2);
    other.tables[0].spec.adam.lr = 0.5;
    EXPECT_THAT(assembler.Add(other).message(), HasSubstr("different specs"));
  }
}

}  // namespace
}  // namespace adamasync::ctl
