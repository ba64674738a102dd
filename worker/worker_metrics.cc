// The worker's Prometheus metrics. See worker_metrics.h; the list with
// units is in docs/operations.md.
#include "worker/worker_metrics.h"

#include <string>

namespace adamasync {
namespace {

using prometheus::Histogram;
using prometheus::Labels;
using prometheus::Registry;

// Whole-model transfers: milliseconds on loopback, up to the client's
// deadline (30 s by default) while a shard restarts.
const Histogram::BucketBoundaries& TransferBuckets() {
  static const auto* buckets = new Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return *buckets;
}

// A minibatch's gradient: well under a millisecond for softmax regression,
// tens of milliseconds for a large MLP on a busy core.
const Histogram::BucketBoundaries& ComputeBuckets() {
  static const auto* buckets = new Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
  return *buckets;
}

// The same buckets as the servers' adamasync_push_staleness.
const Histogram::BucketBoundaries& StalenessBuckets() {
  static const auto* buckets =
      new Histogram::BucketBoundaries{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  return *buckets;
}

prometheus::Counter& AddCounter(Registry& registry, const Labels& worker, const std::string& name,
                                const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Labels(worker).Register(registry).Add({});
}

prometheus::Family<prometheus::Gauge>& GaugeFamily(Registry& registry, const Labels& worker,
                                                   const std::string& name,
                                                   const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Labels(worker).Register(registry);
}

prometheus::Gauge& AddGauge(Registry& registry, const Labels& worker, const std::string& name,
                            const std::string& help) {
  return GaugeFamily(registry, worker, name, help).Add({});
}

prometheus::Histogram& AddHistogram(Registry& registry, const Labels& worker,
                                    const std::string& name, const std::string& help,
                                    const Histogram::BucketBoundaries& buckets) {
  return prometheus::BuildHistogram().Name(name).Help(help).Labels(worker).Register(registry).Add(
      {}, buckets);
}

prometheus::Family<prometheus::Counter>& RetryFamily(Registry& registry, const Labels& worker) {
  return prometheus::BuildCounter()
      .Name("adamasync_worker_rpc_retries_total")
      .Help(
          "Chunk RPC attempts retried, by reason: unavailable (shard down or unreachable), "
          "attempt_timeout (ClientOptions::attempt_timeout ran out)")
      .Labels(worker)
      .Register(registry);
}

void AddDelta(prometheus::Counter& counter, uint64_t now, uint64_t before) {
  if (now > before) counter.Increment(static_cast<double>(now - before));
}

}  // namespace

WorkerMetrics::WorkerMetrics(int worker_index)
    : registry_(std::make_shared<Registry>()),
      worker_label_{{"worker", std::to_string(worker_index)}},
      steps_(AddCounter(*registry_, worker_label_, "adamasync_worker_steps_total",
                        "Training steps done (minibatch gradients computed and pushed)")),
      examples_(AddCounter(*registry_, worker_label_, "adamasync_worker_examples_total",
                           "Training examples the steps used")),
      planned_steps_(AddGauge(*registry_, worker_label_, "adamasync_worker_planned_steps",
                              "Steps this run takes in all (epochs or --max_steps)")),
      epoch_(AddGauge(*registry_, worker_label_, "adamasync_worker_epoch",
                      "Epochs done, fractional: steps / steps per epoch")),
      train_loss_(AddGauge(*registry_, worker_label_, "adamasync_worker_train_loss",
                           "Mean cross-entropy (nats) of the last minibatch")),
      train_accuracy_(AddGauge(*registry_, worker_label_, "adamasync_worker_train_accuracy",
                               "Accuracy of the model on the last minibatch")),
      compute_seconds_(AddHistogram(*registry_, worker_label_, "adamasync_worker_compute_seconds",
                                    "Time to compute one minibatch's loss and gradient",
                                    ComputeBuckets())),
      pulls_(AddCounter(*registry_, worker_label_, "adamasync_worker_pulls_total",
                        "Successful pulls of the model (every table)")),
      pull_bytes_(AddCounter(*registry_, worker_label_, "adamasync_worker_pull_bytes_total",
                             "Parameter bytes pulled (fp32 payload)")),
      pull_seconds_(AddHistogram(*registry_, worker_label_, "adamasync_worker_pull_seconds",
                                 "Time of one pull of the model, retries included",
                                 TransferBuckets())),
      pushes_(AddCounter(*registry_, worker_label_, "adamasync_worker_pushes_total",
                         "Successful pushes of the model (every table), stale drops included")),
      push_bytes_(AddCounter(*registry_, worker_label_, "adamasync_worker_push_bytes_total",
                             "Gradient bytes pushed (fp32 payload)")),
      push_seconds_(AddHistogram(*registry_, worker_label_, "adamasync_worker_push_seconds",
                                 "Time of one push of the model, retries included",
                                 TransferBuckets())),
      push_staleness_(AddHistogram(*registry_, worker_label_, "adamasync_worker_push_staleness",
                                   "Updates by other workers between a pull and the push "
                                   "computed from it (mean over the first table's shards)",
                                   StalenessBuckets())),
      stale_dropped_(AddCounter(*registry_, worker_label_,
                                "adamasync_worker_stale_dropped_pushes_total",
                                "Pushes a REJECT staleness policy refused (gradient dropped)")),
      evaluations_(AddCounter(*registry_, worker_label_, "adamasync_worker_evaluations_total",
                              "Evaluations on the test set")),
      test_accuracy_(GaugeFamily(*registry_, worker_label_, "adamasync_worker_test_accuracy",
                                 "Test-set accuracy at the last evaluation")),
      test_loss_(GaugeFamily(*registry_, worker_label_, "adamasync_worker_test_loss",
                             "Test-set mean cross-entropy (nats) at the last evaluation")),
      rpc_attempts_(AddCounter(*registry_, worker_label_, "adamasync_worker_rpc_attempts_total",
                               "Chunk RPC attempts sent to the shards, retries included")),
      rpc_retries_(RetryFamily(*registry_, worker_label_)),
      rpc_retries_unavailable_(rpc_retries_.Add({{"reason", "unavailable"}})),
      rpc_retries_attempt_timeout_(rpc_retries_.Add({{"reason", "attempt_timeout"}})),
      rpc_failures_(AddCounter(*registry_, worker_label_, "adamasync_worker_rpc_failures_total",
                               "Chunk RPCs that failed for good (retries spent or not "
                               "retriable)")) {}

void WorkerMetrics::OnStart(int64_t total_steps, int64_t /*steps_per_epoch*/) {
  planned_steps_.Set(static_cast<double>(total_steps));
}

void WorkerMetrics::OnPull(uint64_t bytes, double seconds) {
  pulls_.Increment();
  pull_bytes_.Increment(static_cast<double>(bytes));
  pull_seconds_.Observe(seconds);
}

void WorkerMetrics::OnPush(const training::PushEvent& push) {
  pushes_.Increment();
  push_bytes_.Increment(static_cast<double>(push.bytes));
  push_seconds_.Observe(push.seconds);
  if (push.dropped) stale_dropped_.Increment();
  if (push.staleness.has_value()) push_staleness_.Observe(*push.staleness);
}

void WorkerMetrics::OnStep(const training::StepEvent& step) {
  steps_.Increment();
  examples_.Increment(static_cast<double>(step.batch.num_examples));
  epoch_.Set(step.epoch);
  train_loss_.Set(step.batch.loss);
  train_accuracy_.Set(step.batch.accuracy());
  compute_seconds_.Observe(step.compute_seconds);
}

void WorkerMetrics::OnClientCounters(const ClientCounters& totals) {
  AddDelta(rpc_attempts_, totals.attempts, seen_.attempts);
  AddDelta(rpc_retries_unavailable_, totals.retried_unavailable, seen_.retried_unavailable);
  AddDelta(rpc_retries_attempt_timeout_, totals.retried_attempt_timeout,
           seen_.retried_attempt_timeout);
  AddDelta(rpc_failures_, totals.failed_calls, seen_.failed_calls);
  seen_ = totals;
}

void WorkerMetrics::OnEvaluation(const training::BatchStats& test) {
  evaluations_.Increment();
  test_accuracy_.Add({}).Set(test.accuracy());
  test_loss_.Add({}).Set(test.loss);
}

}  // namespace adamasync
