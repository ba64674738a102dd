#include "tests/testing/local_training.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "common/initializer.h"
#include "common/status_macros.h"
#include "kernels/adam_cpu.h"
#include "kernels/adam_scalars.h"
#include "worker/fashion_mnist.h"

namespace adamasync {
namespace testing {

std::string FashionMnistDirOrEmpty() {
  const char* env = std::getenv("ADAMASYNC_FASHION_MNIST_DIR");
  const std::string dir = env != nullptr ? env : training::kDefaultFashionMnistDir;
  return std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz") ? dir : "";
}

absl::StatusOr<LocalEpoch> TrainOneEpochLocally(const training::Model& model,
                                                const std::string& dir, int batch_size,
                                                const AdamConfig& adam) {
  ASSIGN_OR_RETURN(const training::Dataset train,
                   training::LoadFashionMnist(dir, training::Split::kTrain));
  ASSIGN_OR_RETURN(const training::Dataset test,
                   training::LoadFashionMnist(dir, training::Split::kTest));
  const std::vector<training::ParamInfo> infos = model.Params();
  std::vector<std::vector<float>> params, grads, m, v;
  for (const training::ParamInfo& info : infos) {
    params.emplace_back(info.num_elements);
    FillInitialValues(info.init, 0, absl::MakeSpan(params.back()));
    grads.emplace_back(info.num_elements);
    m.emplace_back(info.num_elements);
    v.emplace_back(info.num_elements);
  }
  const std::vector<absl::Span<const float>> in(params.begin(), params.end());
  std::vector<absl::Span<float>> out;
  for (std::vector<float>& g : grads) out.push_back(absl::MakeSpan(g));

  const std::vector<int64_t> order =
      training::EpochOrder(train.num_examples, /*seed=*/1, /*epoch=*/0);
  training::Batch batch;
  LocalEpoch result;
  for (size_t begin = 0; begin < order.size(); begin += batch_size) {
    const size_t size = std::min<size_t>(batch_size, order.size() - begin);
    training::GatherBatch(train, absl::MakeConstSpan(order).subspan(begin, size), &batch);
    RETURN_IF_ERROR(model.LossAndGradient(in, batch.View(), out).status());
    const kernels::AdamScalars scalars = kernels::MakeAdamScalars(adam, ++result.steps);
    for (size_t t = 0; t < infos.size(); ++t) {
      kernels::AdamCpu(scalars, grads[t].data(),
                       {params[t].data(), m[t].data(), v[t].data(), nullptr}, params[t].size());
    }
  }
  ASSIGN_OR_RETURN(result.test, training::Evaluate(model, in, test));
  return result;
}

}  // namespace testing
}  // namespace adamasync
