// The interface of the models the worker trains (softmax_model.h,
// mlp_model.h), and batched evaluation of any of them.
//
// A Model owns no parameter values. It describes its parameter tensors
// (Params(): a name, a shape and a suggested initializer each; the worker
// keeps one server table per tensor) and computes, for given parameter
// values and a minibatch, the mean cross-entropy loss and its gradient. The
// values live in the caller's flat float buffers, in the order of Params(),
// so the same code serves a local optimizer and the parameter server.
//
// Example:
//   MlpModel model;                           // 784 -> 256 -> 128 -> 10
//   std::vector<std::vector<float>> values, grads;
//   for (const ParamInfo& p : model.Params()) {
//     values.emplace_back(p.num_elements);    // then pulled from the servers,
//     grads.emplace_back(p.num_elements);     // or FillInitialValues(p.init, ...)
//   }
//   std::vector<absl::Span<const float>> in(values.begin(), values.end());
//   std::vector<absl::Span<float>> out(grads.begin(), grads.end());
//   absl::StatusOr<BatchStats> stats = model.LossAndGradient(in, batch, out);
//
// Thread safety: Models are immutable after construction; every method is
// const and may be called from any number of threads at once.
#ifndef ADAMASYNC_WORKER_MODEL_H_
#define ADAMASYNC_WORKER_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "adamasync/table_spec.h"
#include "worker/fashion_mnist.h"

namespace adamasync {
namespace training {

// Parameter values or gradients of a whole model: one flat row-major buffer
// per tensor, in the order of Model::Params().
using ConstTensorSpans = absl::Span<const absl::Span<const float>>;
using TensorSpans = absl::Span<const absl::Span<float>>;

// One parameter tensor of a model.
struct ParamInfo {
  std::string name;            // unique within the model, e.g. "layer1/weight";
                               // a valid table-name suffix ([A-Za-z0-9_.:/-])
  std::vector<int64_t> shape;  // row-major, e.g. {10, 784}
  uint64_t num_elements = 0;   // product of shape
  Initializer init;            // suggested initial values
};

// What one forward pass over examples measured.
struct BatchStats {
  double loss = 0;           // mean cross-entropy over the examples, in nats
  int64_t num_correct = 0;   // examples whose highest-scoring class is the label
  int64_t num_examples = 0;  // examples seen

  double accuracy() const {
    return num_examples == 0 ? 0.0 : static_cast<double>(num_correct) / num_examples;
  }
};

class Model {
 public:
  virtual ~Model() = default;

  virtual std::vector<ParamInfo> Params() const = 0;
  virtual int num_features() const = 0;
  virtual int num_classes() const = 0;

  // The loss and accuracy of `params` on `batch`.
  // INVALID_ARGUMENT when there is not one buffer of the right size per
  // tensor, the batch is empty, its features are not size() x num_features(),
  // or a label is not below num_classes().
  virtual absl::StatusOr<BatchStats> Loss(ConstTensorSpans params,
                                          const ExampleBatch& batch) const = 0;

  // As Loss, and overwrites `grads` (one buffer per tensor, as `params`)
  // with the gradient of the mean loss with respect to each parameter.
  // On error `grads` is unspecified.
  virtual absl::StatusOr<BatchStats> LossAndGradient(ConstTensorSpans params,
                                                     const ExampleBatch& batch,
                                                     TensorSpans grads) const = 0;
};

// The loss and accuracy of `params` over all of `data`, in batches of
// `batch_size` examples (the result does not depend on it, up to rounding).
// Loss's errors, and INVALID_ARGUMENT when batch_size < 1 or data is empty.
absl::StatusOr<BatchStats> Evaluate(const Model& model, ConstTensorSpans params,
                                    const Dataset& data, int64_t batch_size = 1000);

// Argument checks shared by the Model implementations.
//
// INVALID_ARGUMENT unless there is one buffer per tensor of `infos`, each of
// its tensor's size; `what` ("parameter", "gradient") names the buffers.
absl::Status CheckTensors(const std::vector<ParamInfo>& infos, ConstTensorSpans spans,
                          const char* what);
absl::Status CheckTensors(const std::vector<ParamInfo>& infos, TensorSpans spans, const char* what);
// INVALID_ARGUMENT when `batch` is empty, its features are not
// size() x num_features, or a label is not below num_classes.
absl::Status CheckBatch(const ExampleBatch& batch, int num_features, int num_classes);

}  // namespace training
}  // namespace adamasync

#endif  // ADAMASYNC_WORKER_MODEL_H_
