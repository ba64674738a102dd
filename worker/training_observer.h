// TrainingObserver: what the training loop did, event by event, for live
// monitoring (the worker's Prometheus metrics, worker/worker_metrics.h).
// The loop knows nothing of how the events are recorded; an observer knows
// nothing of the loop's schedule.
//
// A "pull" or "push" here is one transfer of the whole model: the calls for
// every table of a step, issued together. Its time runs from the issue of
// the first call to the answer of the last one, so with pipelining (the
// next pull overlapping this push) it is the time on the wire and on the
// servers, not the time the loop waited.
//
// Example:
//   WorkerMetrics metrics(/*worker_index=*/0);  // a TrainingObserver
//   TrainingLoopOptions loop;
//   loop.observer = &metrics;
//
// Thread safety: the loop calls an observer from its one thread, never
// concurrently; an observer that is also read elsewhere (a scrape) must
// synchronize that itself.
#ifndef ADAMASYNC_WORKER_TRAINING_OBSERVER_H_
#define ADAMASYNC_WORKER_TRAINING_OBSERVER_H_

#include <cstdint>
#include <optional>

#include "adamasync/client.h"
#include "worker/model.h"

namespace adamasync {
namespace training {

// One applied (or dropped) push of the model.
struct PushEvent {
  uint64_t bytes = 0;    // gradient bytes sent, all tables (fp32 payload)
  double seconds = 0;    // issue of the first call to the answer of the last
  bool dropped = false;  // refused as too stale by a REJECT policy and dropped
  // Staleness as training_loop.h defines it (updates by others between the
  // pull and this push, mean over the first table's shards); nullopt when
  // dropped or when the answer carried no versions.
  std::optional<double> staleness;
};

// One training step: a minibatch's gradient computed and its push issued.
struct StepEvent {
  int64_t step = 0;            // steps done, this one included
  double epoch = 0;            // epochs done, fractional: step / steps per epoch
  BatchStats batch;            // loss and accuracy of this minibatch
  double compute_seconds = 0;  // the gradient computation (Model::LossAndGradient)
};

// Every method has an empty default, so an observer overrides only what it
// needs.
class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;

  // Once, before the first step: the steps this run will take in all and
  // per epoch.
  virtual void OnStart(int64_t /*total_steps*/, int64_t /*steps_per_epoch*/) {}
  // A successful pull of the model: bytes received (fp32 payload) and its
  // time. Failed pulls end the loop and are not reported.
  virtual void OnPull(uint64_t /*bytes*/, double /*seconds*/) {}
  // A successful push of the model (applied or dropped as too stale).
  virtual void OnPush(const PushEvent& /*push*/) {}
  virtual void OnStep(const StepEvent& /*step*/) {}
  // An evaluation on the test set (periodic or the final one).
  virtual void OnEvaluation(const BatchStats& /*test*/) {}
  // The client's RPC totals since it was created (attempts, retries,
  // failed calls), after every pull and push, failed ones included.
  virtual void OnClientCounters(const ClientCounters& /*totals*/) {}
};

}  // namespace training
}  // namespace adamasync

#endif  // ADAMASYNC_WORKER_TRAINING_OBSERVER_H_
