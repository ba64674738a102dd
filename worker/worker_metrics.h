// WorkerMetrics: the Prometheus metrics of one training worker (names follow
// the Prometheus conventions: adamasync_worker_*_total, *_seconds, *_bytes).
//
// A TrainingObserver: the training loop updates the metrics as it pulls,
// pushes, steps and evaluates; the worker daemon serves `registry()` with
// common/metrics_http.h (--metrics_listen). Every series carries the label
// worker="<index>". docs/operations.md lists the metrics.
//
// Example:
//   WorkerMetrics metrics(/*worker_index=*/0);
//   auto http = MetricsHttpServer::Start("0.0.0.0:9090", metrics.registry()).value();
//   training::TrainingLoopOptions loop;
//   loop.observer = &metrics;
//
// Thread safety: the On* methods are called by the training loop's thread;
// the registry may be collected (scraped) concurrently from any thread.
#ifndef ADAMASYNC_WORKER_WORKER_METRICS_H_
#define ADAMASYNC_WORKER_WORKER_METRICS_H_

#include <cstdint>
#include <memory>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/labels.h"
#include "prometheus/registry.h"
#include "worker/training_observer.h"

namespace adamasync {

class WorkerMetrics final : public training::TrainingObserver {
 public:
  // `worker_index`: the value of the worker="..." label on every series.
  explicit WorkerMetrics(int worker_index);
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  void OnStart(int64_t total_steps, int64_t steps_per_epoch) override;
  void OnPull(uint64_t bytes, double seconds) override;
  void OnPush(const training::PushEvent& push) override;
  void OnStep(const training::StepEvent& step) override;
  // The test_* gauges appear with the first evaluation.
  void OnEvaluation(const training::BatchStats& test) override;
  // Adds what the totals grew by since the last call.
  void OnClientCounters(const ClientCounters& totals) override;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  const prometheus::Labels worker_label_;  // constant label of every family
  prometheus::Counter& steps_;
  prometheus::Counter& examples_;
  prometheus::Gauge& planned_steps_;
  prometheus::Gauge& epoch_;
  prometheus::Gauge& train_loss_;
  prometheus::Gauge& train_accuracy_;
  prometheus::Histogram& compute_seconds_;
  prometheus::Counter& pulls_;
  prometheus::Counter& pull_bytes_;
  prometheus::Histogram& pull_seconds_;
  prometheus::Counter& pushes_;
  prometheus::Counter& push_bytes_;
  prometheus::Histogram& push_seconds_;
  prometheus::Histogram& push_staleness_;
  prometheus::Counter& stale_dropped_;
  prometheus::Counter& evaluations_;
  prometheus::Family<prometheus::Gauge>& test_accuracy_;
  prometheus::Family<prometheus::Gauge>& test_loss_;
  prometheus::Counter& rpc_attempts_;
  prometheus::Family<prometheus::Counter>& rpc_retries_;  // by reason
  prometheus::Counter& rpc_retries_unavailable_;
  prometheus::Counter& rpc_retries_attempt_timeout_;
  prometheus::Counter& rpc_failures_;
  ClientCounters seen_;  // the totals at the last OnClientCounters
};

}  // namespace adamasync

#endif  // ADAMASYNC_WORKER_WORKER_METRICS_H_
