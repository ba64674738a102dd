// Tests of common/initializer.h: an element's initial value depends only on
// (initializer, global index), never on how the table is split; the
// distributions have the promised range and moments.
#include "common/initializer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace adamasync {
namespace {

std::vector<float> Fill(const Initializer& init, uint64_t first, size_t n) {
  std::vector<float> out(n, -12345.0f);
  FillInitialValues(init, first, absl::MakeSpan(out));
  return out;
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

const std::vector<Initializer>& AllKinds() {
  static const std::vector<Initializer> inits = {Initializer::Zeros(), Initializer::Constant(0.375),
                                                 Initializer::Uniform(-0.05, 0.05, 7),
                                                 Initializer::Normal(0.5, 0.02, 11)};
  return inits;
}

TEST(InitializerTest, ValuesDoNotDependOnTheSplit) {
  constexpr size_t kN = 10'007;
  for (const Initializer& init : AllKinds()) {
    SCOPED_TRACE(static_cast<int>(init.kind));
    const std::vector<float> whole = Fill(init, 0, kN);
    // Split at many points, including pieces of one element.
    for (size_t piece : {size_t{1}, size_t{7}, size_t{1024}, size_t{3333}, kN}) {
      std::vector<float> pieced(kN);
      for (size_t begin = 0; begin < kN; begin += piece) {
        const size_t len = std::min(piece, kN - begin);
        FillInitialValues(init, begin, absl::MakeSpan(pieced.data() + begin, len));
      }
      EXPECT_TRUE(BitEqual(whole, pieced)) << "pieces of " << piece;
    }
    // A window far into a large table equals the same window of a fill
    // that starts earlier.
    const uint64_t far = (uint64_t{1} << 39) + 5;
    const std::vector<float> a = Fill(init, far, 100);
    const std::vector<float> b = Fill(init, far - 50, 150);
    EXPECT_TRUE(BitEqual(a, std::vector<float>(b.begin() + 50, b.end())));
  }
}

TEST(InitializerTest, EmptySpanIsANoOp) {
  FillInitialValues(Initializer::Normal(0, 1, 1), 123, absl::Span<float>());
}

TEST(InitializerTest, ZerosAndConstant) {
  for (float x : Fill(Initializer::Zeros(), 99, 1000)) ASSERT_EQ(x, 0.0f);
  for (float x : Fill(Initializer::Constant(-2.5), 99, 1000)) ASSERT_EQ(x, -2.5f);
}

TEST(InitializerTest, UniformStaysInRangeAndCoversIt) {
  constexpr size_t kN = 100'000;
  const std::vector<float> x = Fill(Initializer::Uniform(-0.05, 0.15, 3), 0, kN);
  double sum = 0;
  float lo = x[0], hi = x[0];
  for (float v : x) {
    ASSERT_GE(v, -0.05f);
    ASSERT_LE(v, 0.15f);
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  // Mean 0.05, stddev of the mean 0.2/sqrt(12 * 1e5) ~ 1.8e-4.
  EXPECT_NEAR(sum / kN, 0.05, 2e-3);
  EXPECT_LT(lo, -0.049f);
  EXPECT_GT(hi, 0.149f);
  // Ten equal bins each hold about a tenth.
  std::vector<int> bins(10, 0);
  for (float v : x) bins[std::min(9, static_cast<int>((v + 0.05) / 0.02))]++;
  for (int b = 0; b < 10; ++b) EXPECT_NEAR(bins[b], kN / 10, kN / 100) << "bin " << b;
}

TEST(InitializerTest, NormalHasRoughlyTheRightMoments) {
  constexpr size_t kN = 100'000;
  const double mean = 1.5, stddev = 0.02;
  const std::vector<float> x = Fill(Initializer::Normal(mean, stddev, 5), 1000, kN);
  double sum = 0, sum_sq = 0;
  size_t within_one_sigma = 0;
  for (float v : x) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    if (std::abs(v - mean) < stddev) ++within_one_sigma;
  }
  const double m = sum / kN;
  for (float v : x) sum_sq += (v - m) * (v - m);
  const double s = std::sqrt(sum_sq / (kN - 1));
  // Loose bounds: the standard error of the mean is 6e-5, of the stddev 4.5e-5.
  EXPECT_NEAR(m, mean, 5 * stddev / std::sqrt(kN) + 1e-6);
  EXPECT_NEAR(s, stddev, 0.02 * stddev);
  EXPECT_NEAR(static_cast<double>(within_one_sigma) / kN, 0.6827, 0.01);
}

TEST(InitializerTest, NormalWithZeroStddevIsTheMean) {
  for (float v : Fill(Initializer::Normal(0.25, 0, 9), 0, 1000)) ASSERT_EQ(v, 0.25f);
}

TEST(InitializerTest, SeedsGiveDifferentValues) {
  for (auto make : {+[](uint64_t seed) { return Initializer::Uniform(-1, 1, seed); },
                    +[](uint64_t seed) { return Initializer::Normal(0, 1, seed); }}) {
    const std::vector<float> a = Fill(make(1), 0, 1000);
    const std::vector<float> b = Fill(make(2), 0, 1000);
    size_t same = 0;
    for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
    EXPECT_LT(same, 5u);
    // The same seed gives the same values.
    EXPECT_TRUE(BitEqual(a, Fill(make(1), 0, 1000)));
  }
}

TEST(InitializerTest, NeighbouringElementsAreUncorrelated) {
  constexpr size_t kN = 100'000;
  const std::vector<float> x = Fill(Initializer::Normal(0, 1, 77), 0, kN);
  double lag1 = 0, var = 0;
  for (size_t i = 0; i + 1 < kN; ++i) lag1 += static_cast<double>(x[i]) * x[i + 1];
  for (float v : x) var += static_cast<double>(v) * v;
  // The lag-1 autocorrelation of independent samples is ~N(0, 1/sqrt(kN)).
  EXPECT_LT(std::abs(lag1 / var), 0.02);
}

}  // namespace
}  // namespace adamasync
