// The worker's Prometheus metrics: WorkerMetrics renders the documented
// names and moves with the events it is given, and the training loop, run
// against an in-process shard on loopback, reports every pull, push, step
// and evaluation to it (scraped over HTTP as the daemon serves it).
#include "worker/worker_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "adamasync/client.h"
#include "common/metrics_http.h"
#include "tests/testing/server_fixtures.h"
#include "worker/softmax_model.h"
#include "worker/training_loop.h"

namespace adamasync {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(WorkerMetricsTest, EveryMetricIsThereWithTheWorkerLabel) {
  WorkerMetrics metrics(/*worker_index=*/3);
  const std::string text = RenderMetrics(*metrics.registry());
  for (const char* name :
       {"adamasync_worker_steps_total", "adamasync_worker_examples_total",
        "adamasync_worker_planned_steps", "adamasync_worker_epoch", "adamasync_worker_train_loss",
        "adamasync_worker_train_accuracy", "adamasync_worker_compute_seconds_count",
        "adamasync_worker_pulls_total", "adamasync_worker_pull_bytes_total",
        "adamasync_worker_pull_seconds_bucket", "adamasync_worker_pushes_total",
        "adamasync_worker_push_bytes_total", "adamasync_worker_push_seconds_bucket",
        "adamasync_worker_push_staleness_bucket", "adamasync_worker_stale_dropped_pushes_total",
        "adamasync_worker_evaluations_total", "adamasync_worker_rpc_attempts_total",
        "adamasync_worker_rpc_failures_total"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat(name, "{worker=\"3\"")));
  }
  // No evaluation yet: no test-set values (rather than a misleading 0).
  EXPECT_THAT(text, Not(HasSubstr("adamasync_worker_test_accuracy{")));
  EXPECT_THAT(text, Not(HasSubstr("adamasync_worker_test_loss{")));
}

TEST(WorkerMetricsTest, ValuesFollowTheObservations) {
  WorkerMetrics metrics(/*worker_index=*/0);
  training::TrainingObserver& observer = metrics;
  observer.OnStart(/*total_steps=*/40, /*steps_per_epoch=*/20);
  for (int i = 1; i <= 3; ++i) {
    observer.OnPull(/*bytes=*/4000, /*seconds=*/0.002);
    training::StepEvent step;
    step.step = i;
    step.epoch = i / 20.0;
    step.batch = training::BatchStats{/*loss=*/1.5, /*num_correct=*/16, /*num_examples=*/64};
    step.compute_seconds = 0.0003;
    observer.OnStep(step);
    training::PushEvent push;
    push.bytes = 4000;
    push.seconds = 0.003;
    push.staleness = i - 1;
    observer.OnPush(push);
  }
  training::PushEvent dropped;
  dropped.bytes = 4000;
  dropped.dropped = true;
  observer.OnPush(dropped);
  observer.OnEvaluation(training::BatchStats{/*loss=*/0.5, /*num_correct=*/7, /*num_examples=*/8});

  const std::string text = RenderMetrics(*metrics.registry());
  for (const char* expected : {
           "adamasync_worker_planned_steps{worker=\"0\"} 40",
           "adamasync_worker_steps_total{worker=\"0\"} 3",
           "adamasync_worker_examples_total{worker=\"0\"} 192",
           "adamasync_worker_epoch{worker=\"0\"} 0.15",
           "adamasync_worker_train_loss{worker=\"0\"} 1.5",
           "adamasync_worker_train_accuracy{worker=\"0\"} 0.25",
           "adamasync_worker_compute_seconds_count{worker=\"0\"} 3",
           "adamasync_worker_pulls_total{worker=\"0\"} 3",
           "adamasync_worker_pull_bytes_total{worker=\"0\"} 12000",
           "adamasync_worker_pull_seconds_count{worker=\"0\"} 3",
           "adamasync_worker_pushes_total{worker=\"0\"} 4",
           "adamasync_worker_push_bytes_total{worker=\"0\"} 16000",
           "adamasync_worker_push_seconds_count{worker=\"0\"} 4",
           // Staleness 0, 1 and 2; the dropped push has none.
           "adamasync_worker_push_staleness_count{worker=\"0\"} 3",
           "adamasync_worker_push_staleness_sum{worker=\"0\"} 3",
           "adamasync_worker_push_staleness_bucket{worker=\"0\",le=\"1\"} 2",
           "adamasync_worker_stale_dropped_pushes_total{worker=\"0\"} 1",
           "adamasync_worker_evaluations_total{worker=\"0\"} 1",
           "adamasync_worker_test_accuracy{worker=\"0\"} 0.875",
           "adamasync_worker_test_loss{worker=\"0\"} 0.5",
       }) {
    EXPECT_THAT(text, HasSubstr(expected));
  }
}

TEST(WorkerMetricsTest, ClientCountersAddWhatTheTotalsGrewBy) {
  WorkerMetrics metrics(/*worker_index=*/1);
  training::TrainingObserver& observer = metrics;
  observer.OnClientCounters({/*attempts=*/10, /*retried_unavailable=*/2,
                             /*retried_attempt_timeout=*/1, /*failed_calls=*/0});
  observer.OnClientCounters({/*attempts=*/10, /*retried_unavailable=*/2,
                             /*retried_attempt_timeout=*/1, /*failed_calls=*/0});
  observer.OnClientCounters({/*attempts=*/25, /*retried_unavailable=*/7,
                             /*retried_attempt_timeout=*/1, /*failed_calls=*/1});
  const std::string text = RenderMetrics(*metrics.registry());
  for (const char* expected : {
           "adamasync_worker_rpc_attempts_total{worker=\"1\"} 25",
           "adamasync_worker_rpc_retries_total{worker=\"1\",reason=\"unavailable\"} 7",
           "adamasync_worker_rpc_retries_total{worker=\"1\",reason=\"attempt_timeout\"} 1",
           "adamasync_worker_rpc_failures_total{worker=\"1\"} 1",
       }) {
    EXPECT_THAT(text, HasSubstr(expected));
  }
}

