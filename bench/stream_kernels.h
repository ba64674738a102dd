// Memory-bandwidth reference loops for the kernel benchmark: a STREAM triad
// and a memcpy copy, split over threads exactly as AdamCpuParallel splits
// Adam (contiguous pieces on 64-byte boundaries, at least
// `min_elements_per_thread` each, one new std::thread per extra piece per
// call, the caller running the first piece), so that Adam's effective
// bandwidth is compared with loops that pay the same threading overhead.
//
// Both work on doubles and count bytes as STREAM does: the triad 24 bytes
// per element (two 8-byte reads, one write), the copy 16 (one read, one
// write). Neither counts the read-for-ownership a cached store costs, so a
// kernel that rewrites what it read (as Adam does) can exceed them.
// The triad is vectorised with Highway and dispatched to the same SIMD
// target as AdamCpu; the copy is glibc memcpy (which switches to
// non-temporal stores for large sizes).
//
// Thread safety: every function may be called from any thread; concurrent
// calls must not write overlapping memory.
#ifndef ADAMASYNC_BENCH_STREAM_KERNELS_H_
#define ADAMASYNC_BENCH_STREAM_KERNELS_H_

#include <cstddef>
#include <functional>

namespace adamasync {
namespace bench {

// AdamCpuParallel's default minimum piece size.
inline constexpr size_t kMinElementsPerThread = 256 * 1024;

// Calls fn(begin, end) for contiguous pieces that tile [0, n), as
// AdamCpuParallel cuts them, and returns when all have finished.
void ForEachPiece(size_t n, int num_threads, const std::function<void(size_t, size_t)>& fn,
                  size_t min_elements_per_thread = kMinElementsPerThread);

// Bytes STREAM counts per element of each loop.
inline constexpr double kTriadBytesPerElement = 24;
inline constexpr double kCopyBytesPerElement = 16;

// STREAM triad a[i] = b[i] + scalar * c[i] for i in [0, n).
void TriadParallel(double* a, const double* b, const double* c, double scalar, size_t n,
                   int num_threads);

// dst[i] = src[i] for i in [0, n), with memcpy per piece.
void CopyParallel(double* dst, const double* src, size_t n, int num_threads);

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_STREAM_KERNELS_H_
