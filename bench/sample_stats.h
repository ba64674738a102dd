// Small statistics and timing helpers shared by the benchmarks: medians,
// nearest-rank percentiles, and a "repeat until the time budget is spent"
// timing loop that reports the median repetition.
#ifndef ADAMASYNC_BENCH_SAMPLE_STATS_H_
#define ADAMASYNC_BENCH_SAMPLE_STATS_H_

#include <functional>
#include <vector>

namespace adamasync {
namespace bench {

// The median of `samples` (mean of the middle two for an even count).
// REQUIRES: !samples.empty().
double Median(std::vector<double> samples);

// Nearest-rank percentile: the smallest sample such that at least q% of the
// samples are <= it. REQUIRES: !samples.empty(), 0 <= q <= 100.
double Percentile(std::vector<double> samples, double q);

// Seconds on a monotonic clock, from an arbitrary origin.
double MonotonicSeconds();

struct RepeatedTiming {
  double median_seconds = 0;  // median wall time of one repetition
  int reps = 0;               // timed repetitions (the warm-up is not counted)
};

// Runs `fn` once untimed (warm-up), then times repetitions until at least
// `min_reps` have run and `budget_seconds` have passed, or `max_reps` have
// run. REQUIRES: 1 <= min_reps <= max_reps.
RepeatedTiming TimeRepeated(const std::function<void()>& fn, double budget_seconds, int min_reps,
                            int max_reps);

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_SAMPLE_STATS_H_
