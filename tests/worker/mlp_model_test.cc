// Tests of the multi-layer perceptron: its tensors and initializers, its
// loss against an independent double-precision reference, the gradient of
// every layer's weight and bias against central differences of that
// reference, its argument checks, and a purely local Adam run on the real
// Fashion-MNIST (no server) that must reach 83% test accuracy in one epoch
// with the worker's default hyper-parameters (it reaches about 84.5%).
#include "worker/mlp_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "tests/testing/local_training.h"
#include "worker/softmax_model.h"

namespace adamasync {
namespace training {
namespace {

using ::testing::ElementsAre;

// Parameter buffers of a model, shaped by its Params().
struct Tensors {
  std::vector<std::vector<float>> values;

  explicit Tensors(const Model& model) {
    for (const ParamInfo& p : model.Params()) values.emplace_back(p.num_elements);
  }
  std::vector<absl::Span<const float>> In() const { return {values.begin(), values.end()}; }
  std::vector<absl::Span<float>> Out() {
    std::vector<absl::Span<float>> out;
    for (std::vector<float>& v : values) out.push_back(absl::MakeSpan(v));
    return out;
  }
};

// The MLP's mean loss, computed naively in double: widths = features,
// hidden..., classes; params[2k] is W_{k+1} {out, in}, params[2k+1] b_{k+1}.
double ReferenceLoss(const std::vector<int>& widths, const std::vector<std::vector<double>>& params,
                     const Batch& batch) {
  const int layers = static_cast<int>(widths.size()) - 1;
  const size_t n = batch.labels.size();
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> a(batch.features.begin() + i * widths[0],
                          batch.features.begin() + (i + 1) * widths[0]);
    for (int k = 0; k < layers; ++k) {
      const std::vector<double>& w = params[2 * k];
      const std::vector<double>& b = params[2 * k + 1];
      std::vector<double> z(widths[k + 1]);
      for (int o = 0; o < widths[k + 1]; ++o) {
        z[o] = b[o];
        for (int j = 0; j < widths[k]; ++j) z[o] += w[o * widths[k] + j] * a[j];
        if (k + 1 < layers) z[o] = std::max(z[o], 0.0);
      }
      a = std::move(z);
    }
    const double max = *std::max_element(a.begin(), a.end());
    double sum = 0;
    for (double z : a) sum += std::exp(z - max);
    total -= a[batch.labels[i]] - max - std::log(sum);
  }
  return total / n;
}

Batch RandomBatch(int n, int features, int classes, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> pixel(0, 1);
  std::uniform_int_distribution<int> label(0, classes - 1);
  Batch batch;
  for (int i = 0; i < n * features; ++i) batch.features.push_back(pixel(rng));
  for (int i = 0; i < n; ++i) batch.labels.push_back(static_cast<uint8_t>(label(rng)));
  return batch;
}

TEST(MlpModelTest, DescribesOneWeightAndBiasPerLayer) {
  MlpModel model({256, 128}, /*init_seed=*/10);
  EXPECT_EQ(model.num_features(), 784);
  EXPECT_EQ(model.num_classes(), 10);
  EXPECT_EQ(model.num_layers(), 3);
  const std::vector<ParamInfo> params = model.Params();
  ASSERT_EQ(params.size(), 6u);
  const std::vector<std::string> names = {"layer1/weight", "layer1/bias",   "layer2/weight",
                                          "layer2/bias",   "layer3/weight", "layer3/bias"};
  const std::vector<std::vector<int64_t>> shapes = {{256, 784}, {256},     {128, 256},
                                                    {128},      {10, 128}, {10}};
  const std::vector<int> fan_in = {784, 784, 256, 256, 128, 128};
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(params[i].name, names[i]);
    EXPECT_EQ(params[i].shape, shapes[i]) << names[i];
    uint64_t product = 1;
    for (int64_t d : shapes[i]) product *= d;
    EXPECT_EQ(params[i].num_elements, product) << names[i];
    // PyTorch's nn.Linear default, with a distinct seed per tensor.
    const double bound = 1 / std::sqrt(static_cast<double>(fan_in[i]));
    EXPECT_EQ(params[i].init, Initializer::Uniform(-bound, bound, 10 + i)) << names[i];
  }
}

TEST(MlpModelTest, ValidatesHiddenSizes) {
  EXPECT_TRUE(ValidateHiddenSizes({}).ok());
  EXPECT_TRUE(ValidateHiddenSizes({256, 128}).ok());
  EXPECT_EQ(ValidateHiddenSizes({256, 0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateHiddenSizes({-3}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateHiddenSizes({kMaxHiddenUnits + 1}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateHiddenSizes(std::vector<int>(17, 4)).code(),
            absl::StatusCode::kInvalidArgument);
}

// Central differences, in double, of the reference loss for every element
// of every tensor, against the model's float gradient.
void CheckGradient(const std::vector<int>& hidden, int features, int classes, uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << "hidden layers " << hidden.size() << ", seed " << seed);
  std::mt19937_64 rng(seed);
  const Batch batch = RandomBatch(5, features, classes, rng);
  MlpModel model(hidden, /*init_seed=*/seed, features, classes);
  std::vector<int> widths = {features};
  widths.insert(widths.end(), hidden.begin(), hidden.end());
  widths.push_back(classes);

  // Random parameters, larger than the initializer's so that the logits
  // spread and the bias gradients are not all alike.
  Tensors params(model), grads(model);
  std::vector<std::vector<double>> reference;
  std::normal_distribution<double> normal(0, 0.5);
  for (std::vector<float>& tensor : params.values) {
    reference.emplace_back(tensor.size());
    for (size_t j = 0; j < tensor.size(); ++j) {
      tensor[j] = static_cast<float>(normal(rng));
      reference.back()[j] = tensor[j];
    }
  }
  absl::StatusOr<BatchStats> stats = model.LossAndGradient(params.In(), batch.View(), grads.Out());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_NEAR(stats->loss, ReferenceLoss(widths, reference, batch), 1e-4 * (1 + stats->loss));
  absl::StatusOr<BatchStats> loss_only = model.Loss(params.In(), batch.View());
  ASSERT_TRUE(loss_only.ok()) << loss_only.status();
  EXPECT_EQ(loss_only->loss, stats->loss);
  EXPECT_EQ(loss_only->num_correct, stats->num_correct);

  constexpr double kH = 1e-6;
  const std::vector<ParamInfo> infos = model.Params();
  for (size_t t = 0; t < infos.size(); ++t) {
    std::vector<double>& x = reference[t];
    double diff2 = 0, norm2 = 0;
    int mismatches = 0;
    for (size_t j = 0; j < x.size(); ++j) {
      const double saved = x[j];
      x[j] = saved + kH;
      const double up = ReferenceLoss(widths, reference, batch);
      x[j] = saved - kH;
      const double down = ReferenceLoss(widths, reference, batch);
      x[j] = saved;
      const double numeric = (up - down) / (2 * kH);
      const double analytic = grads.values[t][j];
      diff2 += (analytic - numeric) * (analytic - numeric);
      norm2 += numeric * numeric;
      if (std::abs(analytic - numeric) > 1e-4 + 1e-3 * std::abs(numeric) && ++mismatches <= 5) {
        ADD_FAILURE() << infos[t].name << " element " << j << ": analytic " << analytic
                      << ", central difference " << numeric;
      }
    }
    EXPECT_EQ(mismatches, 0) << infos[t].name << ": elements whose gradient is off";
    EXPECT_GT(norm2, 1e-6) << infos[t].name << ": degenerate gradient";
    EXPECT_LT(std::sqrt(diff2 / norm2), 1e-4) << infos[t].name;
  }
}

TEST(MlpModelTest, GradientOfEveryLayerMatchesCentralDifferences) {
  CheckGradient({7, 5}, /*features=*/12, /*classes=*/4, /*seed=*/1);
}

TEST(MlpModelTest, GradientOfDeeperAndShallowerNetsMatchesCentralDifferences) {
  CheckGradient({9, 6, 5}, /*features=*/8, /*classes=*/3, /*seed=*/2);
  CheckGradient({11}, /*features=*/10, /*classes=*/5, /*seed=*/3);
  CheckGradient({}, /*features=*/10, /*classes=*/5, /*seed=*/4);
}

TEST(MlpModelTest, WithoutHiddenLayersItIsSoftmaxRegression) {
  std::mt19937_64 rng(5);
  const Batch batch = RandomBatch(9, 784, 10, rng);
  MlpModel mlp(std::vector<int>{});
  SoftmaxModel softmax;
  Tensors params(softmax), mlp_grads(mlp), softmax_grads(softmax);
  std::normal_distribution<float> normal(0, 0.1f);
  for (std::vector<float>& tensor : params.values) {
    for (float& x : tensor) x = normal(rng);
  }
  absl::StatusOr<BatchStats> a = mlp.LossAndGradient(params.In(), batch.View(), mlp_grads.Out());
  absl::StatusOr<BatchStats> b =
      softmax.LossAndGradient(params.In(), batch.View(), softmax_grads.Out());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NEAR(a->loss, b->loss, 1e-6);
  EXPECT_EQ(a->num_correct, b->num_correct);
  for (size_t t = 0; t < 2; ++t) {
    for (size_t j = 0; j < mlp_grads.values[t].size(); ++j) {
      ASSERT_NEAR(mlp_grads.values[t][j], softmax_grads.values[t][j], 1e-6) << t << " " << j;
    }
  }
}

TEST(MlpModelTest, RejectsBadArguments) {
  std::mt19937_64 rng(6);
  Batch batch = RandomBatch(2, 784, 10, rng);
  MlpModel model;
  Tensors params(model), grads(model);
  const auto code = [](const absl::StatusOr<BatchStats>& s) { return s.status().code(); };
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

  std::vector<absl::Span<const float>> missing = params.In();
  missing.pop_back();
  EXPECT_EQ(code(model.Loss(missing, batch.View())), kInvalid);
  std::vector<absl::Span<const float>> short_tensor = params.In();
  short_tensor[2].remove_suffix(1);
  absl::StatusOr<BatchStats> bad_size = model.Loss(short_tensor, batch.View());
  EXPECT_EQ(code(bad_size), kInvalid);
  EXPECT_THAT(bad_size.status().message(), ::testing::HasSubstr("layer2/weight"));
  EXPECT_EQ(code(model.LossAndGradient(params.In(), batch.View(), {})), kInvalid);
  EXPECT_EQ(code(model.Loss(params.In(), ExampleBatch{})), kInvalid);
  batch.labels[0] = 10;
  EXPECT_EQ(code(model.Loss(params.In(), batch.View())), kInvalid);
}

// The worker's defaults (worker_main.cc): 784-256-128-10, batch 64, Adam
// with lr 1e-3, weights from the servers' initializer.
TEST(LocalTrainingTest, OneEpochOfAdamReachesEightyThreePercent) {
  const std::string dir = testing::FashionMnistDirOrEmpty();
  if (dir.empty()) GTEST_SKIP() << "no Fashion-MNIST data set (dataset-fashion-mnist)";
  AdamConfig adam;
  adam.lr = 1e-3;
  absl::StatusOr<testing::LocalEpoch> epoch =
      testing::TrainOneEpochLocally(MlpModel(), dir, /*batch_size=*/64, adam);
  ASSERT_TRUE(epoch.ok()) << epoch.status();
  std::printf("local Adam MLP, 1 epoch (%llu steps): test_accuracy=%.4f test_loss=%.4f\n",
              static_cast<unsigned long long>(epoch->steps), epoch->test.accuracy(),
              epoch->test.loss);
  EXPECT_GE(epoch->test.accuracy(), 0.83);
}

}  // namespace
}  // namespace training
}  // namespace adamasync