// The value of `series` (name and labels) in Prometheus text; NaN if absent.
double Value(const std::string& text, const std::string& series) {
  const std::string prefix = "\n" + series + " ";
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return std::nan("");
  return std::strtod(text.c_str() + at + prefix.size(), nullptr);
}

// A linearly separable two-class problem: the label is whether the first
// feature exceeds the second.
training::Dataset TwoClassData(int64_t n) {
  training::Dataset data;
  data.num_examples = n;
  data.rows = 1;
  data.cols = 4;
  for (int64_t i = 0; i < n; ++i) {
    const float a = static_cast<float>((i * 37) % 11) / 10.0f;
    const float b = static_cast<float>((i * 53) % 13) / 12.0f;
    data.images.insert(data.images.end(), {a, b, 0.5f, 1.0f});
    data.labels.push_back(a > b ? 1 : 0);
  }
  return data;
}

TEST(WorkerMetricsTest, TrainingLoopReportsEveryTransferStepAndEvaluation) {
  testing::LocalShards shards;
  ASSERT_NO_FATAL_FAILURE(shards.Start(/*num_shards=*/2, /*quota_bytes=*/64 << 20));
  ClientOptions client_options;
  client_options.servers = shards.addresses;
  client_options.worker_id = 1;
  std::unique_ptr<Client> client = Client::Create(client_options).value();

  const training::SoftmaxModel model(/*num_features=*/4, /*num_classes=*/2);
  std::vector<training::ParamTable> tables;
  uint64_t model_bytes = 0;
  for (const training::ParamInfo& info : model.Params()) {
    TableSpec spec;
    spec.name = "metrics_test/" + info.name;
    spec.num_elements = info.num_elements;
    spec.init = info.init;
    ASSERT_TRUE(client->CreateTable(spec).ok());
    training::ParamTable table;
    table.name = spec.name;
    table.values.resize(info.num_elements);
    table.grad[0].resize(info.num_elements);
    table.grad[1].resize(info.num_elements);
    tables.push_back(std::move(table));
    model_bytes += info.num_elements * sizeof(float);
  }

  WorkerMetrics metrics(/*worker_index=*/0);
  auto http = MetricsHttpServer::Start("127.0.0.1:0", metrics.registry());
  ASSERT_TRUE(http.ok()) << http.status();

  const training::Dataset train = TwoClassData(200), test = TwoClassData(50);
  training::TrainingLoopOptions loop;
  loop.total_train_examples = train.num_examples;
  loop.epochs = 2;
  loop.batch_size = 16;  // 13 steps per epoch, the last of 8 examples
  loop.log_interval_s = 1000;
  loop.observer = &metrics;
  training::ProgressReporter reporter(/*progress_bar=*/false);
  absl::StatusOr<training::TrainingResult> result = training::RunTrainingLoop(
      loop, model, train, test, *client, tables, reporter, /*csv=*/nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->steps, 26);

  httplib::Client scraper("127.0.0.1", (*http)->port());
  auto response = scraper.Get("/metrics");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200);
  const std::string& text = response->body;
  // One pull per step plus the final one; one push per step.
  for (const std::string& expected : {
           std::string("adamasync_worker_planned_steps{worker=\"0\"} 26"),
           std::string("adamasync_worker_steps_total{worker=\"0\"} 26"),
           std::string("adamasync_worker_examples_total{worker=\"0\"} 400"),
           std::string("adamasync_worker_epoch{worker=\"0\"} 2"),
           std::string("adamasync_worker_pulls_total{worker=\"0\"} 27"),
           absl::StrCat("adamasync_worker_pull_bytes_total{worker=\"0\"} ", 27 * model_bytes),
           std::string("adamasync_worker_pull_seconds_count{worker=\"0\"} 27"),
           std::string("adamasync_worker_pushes_total{worker=\"0\"} 26"),
           absl::StrCat("adamasync_worker_push_bytes_total{worker=\"0\"} ", 26 * model_bytes),
           std::string("adamasync_worker_push_seconds_count{worker=\"0\"} 26"),
           std::string("adamasync_worker_push_staleness_count{worker=\"0\"} 26"),
           std::string("adamasync_worker_compute_seconds_count{worker=\"0\"} 26"),
           std::string("adamasync_worker_evaluations_total{worker=\"0\"} 1"),
       }) {
    EXPECT_THAT(text, HasSubstr(expected));
  }
  EXPECT_DOUBLE_EQ(Value(text, "adamasync_worker_test_accuracy{worker=\"0\"}"),
                   result->final_test.accuracy());
  // The client's totals as of the last transfer (nothing was retried here).
  const ClientCounters counters = client->Counters();
  EXPECT_GE(counters.attempts, 27u + 26u);
  EXPECT_EQ(Value(text, "adamasync_worker_rpc_attempts_total{worker=\"0\"}"),
            static_cast<double>(counters.attempts));
  EXPECT_EQ(Value(text, "adamasync_worker_rpc_failures_total{worker=\"0\"}"), 0);
}

}  // namespace
}  // namespace adamasync
