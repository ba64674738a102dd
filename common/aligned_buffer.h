// A fixed-size array on a 64-byte boundary (one cache line, one AVX-512
// vector), for parameters, optimizer state and benchmark buffers. Every
// element is written at construction (zero, or `fill`), so all its pages are
// faulted in up front rather than inside a hot or timed loop.
#ifndef ADAMASYNC_COMMON_ALIGNED_BUFFER_H_
#define ADAMASYNC_COMMON_ALIGNED_BUFFER_H_

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace adamasync {

template <typename T>
class AlignedBuffer {
 public:
  static constexpr size_t kAlignment = 64;

  AlignedBuffer() = default;
  // Throws std::bad_alloc like `new` when memory is exhausted; callers that
  // admit untrusted sizes check them against a quota first.
  explicit AlignedBuffer(size_t n, T fill = T()) : size_(n) {
    if (n == 0) return;
    const size_t bytes = (n * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
    void* raw = std::aligned_alloc(kAlignment, bytes);
    if (raw == nullptr) throw std::bad_alloc();
    data_.reset(static_cast<T*>(raw));
    std::fill(data_.get(), data_.get() + n, fill);
  }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(T); }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  size_t size_ = 0;
};

using AlignedFloats = AlignedBuffer<float>;
using AlignedDoubles = AlignedBuffer<double>;

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_ALIGNED_BUFFER_H_
