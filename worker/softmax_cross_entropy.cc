#include "worker/softmax_cross_entropy.h"

#include <cmath>

namespace adamasync {
namespace training {

BatchStats SoftmaxCrossEntropy(absl::Span<const uint8_t> labels, bool gradient, RowMatrix& z) {
  const int64_t n = z.rows();
  BatchStats stats;
  stats.num_examples = n;
  double loss_sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    auto row = z.row(i);
    const int label = labels[i];
    Eigen::Index best;
    const float max = row.maxCoeff(&best);
    if (best == label) ++stats.num_correct;
    // Every exp() argument is <= 0, so nothing overflows; the sum is >= 1.
    row.array() -= max;
    const float log_sum = std::log(row.array().exp().sum());
    row.array() -= log_sum;
    loss_sum -= row(label);
  }
  stats.loss = loss_sum / static_cast<double>(n);
  if (!gradient) return stats;
  z = z.array().exp();
  for (int64_t i = 0; i < n; ++i) z(i, labels[i]) -= 1.0f;
  z *= 1.0f / static_cast<float>(n);
  return stats;
}

}  // namespace training
}  // namespace adamasync
