// ShardStore: idempotent creation, conflicts, quota, lookups, cluster view.
#include "server/shard_store.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace adamasync {
namespace {

TableSpec Spec(const std::string& name, uint64_t n) {
  TableSpec spec;
  spec.name = name;
  spec.num_elements = n;
  return spec;
}

TEST(ShardStoreTest, CreateIsIdempotentAndConflictsAreRejected) {
  ShardStore store({0, 2, 0});
  auto first = store.CreateTable(Spec("w", 5000));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->range, ShardRange("w", 5000, 0, 2));
  auto again = store.CreateTable(Spec("w", 5000));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  TableSpec other = Spec("w", 5000);
  other.adam.lr = 0.5;
  EXPECT_EQ(store.CreateTable(other).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store.CreateTable(Spec("w", 5001)).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(ShardStoreTest, ConcurrentCreatorsGetOneTable) {
  ShardStore store({0, 1, 0});
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto result = store.CreateTable(Spec("shared", 100000));
      ASSERT_TRUE(result.ok());
      if (result->created) created++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(store.Stats().size(), 1u);
}

TEST(ShardStoreTest, BadSpecIsInvalidArgument) {
  ShardStore store({0, 1, 0});
  TableSpec spec = Spec("w", 10);
  spec.adam.lr = 0;
  auto status = store.CreateTable(spec).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("lr"), std::string::npos);
  EXPECT_TRUE(store.Stats().empty());
}

TEST(ShardStoreTest, QuotaIsEnforcedWithAClearMessage) {
  ShardStore store({0, 1, 3 * 4 * 1000});  // room for 1000 elements of Adam state
  ASSERT_TRUE(store.CreateTable(Spec("a", 600)).ok());
  auto status = store.CreateTable(Spec("b", 600)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("7200"), std::string::npos) << status;
  EXPECT_NE(status.message().find("4800"), std::string::npos) << status;
  EXPECT_TRUE(store.CreateTable(Spec("c", 400)).ok());
  // A table of 2^40 elements is refused, not allocated.
  EXPECT_EQ(store.CreateTable(Spec("huge", uint64_t{1} << 40)).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(ShardStoreTest, FindAndView) {
  ShardStore store({1, 3, 0});
  EXPECT_EQ(store.Find("nope").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store.CreateTable(Spec("w", 10)).ok());
  EXPECT_TRUE(store.Find("w").ok());
  EXPECT_TRUE(store.CheckView(1, 3).ok());
  EXPECT_EQ(store.CheckView(0, 3).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.CheckView(1, 2).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace adamasync
