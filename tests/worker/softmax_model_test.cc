// Tests of the softmax regression model: its loss against an independent
// double-precision reference, its gradient against central differences of
// that reference, its argument checks, and a purely local Adam run on the
// real Fashion-MNIST (no server) that must reach 80% test accuracy in one
// epoch with the worker's default hyper-parameters.
#include "worker/softmax_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "tests/testing/local_training.h"

namespace adamasync {
namespace training {
namespace {

constexpr int kFeatures = 784;
constexpr int kClasses = 10;

// Mean cross-entropy of softmax regression, computed naively in double.
double ReferenceLoss(const std::vector<double>& w, const std::vector<double>& b,
                     const Batch& batch) {
  const size_t n = batch.labels.size();
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> z(kClasses);
    double max = -INFINITY;
    for (int c = 0; c < kClasses; ++c) {
      z[c] = b[c];
      for (int f = 0; f < kFeatures; ++f)
        z[c] += w[c * kFeatures + f] * batch.features[i * kFeatures + f];
      max = std::max(max, z[c]);
    }
    double sum = 0;
    for (int c = 0; c < kClasses; ++c) sum += std::exp(z[c] - max);
    total -= z[batch.labels[i]] - max - std::log(sum);
  }
  return total / n;
}

Batch RandomBatch(int n, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> pixel(0, 1);
  std::uniform_int_distribution<int> label(0, kClasses - 1);
  Batch batch;
  for (int i = 0; i < n * kFeatures; ++i) batch.features.push_back(pixel(rng));
  for (int i = 0; i < n; ++i) batch.labels.push_back(static_cast<uint8_t>(label(rng)));
  return batch;
}

struct Tensors {
  std::vector<float> weight = std::vector<float>(kClasses * kFeatures);
  std::vector<float> bias = std::vector<float>(kClasses);

