// Tests of kernels/adam_scalars.h: the fp32 constants of a step are the
// double-precision Python expressions of torch/optim/adam.py, rounded once.
#include "kernels/adam_scalars.h"

#include <gtest/gtest.h>

#include <cmath>

namespace adamasync {
namespace kernels {
namespace {

TEST(AdamScalarsTest, AdamDefaultsAtStepOne) {
  const AdamScalars s = MakeAdamScalars(AdamConfig(), 1);
  EXPECT_FALSE(s.decoupled);
  EXPECT_FALSE(s.amsgrad);
  EXPECT_FALSE(s.maximize);
  EXPECT_EQ(s.l2_weight_decay, 0.0f);
  EXPECT_EQ(s.decay_factor, 1.0f);
  EXPECT_EQ(s.beta1_weight, static_cast<float>(1.0 - 0.9));
  EXPECT_EQ(s.beta2, 0.999f);
  EXPECT_EQ(s.one_minus_beta2, static_cast<float>(1.0 - 0.999));
  // bc1 = 1 - 0.9 (in double), step_size = 1e-3 / bc1.
  EXPECT_EQ(s.step_size, static_cast<float>(1e-3 / (1.0 - 0.9)));
  EXPECT_EQ(s.bc2_sqrt, static_cast<float>(std::sqrt(1.0 - 0.999)));
  EXPECT_EQ(s.eps, 1e-8f);
}

TEST(AdamScalarsTest, BiasCorrectionsAreComputedInDouble) {
  AdamConfig config;
  config.lr = 3e-4;
  config.beta1 = 0.95;
  config.beta2 = 0.9999;
  for (uint64_t t : {uint64_t{1}, uint64_t{2}, uint64_t{10}, uint64_t{1000}, uint64_t{1000000}}) {
    const AdamScalars s = MakeAdamScalars(config, t);
    const double bc1 = 1.0 - std::pow(0.95, static_cast<double>(t));
    const double bc2 = 1.0 - std::pow(0.9999, static_cast<double>(t));
    EXPECT_EQ(s.step_size, static_cast<float>(3e-4 / bc1)) << "t=" << t;
    EXPECT_EQ(s.bc2_sqrt, static_cast<float>(std::sqrt(bc2))) << "t=" << t;
  }
  // Far along, the corrections vanish.
  const AdamScalars late = MakeAdamScalars(config, uint64_t{1} << 40);
  EXPECT_EQ(late.step_size, 3e-4f);
  EXPECT_EQ(late.bc2_sqrt, 1.0f);
}

TEST(AdamScalarsTest, L2AndDecoupledWeightDecay) {
  AdamConfig adam;
  adam.lr = 1e-2;
  adam.weight_decay = 1e-2;
  const AdamScalars l2 = MakeAdamScalars(adam, 3);
  EXPECT_FALSE(l2.decoupled);
  EXPECT_EQ(l2.l2_weight_decay, 1e-2f);
  EXPECT_EQ(l2.decay_factor, 1.0f);

  AdamConfig adamw = adam;
  adamw.algorithm = Algorithm::kAdamW;
  const AdamScalars w = MakeAdamScalars(adamw, 3);
  EXPECT_TRUE(w.decoupled);
  EXPECT_EQ(w.l2_weight_decay, 0.0f);
  // Python: 1 - lr * weight_decay, in double, then rounded by the fp32 op.
  EXPECT_EQ(w.decay_factor, static_cast<float>(1.0 - 1e-2 * 1e-2));

  adamw.weight_decay = 0;
  EXPECT_EQ(MakeAdamScalars(adamw, 3).decay_factor, 1.0f);
}

TEST(AdamScalarsTest, LearningRateScaleMultipliesTheRate) {
  AdamConfig config;
  config.algorithm = Algorithm::kAdamW;
  config.lr = 1e-3;
  config.weight_decay = 0.1;
  const AdamScalars s = MakeAdamScalars(config, 5, 0.25);
  const double lr = 1e-3 * 0.25;
  EXPECT_EQ(s.step_size, static_cast<float>(lr / (1.0 - std::pow(0.9, 5.0))));
  EXPECT_EQ(s.decay_factor, static_cast<float>(1.0 - lr * 0.1));
}

TEST(AdamScalarsTest, FlagsPassThrough) {
  AdamConfig config;
  config.amsgrad = true;
  config.maximize = true;
  const AdamScalars s = MakeAdamScalars(config, 1);
  EXPECT_TRUE(s.amsgrad);
  EXPECT_TRUE(s.maximize);
}

}  // namespace
}  // namespace kernels
}  // namespace adamasync
