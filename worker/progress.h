// What the training worker reports while it trains: progress lines (through
// spdlog, on stdout), a one-line progress bar redrawn in place when stdout
// is a terminal, and the learning curve as CSV (--metrics_csv).
//
// Example:
//   ProgressReporter reporter(/*progress_bar=*/isatty(1));
//   ASSIGN_OR_RETURN(std::unique_ptr<MetricsCsv> csv, MetricsCsv::Open("curve.csv"));
//   reporter.Line("epoch=1/3 step=100 ...");        // clears and redraws the bar
//   reporter.Bar(0.42, "epoch 1/3 step 100/938 loss 0.61");
//   csv->Write(point);
//
// Thread safety: neither class is thread-safe; the training loop's thread
// owns them.
#ifndef ADAMASYNC_WORKER_PROGRESS_H_
#define ADAMASYNC_WORKER_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace adamasync {
namespace training {

class ProgressReporter {
 public:
  // `progress_bar`: draw the bar (only sensible when stdout is a terminal).
  explicit ProgressReporter(bool progress_bar) : progress_bar_(progress_bar) {}
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;
  // Clears the bar, so that what follows starts on a clean line.
  ~ProgressReporter() { ClearBar(); }

  // Logs `text` at info level as one line; the bar, if shown, is cleared
  // first and drawn again below it.
  void Line(const std::string& text);
  // Redraws the bar at `fraction` (0..1, clamped) followed by `text`, at most
  // 10 times a second (a call in between only remembers its arguments).
  // Does nothing without a bar.
  void Bar(double fraction, const std::string& text);
  // Erases the bar from the terminal (it reappears on the next Bar()).
  void ClearBar();

 private:
  void Draw();

  const bool progress_bar_;
  bool shown_ = false;
  double fraction_ = 0;
  std::string text_;
  std::chrono::steady_clock::time_point last_draw_{};
};

// One point of the learning curve, as seen by one worker.
struct MetricsPoint {
  double time_s = 0;     // seconds since this worker's training loop started
  double epoch = 0;      // epochs done, fractional: steps / steps per epoch
  int64_t step = 0;      // this worker's steps (pushes) so far
  int64_t examples = 0;  // this worker's training examples so far
  // Mean training loss and accuracy over the minibatches since the previous
  // point (nullopt when there were none).
  std::optional<double> train_loss;
  std::optional<double> train_accuracy;
  // Set when the test set was evaluated at this point.
  std::optional<double> test_accuracy;
  std::optional<double> test_loss;
  // Mean staleness of this worker's pushes since the previous point
  // (training_loop.h defines it); nullopt when none.
  std::optional<double> mean_staleness;
};

// A CSV file with a header line and one row per MetricsPoint:
//   time_s,epoch,step,examples,train_loss,train_acc,test_acc,test_loss,mean_staleness
// Empty fields for unset values. Each row is flushed as it is written, so a
// crashed or interrupted run keeps its curve so far.
class MetricsCsv {
 public:
  // Creates (truncates) `path` and writes the header. INTERNAL naming the
  // path and errno's message when it cannot.
  static absl::StatusOr<std::unique_ptr<MetricsCsv>> Open(const std::string& path);
  MetricsCsv(const MetricsCsv&) = delete;
  MetricsCsv& operator=(const MetricsCsv&) = delete;
  ~MetricsCsv();

  // INTERNAL when the write fails (disk full, ...).
  absl::Status Write(const MetricsPoint& point);

 private:
  MetricsCsv(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}

  const std::string path_;
  std::FILE* const file_;
};

}  // namespace training
}  // namespace adamasync

#endif  // ADAMASYNC_WORKER_PROGRESS_H_
