// Highway implementation of the triad in stream_kernels.h. This file is
// compiled once per SIMD target through foreach_target.h, as
// kernels/adam_cpu.cc is, and HWY_DYNAMIC_DISPATCH picks the same target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench/stream_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format off
#include "hwy/highway.h"
// clang-format on
#include "bench/stream_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace adamasync {
namespace bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void TriadImpl(double* HWY_RESTRICT a, const double* HWY_RESTRICT b, const double* HWY_RESTRICT c,
               double scalar, size_t n) {
  const hn::ScalableTag<double> d;
  const size_t lanes = hn::Lanes(d);
  const auto s = hn::Set(d, scalar);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(hn::MulAdd(s, hn::LoadU(d, c + i), hn::LoadU(d, b + i)), d, a + i);
  }
  for (; i < n; ++i) a[i] = b[i] + scalar * c[i];
}

}  // namespace HWY_NAMESPACE
}  // namespace bench
}  // namespace adamasync
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

namespace adamasync {
namespace bench {

HWY_EXPORT(TriadImpl);

void ForEachPiece(size_t n, int num_threads, const std::function<void(size_t, size_t)>& fn,
                  size_t min_elements_per_thread) {
  // The same rule as AdamCpuParallel (kernels/adam_cpu.cc).
  size_t pieces = std::max<size_t>(1, static_cast<size_t>(std::max(num_threads, 1)));
  pieces = std::min(pieces, std::max<size_t>(1, n / std::max<size_t>(min_elements_per_thread, 1)));
  if (pieces <= 1) {
    fn(0, n);
    return;
  }
  const size_t per_piece = ((n / pieces) + 15) / 16 * 16;
  auto run = [&](size_t begin) {
    const size_t end = std::min(n, begin + per_piece);
    if (begin < end) fn(begin, end);
  };
  std::vector<std::thread> threads;
  threads.reserve(pieces - 1);
  for (size_t k = 1; k < pieces; ++k) threads.emplace_back(run, k * per_piece);
  run(0);
  for (auto& t : threads) t.join();
}

void TriadParallel(double* a, const double* b, const double* c, double scalar, size_t n,
                   int num_threads) {
  ForEachPiece(n, num_threads, [&](size_t begin, size_t end) {
    HWY_DYNAMIC_DISPATCH(TriadImpl)(a + begin, b + begin, c + begin, scalar, end - begin);
  });
}

void CopyParallel(double* dst, const double* src, size_t n, int num_threads) {
  ForEachPiece(n, num_threads, [&](size_t begin, size_t end) {
    std::memcpy(dst + begin, src + begin, (end - begin) * sizeof(double));
  });
}

}  // namespace bench
}  // namespace adamasync
#endif  // HWY_ONCE
