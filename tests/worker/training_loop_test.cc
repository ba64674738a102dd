// Tests of the training loop's schedule (every worker runs the same number
// of steps, whatever its shard's size) and of the metrics CSV. The loop
// itself runs against real servers in tests/cluster/.
#include "worker/training_loop.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "worker/progress.h"

namespace adamasync {
namespace training {
namespace {

TEST(ScheduleTest, EveryWorkerTrainsOnTheSmallestShard) {
  EXPECT_EQ(TrainExamplesPerEpoch(60000, 1), 60000);
  EXPECT_EQ(TrainExamplesPerEpoch(60000, 4), 15000);
  // Shards of 8572 and 8571 examples: all workers use 8571.
  EXPECT_EQ(TrainExamplesPerEpoch(60000, 7), 8571);
  for (int workers = 1; workers <= 9; ++workers) {
    for (int worker = 0; worker < workers; ++worker) {
      const int64_t shard = (60000 - worker + workers - 1) / workers;  // i % workers == worker
      EXPECT_LE(TrainExamplesPerEpoch(60000, workers), shard);
      EXPECT_GE(TrainExamplesPerEpoch(60000, workers), shard - 1);
    }
  }
}

TEST(ScheduleTest, StepsPerEpochRoundsUp) {
  EXPECT_EQ(StepsPerEpoch(60000, 1, 64), 938);  // 937 full batches and one of 32
  EXPECT_EQ(StepsPerEpoch(60000, 4, 64), 235);  // 15000 = 234 * 64 + 24
  EXPECT_EQ(StepsPerEpoch(60000, 2, 100), 300);
  EXPECT_EQ(StepsPerEpoch(10, 3, 64), 1);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(MetricsCsvTest, WritesHeaderAndRowsWithEmptyFieldsForUnsetValues) {
  const std::string path =
      ::testing::TempDir() + "/metrics_csv_test_" + std::to_string(::getpid()) + ".csv";
  {
    absl::StatusOr<std::unique_ptr<MetricsCsv>> csv = MetricsCsv::Open(path);
    ASSERT_TRUE(csv.ok()) << csv.status();
    MetricsPoint point;
    point.time_s = 1.5;
    point.epoch = 0.25;
    point.step = 10;
    point.examples = 640;
    point.train_loss = 0.75;
    point.train_accuracy = 0.5;
    point.mean_staleness = 1.25;
    ASSERT_TRUE((*csv)->Write(point).ok());
    point.train_loss.reset();
    point.train_accuracy.reset();
    point.mean_staleness.reset();
    point.test_accuracy = 0.875;
    point.test_loss = 0.5;
    ASSERT_TRUE((*csv)->Write(point).ok());
    // Each row is on disk as soon as it is written.
    EXPECT_THAT(ReadFile(path), ::testing::HasSubstr("0.87500"));
  }
  EXPECT_EQ(ReadFile(path),
            "time_s,epoch,step,examples,train_loss,train_acc,test_acc,test_loss,mean_staleness\n"
            "1.500,0.2500,10,640,0.75000,0.50000,,,1.250\n"
            "1.500,0.2500,10,640,,,0.87500,0.50000,\n");
  std::remove(path.c_str());
}

TEST(MetricsCsvTest, UnwritablePathIsAnError) {
  absl::StatusOr<std::unique_ptr<MetricsCsv>> csv = MetricsCsv::Open("/nonexistent-dir/m.csv");
  EXPECT_EQ(csv.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(csv.status().message(), ::testing::HasSubstr("/nonexistent-dir/m.csv"));
}

}  // namespace
}  // namespace training
}  // namespace adamasync