  std::vector<absl::Span<const float>> In() const { return {weight, bias}; }
  std::vector<absl::Span<float>> Out() { return {absl::MakeSpan(weight), absl::MakeSpan(bias)}; }
};

TEST(SoftmaxModelTest, DescribesZeroInitializedWeightAndBias) {
  SoftmaxModel model;
  EXPECT_EQ(model.num_features(), kFeatures);
  EXPECT_EQ(model.num_classes(), kClasses);
  const std::vector<ParamInfo> params = model.Params();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "weight");
  EXPECT_THAT(params[0].shape, ::testing::ElementsAre(kClasses, kFeatures));
  EXPECT_EQ(params[0].num_elements, uint64_t{kClasses * kFeatures});
  EXPECT_EQ(params[0].init, Initializer::Zeros());
  EXPECT_EQ(params[1].name, "bias");
  EXPECT_EQ(params[1].num_elements, uint64_t{kClasses});
  EXPECT_EQ(params[1].init, Initializer::Zeros());
}

TEST(SoftmaxModelTest, ZeroParametersGiveLogTenAndClassFrequencyGradient) {
  std::mt19937_64 rng(1);
  Batch batch = RandomBatch(5, rng);
  batch.labels = {3, 3, 1, 0, 9};
  SoftmaxModel model;
  Tensors params, grads;
  absl::StatusOr<BatchStats> stats = model.LossAndGradient(params.In(), batch.View(), grads.Out());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_NEAR(stats->loss, std::log(10.0), 1e-6);
  EXPECT_EQ(stats->num_examples, 5);
  EXPECT_EQ(stats->num_correct, 1);  // ties go to class 0
  // d loss / d b[c] = 1/10 - (fraction of labels equal to c).
  EXPECT_NEAR(grads.bias[3], 0.1 - 0.4, 1e-6);
  EXPECT_NEAR(grads.bias[2], 0.1, 1e-6);
}

TEST(SoftmaxModelTest, GradientMatchesCentralDifferences) {
  std::mt19937_64 rng(7);
  const Batch batch = RandomBatch(6, rng);
  std::normal_distribution<double> normal(0, 0.05);
  std::vector<double> w(kClasses * kFeatures), b(kClasses);
  Tensors params, grads;
  for (size_t j = 0; j < w.size(); ++j) params.weight[j] = static_cast<float>(w[j] = normal(rng));
  for (int c = 0; c < kClasses; ++c) params.bias[c] = static_cast<float>(b[c] = 20 * normal(rng));
  SoftmaxModel model;
  absl::StatusOr<BatchStats> stats = model.LossAndGradient(params.In(), batch.View(), grads.Out());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_NEAR(stats->loss, ReferenceLoss(w, b, batch), 1e-5);

  // Double-precision central differences of the reference loss.
  constexpr double kH = 1e-5;
  auto check = [&](std::vector<double>& x, const std::vector<float>& analytic, const char* name) {
    double diff2 = 0, norm2 = 0, max_abs = 0;
    for (size_t j = 0; j < x.size(); ++j) {
      const double saved = x[j];
      x[j] = saved + kH;
      const double up = ReferenceLoss(w, b, batch);
      x[j] = saved - kH;
      const double down = ReferenceLoss(w, b, batch);
      x[j] = saved;
      const double numeric = (up - down) / (2 * kH);
      diff2 += (analytic[j] - numeric) * (analytic[j] - numeric);
      norm2 += numeric * numeric;
      max_abs = std::max(max_abs, std::abs(analytic[j] - numeric));
    }
    const double relative = std::sqrt(diff2 / norm2);
    EXPECT_LT(relative, 1e-5) << name;
    EXPECT_LT(max_abs, 1e-6) << name;
    EXPECT_GT(norm2, 1e-4) << name << ": degenerate gradient";
  };
  check(b, grads.bias, "bias");
  check(w, grads.weight, "weight");
}

TEST(SoftmaxModelTest, GradientDescentDecreasesTheLoss) {
  std::mt19937_64 rng(3);
  const Batch batch = RandomBatch(32, rng);
  SoftmaxModel model;
  Tensors params, grads;
  double previous = INFINITY;
  for (int step = 0; step < 20; ++step) {
    absl::StatusOr<BatchStats> stats =
        model.LossAndGradient(params.In(), batch.View(), grads.Out());
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_LT(stats->loss, previous) << "step " << step;
    previous = stats->loss;
    for (size_t j = 0; j < params.weight.size(); ++j) params.weight[j] -= 0.05f * grads.weight[j];
    for (int c = 0; c < kClasses; ++c) params.bias[c] -= 0.05f * grads.bias[c];
  }
  EXPECT_LT(previous, 0.5 * std::log(10.0));
}

TEST(SoftmaxModelTest, RejectsBadArguments) {
  std::mt19937_64 rng(5);
  Batch batch = RandomBatch(2, rng);
  SoftmaxModel model;
  Tensors params, grads;
  const auto code = [](const absl::StatusOr<BatchStats>& s) { return s.status().code(); };
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

  EXPECT_EQ(code(model.Loss({params.In()[0]}, batch.View())), kInvalid);
  std::vector<float> short_bias(kClasses - 1);
  EXPECT_EQ(code(model.Loss({params.weight, short_bias}, batch.View())), kInvalid);
  EXPECT_EQ(code(model.LossAndGradient(params.In(), batch.View(), {})), kInvalid);
  EXPECT_EQ(code(model.Loss(params.In(), ExampleBatch{})), kInvalid);
  ExampleBatch ragged = batch.View();
  ragged.features.remove_suffix(1);
  EXPECT_EQ(code(model.Loss(params.In(), ragged)), kInvalid);
  batch.labels[1] = kClasses;
  absl::StatusOr<BatchStats> bad_label = model.Loss(params.In(), batch.View());
  EXPECT_EQ(code(bad_label), kInvalid);
  EXPECT_THAT(bad_label.status().message(), ::testing::HasSubstr("label 10"));
}

TEST(EvaluateTest, DoesNotDependOnTheBatchSize) {
  std::mt19937_64 rng(11);
  Batch examples = RandomBatch(37, rng);
  Dataset data;
  data.num_examples = 37;
  data.rows = data.cols = 28;
  data.images = examples.features;
  data.labels = examples.labels;
  SoftmaxModel model;
  Tensors params;
  std::normal_distribution<float> normal(0, 0.1f);
  for (float& x : params.weight) x = normal(rng);
  absl::StatusOr<BatchStats> whole = Evaluate(model, params.In(), data, 1000);
  ASSERT_TRUE(whole.ok()) << whole.status();
  absl::StatusOr<BatchStats> pieces = Evaluate(model, params.In(), data, 5);
  ASSERT_TRUE(pieces.ok()) << pieces.status();
  EXPECT_NEAR(whole->loss, pieces->loss, 1e-5);
  EXPECT_EQ(whole->num_correct, pieces->num_correct);
  EXPECT_EQ(whole->num_examples, 37);
  EXPECT_EQ(Evaluate(model, params.In(), data, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Evaluate(model, params.In(), Dataset{}, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The worker's defaults (worker_main.cc): batch 64, Adam with lr 1e-3.
TEST(LocalTrainingTest, OneEpochOfAdamReachesEightyPercent) {
  const std::string dir = testing::FashionMnistDirOrEmpty();
  if (dir.empty()) GTEST_SKIP() << "no Fashion-MNIST data set (dataset-fashion-mnist)";
  AdamConfig adam;
  adam.lr = 1e-3;
  absl::StatusOr<testing::LocalEpoch> epoch =
      testing::TrainOneEpochLocally(SoftmaxModel(), dir, /*batch_size=*/64, adam);
  ASSERT_TRUE(epoch.ok()) << epoch.status();
  std::printf("local Adam, 1 epoch (%llu steps): test_accuracy=%.4f test_loss=%.4f\n",
              static_cast<unsigned long long>(epoch->steps), epoch->test.accuracy(),
              epoch->test.loss);
  EXPECT_GE(epoch->test.accuracy(), 0.80);
}

}  // namespace
}  // namespace training
}  // namespace adamasync
