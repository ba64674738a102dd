// The worker's training loop. See training_loop.h for the schedule, the
// pipelining and the staleness it reports.
#include "worker/training_loop.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace adamasync {
namespace training {
namespace {

using SteadyClock = std::chrono::steady_clock;

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

absl::Status Annotate(const absl::Status& status, absl::string_view what, absl::string_view table) {
  return absl::Status(status.code(),
                      absl::StrCat(what, " of table ", table, ": ", status.message()));
}

// Sums that a progress line or CSV row reports, reset after each one.
struct IntervalStats {
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t examples = 0;
  double staleness_sum = 0;
  int64_t pushes = 0;  // applied pushes, for the staleness mean
};

// The calls of one transfer (every table's pull, or every table's push)
// and when each was answered. Never destroyed with a call in flight: the
// buffers are the caller's, the destructor waits.
class Transfer {
 public:
  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() { Wait(nullptr); }

  bool pending() const { return !calls_.empty(); }

  // Starts the clock; then one Add() per call issued.
  void Begin() { started_ = SteadyClock::now(); }
  // The callback to give one more call.
  Client::VersionsCallback Add() {
    auto call = std::make_shared<Call>();
    calls_.push_back(call);
    return [call](absl::StatusOr<Versions> result) {
      // Written before the promise is fulfilled, so visible after get().
      call->answered = SteadyClock::now();
      call->promise.set_value(std::move(result));
    };
  }
  // Waits for every call; their answers in Add() order. `seconds`, if not
  // null, gets the time from Begin() to the last answer.
  std::vector<absl::StatusOr<Versions>> Wait(double* seconds) {
    std::vector<absl::StatusOr<Versions>> results;
    SteadyClock::time_point last = started_;
    for (const std::shared_ptr<Call>& call : calls_) {
      results.push_back(call->future.get());
      last = std::max(last, call->answered);
    }
    calls_.clear();
    if (seconds != nullptr) *seconds = std::chrono::duration<double>(last - started_).count();
    return results;
  }

 private:
  struct Call {
    std::promise<absl::StatusOr<Versions>> promise;
    std::future<absl::StatusOr<Versions>> future = promise.get_future();
    SteadyClock::time_point answered;
  };

  std::vector<std::shared_ptr<Call>> calls_;
  SteadyClock::time_point started_;
};

// The pulls and pushes of all tables of one step, issued together; tells
// `observer` (may be null) of each one that succeeds, and of the client's
// RPC totals after each one, failed or not.
class StepTransfers {
 public:
  StepTransfers(Client& client, std::vector<ParamTable>& tables, TrainingObserver* observer)
      : client_(client), tables_(tables), observer_(observer) {}
  StepTransfers(const StepTransfers&) = delete;
  StepTransfers& operator=(const StepTransfers&) = delete;

  bool pull_pending() const { return pull_.pending(); }
  bool push_pending() const { return push_.pending(); }

  // Pulls every table into its `values`.
  void StartPull() {
    pull_.Begin();
    for (ParamTable& t : tables_) client_.PullAsync(t.name, absl::MakeSpan(t.values), pull_.Add());
  }
  // Waits for the pulls; stores their versions. The first error.
  absl::Status FinishPull() {
    double seconds = 0;
    std::vector<absl::StatusOr<Versions>> results = pull_.Wait(&seconds);
    absl::Status status;
    uint64_t bytes = 0;
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].ok()) {
        tables_[i].pulled = *std::move(results[i]);
        bytes += tables_[i].values.size() * sizeof(float);
      } else if (status.ok()) {
        status = Annotate(results[i].status(), "pull", tables_[i].name);
      }
    }
    if (observer_ != nullptr) {
      if (status.ok()) observer_->OnPull(bytes, seconds);
      observer_->OnClientCounters(client_.Counters());
    }
    return status;
  }

  // Pushes every table's grad[buffer] with the versions it was pulled at.
  // REQUIRES: buffer is 0 or 1, and no push is pending.
  void StartPush(int buffer) {
    pushed_from_ = tables_.front().pulled;
    push_bytes_ = 0;
    push_.Begin();
    for (ParamTable& t : tables_) {
      client_.PushAsync(t.name, t.grad[buffer], t.pulled, push_.Add());
      push_bytes_ += t.grad[buffer].size() * sizeof(float);
    }
  }
  // Waits for the pushes. What happened to the first table's push: dropped
  // by a REJECT policy, or applied with a staleness (nullopt when the
  // answer carries no versions). The first error.
  absl::StatusOr<PushEvent> FinishPush() {
    PushEvent push;
    push.bytes = push_bytes_;
    std::vector<absl::StatusOr<Versions>> results = push_.Wait(&push.seconds);
    absl::Status status;
    for (size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) {
        if (status.ok()) status = Annotate(results[i].status(), "push", tables_[i].name);
      } else if (i == 0) {
        SetOutcome(*results[i], &push);
      }
    }
    if (observer_ != nullptr) {
      if (status.ok()) observer_->OnPush(push);
      observer_->OnClientCounters(client_.Counters());
    }
    if (!status.ok()) return status;
    return push;
  }

 private:
  void SetOutcome(const Versions& pushed, PushEvent* push) const {
    if (pushed.stale_dropped) {
      push->dropped = true;
      return;
    }
    const std::vector<uint64_t>& now = pushed.per_shard;
    const std::vector<uint64_t>& then = pushed_from_.per_shard;
    if (now.empty() || now.size() != then.size()) return;
    double sum = 0;
    for (size_t s = 0; s < now.size(); ++s) {
      // Updates by others between the pull and this push; 0 for a
      // synchronous push (its answer carries the open round).
      if (now[s] > then[s] + 1) sum += static_cast<double>(now[s] - then[s] - 1);
    }
    push->staleness = sum / static_cast<double>(now.size());
  }

  Client& client_;
  std::vector<ParamTable>& tables_;
  TrainingObserver* const observer_;
  Transfer pull_;
  Transfer push_;
  Versions pushed_from_;  // the first table's pulled versions of the pending push
  uint64_t push_bytes_ = 0;
};

