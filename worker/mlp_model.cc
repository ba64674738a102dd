// The multi-layer perceptron with Eigen. See mlp_model.h for the contracts.
#include "worker/mlp_model.h"

#include <Eigen/Core>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/softmax_cross_entropy.h"

namespace adamasync {
namespace training {
namespace {

constexpr size_t kMaxHiddenLayers = 16;

}  // namespace

absl::Status ValidateHiddenSizes(const std::vector<int>& hidden) {
  if (hidden.size() > kMaxHiddenLayers) {
    return absl::InvalidArgumentError(
        absl::StrCat(hidden.size(), " hidden layers, at most ", kMaxHiddenLayers));
  }
  for (size_t i = 0; i < hidden.size(); ++i) {
    if (hidden[i] < 1 || hidden[i] > kMaxHiddenUnits) {
      return absl::InvalidArgumentError(absl::StrCat("hidden layer ", i + 1, " has ", hidden[i],
                                                     " units, expected 1 .. ", kMaxHiddenUnits));
    }
  }
  return absl::OkStatus();
}

MlpModel::MlpModel(std::vector<int> hidden, uint64_t init_seed, int num_features, int num_classes)
    : init_seed_(init_seed) {
  widths_.push_back(num_features);
  widths_.insert(widths_.end(), hidden.begin(), hidden.end());
  widths_.push_back(num_classes);
}

std::vector<ParamInfo> MlpModel::Params() const {
  std::vector<ParamInfo> params;
  for (int k = 1; k <= num_layers(); ++k) {
    const int in = widths_[k - 1];
    const int out = widths_[k];
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    const uint64_t seed = init_seed_ + 2 * static_cast<uint64_t>(k - 1);
    params.push_back(ParamInfo{absl::StrCat("layer", k, "/weight"),
                               {out, in},
                               static_cast<uint64_t>(out) * static_cast<uint64_t>(in),
                               Initializer::Uniform(-bound, bound, seed)});
    params.push_back(ParamInfo{absl::StrCat("layer", k, "/bias"),
                               {out},
                               static_cast<uint64_t>(out),
                               Initializer::Uniform(-bound, bound, seed + 1)});
  }
  return params;
}

absl::StatusOr<BatchStats> MlpModel::Loss(ConstTensorSpans params,
                                          const ExampleBatch& batch) const {
  return Run(params, batch, {});
}

absl::StatusOr<BatchStats> MlpModel::LossAndGradient(ConstTensorSpans params,
                                                     const ExampleBatch& batch,
                                                     TensorSpans grads) const {
  RETURN_IF_ERROR(CheckTensors(Params(), grads, "gradient"));
  return Run(params, batch, grads);
}

absl::StatusOr<BatchStats> MlpModel::Run(ConstTensorSpans params, const ExampleBatch& batch,
                                         TensorSpans grads) const {
  RETURN_IF_ERROR(CheckTensors(Params(), params, "parameter"));
  RETURN_IF_ERROR(CheckBatch(batch, num_features(), num_classes()));
  const int64_t n = batch.size();
  const int layers = num_layers();
  auto weight = [&](int k) {  // W_k, k = 1 .. layers
    return Eigen::Map<const RowMatrix>(params[2 * (k - 1)].data(), widths_[k], widths_[k - 1]);
  };
  auto bias = [&](int k) {
    return Eigen::Map<const Eigen::RowVectorXf>(params[2 * (k - 1) + 1].data(), widths_[k]);
  };
  Eigen::Map<const RowMatrix> x(batch.features.data(), n, num_features());

  // activations[k] = a_k for k = 1 .. layers-1 (ReLU applied); the logits
  // are kept apart. a_0 is x.
  std::vector<RowMatrix> activations(layers);
  RowMatrix z;
  for (int k = 1; k <= layers; ++k) {
    if (k == 1) {
      z.noalias() = x * weight(k).transpose();
    } else {
      z.noalias() = activations[k - 1] * weight(k).transpose();
    }
    z.rowwise() += bias(k);
    if (k < layers) activations[k] = z.cwiseMax(0.0f);
  }

  // z: logits, then in place log-probabilities, then d(mean loss)/d(logits).
  const BatchStats stats = SoftmaxCrossEntropy(batch.labels, !grads.empty(), z);
  if (grads.empty()) return stats;
  RowMatrix dz = std::move(z);  // d(mean loss)/d(logits of the last layer)
  RowMatrix da;
  for (int k = layers; k >= 1; --k) {
    Eigen::Map<RowMatrix> grad_w(grads[2 * (k - 1)].data(), widths_[k], widths_[k - 1]);
    Eigen::Map<Eigen::RowVectorXf> grad_b(grads[2 * (k - 1) + 1].data(), widths_[k]);
    if (k == 1) {
      grad_w.noalias() = dz.transpose() * x;
    } else {
      grad_w.noalias() = dz.transpose() * activations[k - 1];
    }
    grad_b = dz.colwise().sum();
    if (k == 1) break;
    // Through W_k, then through the ReLU of layer k-1: its derivative is 1
    // where the unit was active (a > 0) and 0 elsewhere (also at z == 0,
    // like PyTorch).
    da.noalias() = dz * weight(k);
    dz = (activations[k - 1].array() > 0.0f).select(da, 0.0f);
  }
  return stats;
}

}  // namespace training
}  // namespace adamasync
