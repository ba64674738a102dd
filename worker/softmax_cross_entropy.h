// Softmax cross-entropy over a batch of logits: the loss, accuracy and
// gradient shared by every model's output layer.
#ifndef ADAMASYNC_WORKER_SOFTMAX_CROSS_ENTROPY_H_
#define ADAMASYNC_WORKER_SOFTMAX_CROSS_ENTROPY_H_

#include <Eigen/Core>
#include <cstdint>

#include "absl/types/span.h"
#include "worker/model.h"

namespace adamasync {
namespace training {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// `z` holds one row of logits per example. Returns the mean loss and the
// number of correct predictions. With `gradient`, `z` is left holding
// d(mean loss)/d(logits) = (softmax(z) - onehot(label)) / n; otherwise it is
// left holding the log-probabilities. REQUIRES: labels.size() == z.rows() > 0,
// every label < z.cols().
BatchStats SoftmaxCrossEntropy(absl::Span<const uint8_t> labels, bool gradient, RowMatrix& z);

}  // namespace training
}  // namespace adamasync

#endif  // ADAMASYNC_WORKER_SOFTMAX_CROSS_ENTROPY_H_
