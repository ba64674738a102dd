// A heap array for timing loops: 64-byte (cache-line) aligned and touched
// page by page when it is made, so that no timed repetition pays for
// first-touch page faults. On the project's VMs a fresh allocation over
// ~32 MB faults in at a fraction of memory bandwidth (TOOLCHAIN.md), so
// benchmarks allocate once, outside the timed region, and reuse the buffer.
//
// Instantiated for float and double (aligned_buffer.cc).
#ifndef ADAMASYNC_BENCH_ALIGNED_BUFFER_H_
#define ADAMASYNC_BENCH_ALIGNED_BUFFER_H_

#include <cstddef>
#include <cstdlib>
#include <memory>

namespace adamasync {
namespace bench {

template <typename T>
class AlignedBuffer {
 public:
  static constexpr size_t kAlignment = 64;

  // `n` elements, every one set to `fill`. Throws std::bad_alloc when the
  // memory is not there: a benchmark cannot do anything useful without it.
  AlignedBuffer(size_t n, T fill);

  AlignedBuffer(AlignedBuffer&&) = default;
  AlignedBuffer& operator=(AlignedBuffer&&) = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(T); }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T[], Free> data_;
  size_t size_ = 0;
};

using AlignedFloats = AlignedBuffer<float>;
using AlignedDoubles = AlignedBuffer<double>;

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_ALIGNED_BUFFER_H_
