// Batched evaluation of any Model and the argument checks the models share.
// See model.h for the contracts.
#include "worker/model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace adamasync {
namespace training {
namespace {

template <typename SpanList>
absl::Status CheckTensorSizes(const std::vector<ParamInfo>& infos, const SpanList& spans,
                              const char* what) {
  if (spans.size() != infos.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", infos.size(), " ", what, " tensors, got ", spans.size()));
  }
  for (size_t i = 0; i < infos.size(); ++i) {
    if (spans[i].size() != infos[i].num_elements) {
      return absl::InvalidArgumentError(absl::StrCat(what, " tensor '", infos[i].name, "' has ",
                                                     spans[i].size(), " elements, expected ",
                                                     infos[i].num_elements));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckTensors(const std::vector<ParamInfo>& infos, ConstTensorSpans spans,
                          const char* what) {
  return CheckTensorSizes(infos, spans, what);
}

absl::Status CheckTensors(const std::vector<ParamInfo>& infos, TensorSpans spans,
                          const char* what) {
  return CheckTensorSizes(infos, spans, what);
}

absl::Status CheckBatch(const ExampleBatch& batch, int num_features, int num_classes) {
  if (batch.size() == 0) return absl::InvalidArgumentError("empty batch");
  if (batch.features.size() != static_cast<size_t>(batch.size()) * num_features) {
    return absl::InvalidArgumentError(absl::StrCat("batch of ", batch.size(), " examples has ",
                                                   batch.features.size(), " features, expected ",
                                                   batch.size(), " x ", num_features));
  }
  for (int64_t i = 0; i < batch.size(); ++i) {
    if (batch.labels[i] >= num_classes) {
      return absl::InvalidArgumentError(absl::StrCat("label ", int{batch.labels[i]},
                                                     " of batch example ", i,
                                                     " is not below num_classes ", num_classes));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<BatchStats> Evaluate(const Model& model, ConstTensorSpans params,
                                    const Dataset& data, int64_t batch_size) {
  if (batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch size ", batch_size, " < 1"));
  }
  if (data.num_examples == 0) return absl::InvalidArgumentError("empty dataset");
  BatchStats total;
  double loss_sum = 0;
  for (int64_t begin = 0; begin < data.num_examples; begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, data.num_examples);
    ASSIGN_OR_RETURN(const BatchStats stats, model.Loss(params, data.Slice(begin, end)));
    loss_sum += stats.loss * stats.num_examples;
    total.num_correct += stats.num_correct;
    total.num_examples += stats.num_examples;
  }
  total.loss = loss_sum / total.num_examples;
  return total;
}

}  // namespace training
}  // namespace adamasync
