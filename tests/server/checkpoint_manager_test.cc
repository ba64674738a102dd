// CheckpointManager with a real directory: a restored shard equals the one
// that was saved (state, versions, workers, exactly-once memory, open sync
// rounds); a cut holds pushes between Prepare and Commit and never waits
// forever; warm-start writes only untouched parameters.
#include "server/checkpoint_manager.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing/server_fixtures.h"

namespace adamasync {
namespace {

using testing::RandomVector;

class CheckpointManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("adamasync-ckpt-test-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  CheckpointOptions Options() {
    CheckpointOptions options;
    options.dir = dir_.string();
    options.cut_hold_timeout = absl::Seconds(30);
    return options;
  }

  absl::StatusOr<PushResult> Push(ShardStore& store, const std::string& table, uint64_t n,
                                  uint32_t seed, uint64_t worker = 0, uint64_t seq = 0,
                                  uint64_t pulled = 0) {
    const std::vector<float> grad = RandomVector(n, seed);
    PushArgs args;
    args.offset = 0;
    args.grad = grad;
    args.worker_id = worker;
    args.seq = seq;
    args.pulled_version = pulled;
    return store.Push(table, args);
  }

  std::filesystem::path dir_;
  ShardOptions shard_{0, 1, 0};
};

void ExpectSameState(ShardStore& a, ShardStore& b, const std::string& table) {
  const TablePartSnapshot x = a.Find(table).value()->Snapshot().value();
  const TablePartSnapshot y = b.Find(table).value()->Snapshot().value();
  EXPECT_EQ(x.p, y.p) << table;
  EXPECT_EQ(x.m, y.m) << table;
  EXPECT_EQ(x.v, y.v) << table;
  EXPECT_EQ(x.vmax, y.vmax) << table;
  EXPECT_EQ(x.segment_steps, y.segment_steps) << table;
  EXPECT_EQ(x.dedupe.size(), y.dedupe.size()) << table;
  EXPECT_EQ(x.sync_pending.size(), y.sync_pending.size()) << table;
}

TEST_F(CheckpointManagerTest, RestoredShardEqualsTheSavedOneAndRemembersPushes) {
  ShardStore saved(shard_);
  TableSpec ams{"ams", kSegmentElements + 77};
  ams.adam.amsgrad = true;
  ams.init = Initializer::Normal(0, 1, 9);
  TableSpec sync{"sync", 300};
  sync.consistency.sync_workers = 2;
  ASSERT_TRUE(saved.CreateTable(ams).ok());
  ASSERT_TRUE(saved.CreateTable(sync).ok());
  ASSERT_TRUE(saved.workers().Register(7, absl::Seconds(30)).ok());
  ASSERT_TRUE(saved.workers().AdvanceClock(7, 4).ok());
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    ASSERT_TRUE(Push(saved, "ams", ams.num_elements, seq, 7, seq).ok());
  }
  ASSERT_TRUE(Push(saved, "sync", 300, 11, 7, 4).ok());  // half of a round
  {
    auto manager = CheckpointManager::Open(Options(), &saved, nullptr).value();
    auto written = manager->WriteNow();
    ASSERT_TRUE(written.ok()) << written.status();
  }

  ShardStore restored(shard_);
  auto manager = CheckpointManager::Open(Options(), &restored, nullptr).value();
  ASSERT_TRUE(manager->Restore(0).ok());
  EXPECT_FALSE(manager->info().restored_from.empty());
  ExpectSameState(saved, restored, "ams");
  ExpectSameState(saved, restored, "sync");
  auto workers = restored.workers().Workers();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].clock, 4u);
  EXPECT_EQ(workers[0].last_seq, 4u);

  // Exactly-once survives the restart: the retry of seq 3 is recognised.
  auto retry = Push(restored, "ams", ams.num_elements, 3, 7, 3);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(restored.Find("ams").value()->Version(), 3u);
  // The open sync round goes on: the second worker closes it.
  auto closing = Push(restored, "sync", 300, 12, 8, 1);
  ASSERT_TRUE(closing.ok()) << closing.status();
  EXPECT_EQ(closing->version, 1u);
}

