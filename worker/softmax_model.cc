// Softmax regression with Eigen. See softmax_model.h for the contracts.
#include "worker/softmax_model.h"

#include <Eigen/Core>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/softmax_cross_entropy.h"

namespace adamasync {
namespace training {
SoftmaxModel::SoftmaxModel(int num_features, int num_classes)
    : num_features_(num_features), num_classes_(num_classes) {}

std::vector<ParamInfo> SoftmaxModel::Params() const {
  const uint64_t c = static_cast<uint64_t>(num_classes_);
  const uint64_t f = static_cast<uint64_t>(num_features_);
  return {
      ParamInfo{"weight", {num_classes_, num_features_}, c * f, Initializer::Zeros()},
      ParamInfo{"bias", {num_classes_}, c, Initializer::Zeros()},
  };
}

absl::StatusOr<BatchStats> SoftmaxModel::Loss(ConstTensorSpans params,
                                              const ExampleBatch& batch) const {
  return Run(params, batch, {});
}

absl::StatusOr<BatchStats> SoftmaxModel::LossAndGradient(ConstTensorSpans params,
                                                         const ExampleBatch& batch,
                                                         TensorSpans grads) const {
  const std::vector<ParamInfo> infos = Params();
  RETURN_IF_ERROR(CheckTensors(infos, grads, "gradient"));
  return Run(params, batch, grads);
}

absl::StatusOr<BatchStats> SoftmaxModel::Run(ConstTensorSpans params, const ExampleBatch& batch,
                                             TensorSpans grads) const {
  RETURN_IF_ERROR(CheckTensors(Params(), params, "parameter"));
  RETURN_IF_ERROR(CheckBatch(batch, num_features_, num_classes_));
  const int64_t n = batch.size();
  const int c = num_classes_;
  Eigen::Map<const RowMatrix> x(batch.features.data(), n, num_features_);
  Eigen::Map<const RowMatrix> w(params[0].data(), c, num_features_);
  Eigen::Map<const Eigen::RowVectorXf> b(params[1].data(), c);

  // logits, then in place: log-probabilities, then d(mean loss)/d(logits).
  RowMatrix z = x * w.transpose();
  z.rowwise() += b;

  const BatchStats stats = SoftmaxCrossEntropy(batch.labels, !grads.empty(), z);
  if (grads.empty()) return stats;
  // z is now d(mean loss)/d(logits).
  Eigen::Map<RowMatrix> grad_w(grads[0].data(), c, num_features_);
  Eigen::Map<Eigen::RowVectorXf> grad_b(grads[1].data(), c);
  grad_w.noalias() = z.transpose() * x;
  grad_b = z.colwise().sum();
  return stats;
}

}  // namespace training
}  // namespace adamasync
