// A multi-layer perceptron: fully connected layers with ReLU between them
// and softmax cross-entropy on the last, as a Model (model.h).
//
// Layer k (1-based, k = 1 .. L where L = hidden sizes + 1) computes
//   z_k = a_{k-1} W_k^T + b_k,   a_k = relu(z_k) for k < L,   logits = z_L,
// with a_0 the input features; the loss is the mean of -log softmax(logits)
// [label], computed stably. Tensors, in this order, for k = 1 .. L:
//   "layer<k>/weight"  {out_k, in_k}, row-major (PyTorch's nn.Linear layout:
//                      W[o][i] is element o * in_k + i);
//   "layer<k>/bias"    {out_k}.
// Initial values are PyTorch's nn.Linear default, uniform in
// [-1/sqrt(in_k), 1/sqrt(in_k)] for weights and biases alike, drawn on the
// servers (Initializer) with a different seed per tensor: weight of layer k
// init_seed + 2(k-1), its bias init_seed + 2(k-1) + 1.
//
// Example:
//   MlpModel model({256, 128});             // 784 -> 256 -> 128 -> 10
//   model.Params()[0].name == "layer1/weight", shape {256, 784}
//
// Thread safety: immutable; every method may be called from any thread.
#ifndef ADAMASYNC_WORKER_MLP_MODEL_H_
#define ADAMASYNC_WORKER_MLP_MODEL_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/fashion_mnist.h"
#include "worker/model.h"

namespace adamasync {
namespace training {

// The largest hidden layer MlpModel accepts.
inline constexpr int kMaxHiddenUnits = 1 << 16;

// INVALID_ARGUMENT unless every hidden size is in [1, kMaxHiddenUnits] and
// there are at most 16 hidden layers (an empty list is plain softmax
// regression).
absl::Status ValidateHiddenSizes(const std::vector<int>& hidden);

class MlpModel final : public Model {
 public:
  // REQUIRES: ValidateHiddenSizes(hidden).ok(), num_features >= 1,
  // 2 <= num_classes <= 256.
  explicit MlpModel(std::vector<int> hidden = {256, 128}, uint64_t init_seed = 1,
                    int num_features = kFashionMnistRows * kFashionMnistCols,
                    int num_classes = kFashionMnistClasses);

  std::vector<ParamInfo> Params() const override;
  int num_features() const override { return widths_.front(); }
  int num_classes() const override { return widths_.back(); }
  // Number of layers L (hidden layers + the output layer).
  int num_layers() const { return static_cast<int>(widths_.size()) - 1; }

  absl::StatusOr<BatchStats> Loss(ConstTensorSpans params,
                                  const ExampleBatch& batch) const override;
  absl::StatusOr<BatchStats> LossAndGradient(ConstTensorSpans params, const ExampleBatch& batch,
                                             TensorSpans grads) const override;

 private:
  // Shared by Loss (grads empty) and LossAndGradient.
  absl::StatusOr<BatchStats> Run(ConstTensorSpans params, const ExampleBatch& batch,
                                 TensorSpans grads) const;

  std::vector<int> widths_;  // features, hidden..., classes
  uint64_t init_seed_;
};

}  // namespace training
}  // namespace adamasync

#endif  // ADAMASYNC_WORKER_MLP_MODEL_H_
