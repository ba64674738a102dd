#include "kernels/adam_scalars.h"

#include <cmath>

namespace adamasync {
namespace kernels {

AdamScalars MakeAdamScalars(const AdamConfig& adam, uint64_t step, double lr_scale) {
  const double lr = adam.lr * lr_scale;
  const double t = static_cast<double>(step);
  // Python: bias_correction1 = 1 - beta1 ** step, in double.
  const double bc1 = 1.0 - std::pow(adam.beta1, t);
  const double bc2 = 1.0 - std::pow(adam.beta2, t);
  AdamScalars s;
  s.decoupled = adam.algorithm == Algorithm::kAdamW;
  s.amsgrad = adam.amsgrad;
  s.maximize = adam.maximize;
  if (s.decoupled) {
    s.decay_factor = static_cast<float>(1.0 - lr * adam.weight_decay);
  } else {
    s.l2_weight_decay = static_cast<float>(adam.weight_decay);
  }
  s.beta1_weight = static_cast<float>(1.0 - adam.beta1);
  s.beta2 = static_cast<float>(adam.beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - adam.beta2);
  s.step_size = static_cast<float>(lr / bc1);
  s.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  s.eps = static_cast<float>(adam.eps);
  return s;
}

}  // namespace kernels
}  // namespace adamasync
