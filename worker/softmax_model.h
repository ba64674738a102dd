// Softmax regression (multinomial logistic regression), the simplest Model
// (model.h): one linear layer, no hidden units.
//
// Example:
//   SoftmaxModel model;                       // 784 features -> 10 classes
//   absl::StatusOr<BatchStats> stats = model.LossAndGradient(params, batch, grads);
//
// Thread safety: immutable; every method may be called from any thread.
#ifndef ADAMASYNC_WORKER_SOFTMAX_MODEL_H_
#define ADAMASYNC_WORKER_SOFTMAX_MODEL_H_

#include <vector>

#include "absl/status/statusor.h"
#include "worker/fashion_mnist.h"
#include "worker/model.h"

namespace adamasync {
namespace training {

// logits = x W^T + b; p = softmax(logits); loss = -log p[label], with the
// log-softmax computed stably (max subtracted). Tensors, in this order:
//   "weight"  {num_classes, num_features}, row-major: W[c][f] is element
//             c * num_features + f;
//   "bias"    {num_classes}.
// Both start at zero: the loss is convex, so no symmetry needs breaking.
class SoftmaxModel final : public Model {
 public:
  // REQUIRES: num_features >= 1, 2 <= num_classes <= 256.
  explicit SoftmaxModel(int num_features = kFashionMnistRows * kFashionMnistCols,
                        int num_classes = kFashionMnistClasses);

  std::vector<ParamInfo> Params() const override;
  int num_features() const override { return num_features_; }
  int num_classes() const override { return num_classes_; }

  absl::StatusOr<BatchStats> Loss(ConstTensorSpans params,
                                  const ExampleBatch& batch) const override;
  absl::StatusOr<BatchStats> LossAndGradient(ConstTensorSpans params, const ExampleBatch& batch,
                                             TensorSpans grads) const override;

 private:
  // Shared by Loss (grads empty) and LossAndGradient.
  absl::StatusOr<BatchStats> Run(ConstTensorSpans params, const ExampleBatch& batch,
                                 TensorSpans grads) const;

  int num_features_;
  int num_classes_;
};

}  // namespace training
}  // namespace adamasync

#endif  // ADAMASYNC_WORKER_SOFTMAX_MODEL_H_