TEST_F(CheckpointManagerTest, CorruptNewestFileFallsBackToThePreviousOne) {
  ShardStore store(shard_);
  ASSERT_TRUE(store.CreateTable(TableSpec{"w", 1000}).ok());
  auto manager = CheckpointManager::Open(Options(), &store, nullptr).value();
  ASSERT_TRUE(Push(store, "w", 1000, 1).ok());
  ASSERT_TRUE(manager->WriteNow().ok());
  ASSERT_TRUE(Push(store, "w", 1000, 2).ok());
  auto newest = manager->WriteNow();
  ASSERT_TRUE(newest.ok());
  {
    std::fstream file(newest->path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(200);
    file.put('\x5a');
  }
  ShardStore restored(shard_);
  auto again = CheckpointManager::Open(Options(), &restored, nullptr).value();
  ASSERT_TRUE(again->Restore(0).ok());
  EXPECT_EQ(restored.Find("w").value()->Version(), 1u);
}

TEST_F(CheckpointManagerTest, EmptyDirectoryStartsEmptyAndOtherShardCountIsRefused) {
  ShardStore store(shard_);
  auto manager = CheckpointManager::Open(Options(), &store, nullptr).value();
  EXPECT_TRUE(manager->Restore(0).ok());
  ASSERT_TRUE(store.CreateTable(TableSpec{"w", 10}).ok());
  ASSERT_TRUE(manager->WriteNow().ok());
  ShardStore two_shards({0, 2, 0});
  auto other = CheckpointManager::Open(Options(), &two_shards, nullptr).value();
  EXPECT_EQ(other->Restore(0).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CheckpointManagerTest, CutHoldsPushesUntilCommitAndExcludesLaterOnes) {
  ShardStore store(shard_);
  ASSERT_TRUE(store.CreateTable(TableSpec{"w", 1000}).ok());
  auto manager = CheckpointManager::Open(Options(), &store, nullptr).value();
  ASSERT_TRUE(Push(store, "w", 1000, 1).ok());
  ASSERT_TRUE(manager->Prepare(42).ok());
  EXPECT_EQ(manager->Prepare(43).code(), absl::StatusCode::kFailedPrecondition);
  // A push that starts after Prepare waits for the commit, so the cut
  // cannot contain it.
  std::thread pusher([&] { ASSERT_TRUE(Push(store, "w", 1000, 2).ok()); });
  auto written = manager->Commit(42);
  ASSERT_TRUE(written.ok()) << written.status();
  pusher.join();
  auto checkpoint = ReadCheckpointFile(written->path);
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_EQ(checkpoint->header.checkpoint_id, 42u);
  EXPECT_EQ(checkpoint->tables[0].segment_steps[0], 1u);
  EXPECT_EQ(store.Find("w").value()->Version(), 2u);
  CheckpointManifest manifest;
  manifest.checkpoint_id = 42;
  manifest.num_shards = 1;
  manifest.entries.push_back({0, written->file_name, written->digest});
  ASSERT_TRUE(manager->Finalize(manifest).ok());

  // Restoring the cut by its id gives version 1.
  ShardStore restored(shard_);
  auto again = CheckpointManager::Open(Options(), &restored, nullptr).value();
  ASSERT_TRUE(again->Restore(42).ok());
  EXPECT_EQ(restored.Find("w").value()->Version(), 1u);
}

TEST_F(CheckpointManagerTest, AbandonedCutReleasesPushesAfterTheHoldTimeout) {
  ShardStore store(shard_);
  ASSERT_TRUE(store.CreateTable(TableSpec{"w", 100}).ok());
  CheckpointOptions options = Options();
  options.cut_hold_timeout = absl::Milliseconds(200);
  auto manager = CheckpointManager::Open(options, &store, nullptr).value();
  manager->Start();
  ASSERT_TRUE(manager->Prepare(5).ok());
  // Blocks until the background thread gives up on the cut.
  ASSERT_TRUE(Push(store, "w", 100, 1).ok());
  EXPECT_EQ(manager->Commit(5).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(manager->Prepare(6).ok());
  ASSERT_TRUE(manager->Abort(6).ok());
  ASSERT_TRUE(Push(store, "w", 100, 2).ok());
  EXPECT_EQ(store.Find("w").value()->Version(), 2u);
}

TEST_F(CheckpointManagerTest, EveryUpdatesTriggersACheckpoint) {
  ShardStore store(shard_);
  ASSERT_TRUE(store.CreateTable(TableSpec{"w", 100}).ok());
  CheckpointOptions options = Options();
  options.every_updates = 3;
  auto manager = CheckpointManager::Open(options, &store, nullptr).value();
  manager->Start();
  for (uint32_t i = 0; i < 3; ++i) ASSERT_TRUE(Push(store, "w", 100, i).ok());
  // The background thread notices within a tick; wait for the file.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (manager->info().file_name.empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_FALSE(manager->info().file_name.empty());
}

TEST(WriteParametersTest, OnlyUntouchedFiniteChunks) {
  TableSpec spec{"w", kSegmentElements + 10};
  TablePart part(spec, {0, spec.num_elements});
  std::vector<float> values(spec.num_elements, 0.25f);
  ASSERT_TRUE(part.WriteParameters(0, values).ok());
  EXPECT_EQ(part.Snapshot().value().p, values);
  values[7] = std::nanf("");
  EXPECT_EQ(part.WriteParameters(0, values).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(part.WriteParameters(1, std::vector<float>(5, 1.0f)).code(),
            absl::StatusCode::kInvalidArgument);
  PushArgs push;
  std::vector<float> grad(spec.num_elements, 1.0f);
  push.grad = grad;
  ASSERT_TRUE(part.Push(push).ok());
  const TablePartSnapshot before = part.Snapshot().value();
  EXPECT_EQ(part.WriteParameters(0, std::vector<float>(spec.num_elements, 2.0f)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(before.p, part.Snapshot().value().p);
}

}  // namespace
}  // namespace adamasync
