#include "bench/sample_stats.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace adamasync {
namespace bench {

double Median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  return n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
}

double Percentile(std::vector<double> samples, double q) {
  std::sort(samples.begin(), samples.end());
  const double rank = std::ceil(q / 100.0 * static_cast<double>(samples.size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return samples[std::min(index, samples.size() - 1)];
}

double MonotonicSeconds() {
  using Clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

RepeatedTiming TimeRepeated(const std::function<void()>& fn, double budget_seconds, int min_reps,
                            int max_reps) {
  fn();  // warm-up: caches, branch predictors, lazily started threads
  std::vector<double> samples;
  const double start = MonotonicSeconds();
  while (static_cast<int>(samples.size()) < max_reps) {
    const double t0 = MonotonicSeconds();
    fn();
    const double t1 = MonotonicSeconds();
    samples.push_back(t1 - t0);
    if (static_cast<int>(samples.size()) >= min_reps && t1 - start >= budget_seconds) break;
  }
  return {Median(samples), static_cast<int>(samples.size())};
}

}  // namespace bench
}  // namespace adamasync
