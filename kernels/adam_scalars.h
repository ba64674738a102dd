// Host-side derivation of one step's fp32 constants from a table's
// hyper-parameters, with the bias corrections computed in double.
#ifndef ADAMASYNC_KERNELS_ADAM_SCALARS_H_
#define ADAMASYNC_KERNELS_ADAM_SCALARS_H_

#include <cstdint>

#include "adamasync/table_spec.h"
#include "kernels/adam_math.h"

namespace adamasync {
namespace kernels {

// The constants of step `step` (1 for the first update). `lr_scale`
// multiplies the learning rate (1 for plain Adam; < 1 for staleness-scaled
// steps). REQUIRES: step >= 1, ValidateAdamConfig(adam).ok(), lr_scale > 0.
AdamScalars MakeAdamScalars(const AdamConfig& adam, uint64_t step, double lr_scale = 1.0);

}  // namespace kernels
}  // namespace adamasync

#endif  // ADAMASYNC_KERNELS_ADAM_SCALARS_H_
