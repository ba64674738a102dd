// The worker's training loop: pull the parameters, compute a minibatch
// gradient, push it, with the next pull overlapping the current push.
//
// Schedule. Every worker runs the same number of steps per epoch,
// StepsPerEpoch(total examples, workers, batch): each epoch it takes the
// first TrainExamplesPerEpoch() examples of its shard in a fresh shuffled
// order (round-robin shards differ by at most one example, so at most one
// example of a shard sits out each epoch, a different one each time). A
// synchronous table needs this: every round takes exactly one push from
// every worker.
//
// Pipelining (TrainingLoopOptions::prefetch). Without it a step is strictly
// pull, compute, push (wait for each). With it, in asynchronous mode, the
// pull for step t+1 is issued right after the push of step t, so the two
// transfers overlap each other and the next batch's gathering; the push's
// answer is awaited only after step t+1's gradient is computed (gradients
// are double-buffered). The pull may then not yet see this worker's own
// step-t update: it adds up to one to the staleness. Where ordering matters
// the pull waits for the push first: in synchronous mode (a pull issued
// before the push has joined its round would read the previous round's
// parameters) and with SSP (the clock may only advance once the push is
// applied, and the pull must carry the advanced clock).
//
// Staleness of a push, as reported: the number of updates other pushes made
// to the table between this worker's pull and its push, i.e. (version the
// push produced - 1) - version pulled, from the Versions the SDK returns,
// averaged over the shards of the model's first table. Pushes dropped by a
// REJECT policy are counted apart and not in the mean. Synchronous pushes
// have staleness 0 by construction.
//
// Thread safety: a TrainingLoop is used by one thread.
#ifndef ADAMASYNC_WORKER_TRAINING_LOOP_H_
#define ADAMASYNC_WORKER_TRAINING_LOOP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adamasync/client.h"
#include "worker/fashion_mnist.h"
#include "worker/model.h"
#include "worker/progress.h"
#include "worker/training_observer.h"

namespace adamasync {
namespace training {

// Examples every worker trains on per epoch: the smallest round-robin
// shard, total_examples / num_workers. REQUIRES: num_workers >= 1.
int64_t TrainExamplesPerEpoch(int64_t total_examples, int num_workers);
// Minibatches per epoch: ceil(TrainExamplesPerEpoch / batch_size) (the last
// batch may be smaller). REQUIRES: num_workers, batch_size >= 1.
int64_t StepsPerEpoch(int64_t total_examples, int num_workers, int batch_size);

struct TrainingLoopOptions {
  // This worker and how many there are; REQUIRES: 0 <= index < workers.
  int worker_index = 0;
  int num_workers = 1;
  // Size of the whole training set (all shards), for the schedule above.
  int64_t total_train_examples = 0;
  int epochs = 3;       // REQUIRES: >= 1
  int batch_size = 64;  // REQUIRES: >= 1
  // Seed of the per-epoch shuffle, mixed with worker_index.
  uint64_t seed = 1;
  // Stop after this many steps (0: run every epoch).
  int64_t max_steps = 0;
  // Overlap the next pull with the current push (see above). Default true.
  bool prefetch = true;
  // The tables are synchronous (ConsistencyConfig::sync_workers > 0).
  bool synchronous = false;
  // The tables use SSP: call Client::Clock() once per step.
  bool ssp = false;
  // Seconds between progress lines (and CSV rows). REQUIRES: > 0.
  double log_interval_s = 5;
  // Seconds between test-set evaluations (0: only the final one).
  double eval_interval_s = 0;
  // Told of every pull, push, step and evaluation (training_observer.h);
  // borrowed, must outlive the loop. Default null: none.
  TrainingObserver* observer = nullptr;
};

// One parameter tensor: its table and the buffers the loop uses.
struct ParamTable {
  std::string name;
  std::vector<float> values;   // last pulled
  std::vector<float> grad[2];  // double-buffered gradients
  Versions pulled;             // versions of `values`
};

struct TrainingResult {
  int64_t steps = 0;
  int64_t examples = 0;
  double train_seconds = 0;   // the loop, final evaluation excluded
  int64_t stale_dropped = 0;  // pushes a REJECT policy dropped
  double mean_staleness = 0;  // over all applied pushes
  BatchStats final_test;      // on the parameters pulled after the last push
};

// Trains `model`, whose tensors are the tables `tables` (in Params() order,
// each already created, buffers sized), on `train` (this worker's shard),
// evaluating on `test`, then pulls once more and evaluates the final
// parameters. Reports through `reporter` and, if not null, `csv` and
// `options.observer`.
// The first error of any call, naming the table; a pull or push is never
// left in flight on return.
absl::StatusOr<TrainingResult> RunTrainingLoop(const TrainingLoopOptions& options,
                                               const Model& model, const Dataset& train,
                                               const Dataset& test, Client& client,
                                               std::vector<ParamTable>& tables,
                                               ProgressReporter& reporter, MetricsCsv* csv);

}  // namespace training
}  // namespace adamasync

#endif  // ADAMASYNC_WORKER_TRAINING_LOOP_H_
