// The Adam configurations every kernel test runs, and the random inputs they
// use, shared by the CPU and CUDA kernel tests.
#ifndef ADAMASYNC_TESTS_KERNELS_ADAM_TEST_VARIANTS_H_
#define ADAMASYNC_TESTS_KERNELS_ADAM_TEST_VARIANTS_H_

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "adamasync/table_spec.h"

namespace adamasync {
namespace testing_util {

struct AdamVariant {
  std::string name;
  AdamConfig config;
};

// Every switch of the update (L2 vs decoupled decay, decay 0 or not,
// AMSGrad, maximize) alone and combined, and beta1 values whose lerp weight
// 1 - beta1 takes ATen's other lerp branch (>= 0.5, including exactly 0.5
// and 1).
inline std::vector<AdamVariant> AllAdamVariants() {
  auto make = [](Algorithm algorithm, double lr, double beta1, double beta2, double wd,
                 bool amsgrad, bool maximize) {
    AdamConfig c;
    c.algorithm = algorithm;
    c.lr = lr;
    c.beta1 = beta1;
    c.beta2 = beta2;
    c.weight_decay = wd;
    c.amsgrad = amsgrad;
    c.maximize = maximize;
    return c;
  };
  const Algorithm kAdam = Algorithm::kAdam, kAdamW = Algorithm::kAdamW;
  return {
      {"adam", make(kAdam, 1e-3, 0.9, 0.999, 0, false, false)},
      {"adam_l2", make(kAdam, 1e-2, 0.9, 0.999, 1e-2, false, false)},
      {"adamw", make(kAdamW, 1e-3, 0.9, 0.999, 1e-2, false, false)},
      {"adamw_wd0", make(kAdamW, 1e-3, 0.9, 0.999, 0, false, false)},
      {"amsgrad", make(kAdam, 1e-3, 0.9, 0.999, 0, true, false)},
      {"maximize", make(kAdam, 1e-3, 0.9, 0.999, 0, false, true)},
      {"adam_l2_amsgrad_maximize", make(kAdam, 1e-3, 0.9, 0.999, 1e-1, true, true)},
      {"adamw_amsgrad_maximize", make(kAdamW, 1e-2, 0.9, 0.999, 1e-2, true, true)},
      {"beta1_0.3", make(kAdam, 1e-3, 0.3, 0.99, 0, false, false)},
      {"beta1_0.3_adamw_amsgrad", make(kAdamW, 1e-3, 0.3, 0.99, 5e-2, true, false)},
      {"beta1_0.5", make(kAdam, 1e-3, 0.5, 0.9, 1e-3, false, false)},
      {"beta1_0", make(kAdamW, 1e-3, 0.0, 0.999, 1e-2, false, true)},
  };
}

// Random gradients with magnitudes over four decades and some exact zeros.
inline std::vector<float> RandomGradient(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> decade(-3.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> g(n);
  for (float& x : g) {
    const float scale = std::pow(10.0f, decade(rng));
    x = unit(rng) < 0.05f ? 0.0f : normal(rng) * scale;
  }
  return g;
}

// Random parameters around unit scale.
inline std::vector<float> RandomParams(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> p(n);
  for (float& x : p) x = normal(rng);
  return p;
}

}  // namespace testing_util
}  // namespace adamasync

#endif  // ADAMASYNC_TESTS_KERNELS_ADAM_TEST_VARIANTS_H_