std::vector<absl::Span<const float>> Values(const std::vector<ParamTable>& tables) {
  std::vector<absl::Span<const float>> spans;
  for (const ParamTable& t : tables) spans.push_back(t.values);
  return spans;
}

std::vector<absl::Span<float>> Grads(std::vector<ParamTable>& tables, int buffer) {
  std::vector<absl::Span<float>> spans;
  for (ParamTable& t : tables) spans.push_back(absl::MakeSpan(t.grad[buffer]));
  return spans;
}

}  // namespace

int64_t TrainExamplesPerEpoch(int64_t total_examples, int num_workers) {
  return total_examples / num_workers;
}

int64_t StepsPerEpoch(int64_t total_examples, int num_workers, int batch_size) {
  return (TrainExamplesPerEpoch(total_examples, num_workers) + batch_size - 1) / batch_size;
}

absl::StatusOr<TrainingResult> RunTrainingLoop(const TrainingLoopOptions& options,
                                               const Model& model, const Dataset& train,
                                               const Dataset& test, Client& client,
                                               std::vector<ParamTable>& tables,
                                               ProgressReporter& reporter, MetricsCsv* csv) {
  const int64_t per_epoch =
      TrainExamplesPerEpoch(options.total_train_examples, options.num_workers);
  const int64_t steps_per_epoch =
      StepsPerEpoch(options.total_train_examples, options.num_workers, options.batch_size);
  if (per_epoch < 1 || per_epoch > train.num_examples) {
    return absl::InvalidArgumentError(absl::StrCat("the shard holds ", train.num_examples,
                                                   " examples, the schedule needs ", per_epoch));
  }
  int64_t total_steps = steps_per_epoch * options.epochs;
  if (options.max_steps > 0) total_steps = std::min(total_steps, options.max_steps);
  // Pipelined only where no ordering between a push and the next pull is
  // needed (training_loop.h).
  const bool overlap = options.prefetch && !options.synchronous && !options.ssp;
  const uint64_t shuffle_seed =
      options.seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(options.worker_index + 1);

  TrainingObserver* const observer = options.observer;
  StepTransfers transfers(client, tables, observer);
  TrainingResult result;
  IntervalStats interval;
  double staleness_total = 0;
  int64_t applied_total = 0;
  const SteadyClock::time_point start = SteadyClock::now();
  SteadyClock::time_point last_log = start, last_eval = start;
  int64_t examples_at_last_log = 0;
  Batch batch;
  std::vector<int64_t> order;
  int epoch = 0;

  auto finish_push = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(const PushEvent push, transfers.FinishPush());
    if (push.dropped) ++result.stale_dropped;
    if (push.staleness.has_value()) {
      interval.staleness_sum += *push.staleness;
      ++interval.pushes;
      staleness_total += *push.staleness;
      ++applied_total;
    }
    return absl::OkStatus();
  };

  // A progress line and CSV row for what happened since the previous one.
  auto report = [&](std::optional<BatchStats> test_stats) -> absl::Status {
    MetricsPoint point;
    point.time_s = SecondsSince(start);
    point.epoch = static_cast<double>(result.steps) / steps_per_epoch;
    point.step = result.steps;
    point.examples = result.examples;
    if (interval.examples > 0) {
      point.train_loss = interval.loss_sum / interval.examples;
      point.train_accuracy = static_cast<double>(interval.correct) / interval.examples;
    }
    if (interval.pushes > 0) point.mean_staleness = interval.staleness_sum / interval.pushes;
    if (test_stats.has_value()) {
      point.test_accuracy = test_stats->accuracy();
      point.test_loss = test_stats->loss;
      if (observer != nullptr) observer->OnEvaluation(*test_stats);
    }
    const double rate =
        (result.examples - examples_at_last_log) / std::max(SecondsSince(last_log), 1e-9);
    if (interval.examples > 0 || !test_stats.has_value()) {
      reporter.Line(fmt::format(
          "epoch={}/{} step={}/{} loss={:.4f} train_accuracy={:.4f} examples_per_s={:.0f} "
          "staleness={:.2f} stale_dropped={}",
          std::min(epoch + 1, options.epochs), options.epochs, result.steps, total_steps,
          point.train_loss.value_or(0), point.train_accuracy.value_or(0), rate,
          point.mean_staleness.value_or(0), result.stale_dropped));
    }
    if (test_stats.has_value()) {
      reporter.Line(fmt::format("eval step={} epoch={:.2f} test_accuracy={:.4f} test_loss={:.4f}",
                                result.steps, point.epoch, test_stats->accuracy(),
                                test_stats->loss));
    }
    if (csv != nullptr) RETURN_IF_ERROR(csv->Write(point));
    interval = IntervalStats();
    last_log = SteadyClock::now();
    examples_at_last_log = result.examples;
    return absl::OkStatus();
  };

  if (observer != nullptr) observer->OnStart(total_steps, steps_per_epoch);
  for (int64_t step = 0; step < total_steps; ++step) {
    epoch = static_cast<int>(step / steps_per_epoch);
    const int64_t in_epoch = step % steps_per_epoch;
    if (in_epoch == 0) order = EpochOrder(train.num_examples, shuffle_seed, epoch);
    const int64_t begin = in_epoch * options.batch_size;
    const int64_t size = std::min<int64_t>(options.batch_size, per_epoch - begin);
    GatherBatch(train, absl::MakeConstSpan(order).subspan(begin, size), &batch);

    if (!transfers.pull_pending()) transfers.StartPull();
    RETURN_IF_ERROR(transfers.FinishPull());
    if (options.eval_interval_s > 0 && SecondsSince(last_eval) >= options.eval_interval_s) {
      // The parameters this step computes with.
      ASSIGN_OR_RETURN(const BatchStats eval, Evaluate(model, Values(tables), test));
      RETURN_IF_ERROR(report(eval));
      last_eval = SteadyClock::now();
    }
    const int buffer = static_cast<int>(step & 1);
    const SteadyClock::time_point compute_start = SteadyClock::now();
    ASSIGN_OR_RETURN(const BatchStats stats,
                     model.LossAndGradient(Values(tables), batch.View(), Grads(tables, buffer)));
    const double compute_seconds = SecondsSince(compute_start);
    if (transfers.push_pending()) {
      RETURN_IF_ERROR(finish_push());
    }
    transfers.StartPush(buffer);
    ++result.steps;
    result.examples += stats.num_examples;
    interval.loss_sum += stats.loss * stats.num_examples;
    interval.correct += stats.num_correct;
    interval.examples += stats.num_examples;
    if (observer != nullptr) {
      StepEvent event;
      event.step = result.steps;
      event.epoch = static_cast<double>(result.steps) / steps_per_epoch;
      event.batch = stats;
      event.compute_seconds = compute_seconds;
      observer->OnStep(event);
    }

    const bool last = step + 1 == total_steps;
    if (!overlap) {
      RETURN_IF_ERROR(finish_push());
      if (options.ssp) {
        absl::StatusOr<uint64_t> clock = client.Clock();
        if (!clock.ok()) {
          return absl::Status(clock.status().code(),
                              absl::StrCat("SSP clock: ", clock.status().message()));
        }
      }
    }
    if (options.prefetch && !last) transfers.StartPull();

    if (SecondsSince(last_log) >= options.log_interval_s) RETURN_IF_ERROR(report(std::nullopt));
    reporter.Bar(static_cast<double>(result.steps) / total_steps,
                 fmt::format("epoch {}/{} step {}/{} loss {:.3f}", epoch + 1, options.epochs,
                             result.steps, total_steps, stats.loss));
  }
  if (transfers.push_pending()) {
    RETURN_IF_ERROR(finish_push());
  }
  result.train_seconds = SecondsSince(start);
  result.mean_staleness = applied_total > 0 ? staleness_total / applied_total : 0;

  // The final parameters: after this worker's last push (for a synchronous
  // table the servers hold the pull until the last round has closed).
  transfers.StartPull();
  RETURN_IF_ERROR(transfers.FinishPull());
  ASSIGN_OR_RETURN(result.final_test, Evaluate(model, Values(tables), test));
  RETURN_IF_ERROR(report(result.final_test));
  reporter.ClearBar();
  return result;
}

}  // namespace training
}  // namespace adamasync
