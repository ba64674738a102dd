#include "common/initializer.h"

#include <cmath>

namespace adamasync {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A double in [0, 1) from 53 random bits.
double Unit(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

}  // namespace

void FillInitialValues(const Initializer& init, uint64_t first, absl::Span<float> out) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  for (size_t k = 0; k < out.size(); ++k) {
    const uint64_t i = first + k;
    double value = 0;
    switch (init.kind) {
      case Initializer::Kind::kZeros:
        break;
      case Initializer::Kind::kConstant:
        value = init.a;
        break;
      case Initializer::Kind::kUniform:
        value = init.a + (init.b - init.a) * Unit(SplitMix64(init.seed ^ SplitMix64(i)));
        break;
      case Initializer::Kind::kNormal: {
        // Box-Muller on two independent streams of the same element.
        const uint64_t key = SplitMix64(init.seed ^ SplitMix64(i));
        const double u1 = 1.0 - Unit(SplitMix64(key));  // (0, 1]: log is finite
        const double u2 = Unit(SplitMix64(key + 1));
        value = init.a + init.b * std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
        break;
      }
    }
    out[k] = static_cast<float>(value);
  }
}

}  // namespace adamasync
