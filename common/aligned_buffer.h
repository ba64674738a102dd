// A fixed-size, zero-initialised array of floats on a 64-byte boundary (one
// cache line, one AVX-512 vector), for parameters and optimizer state.
#ifndef ADAMASYNC_COMMON_ALIGNED_BUFFER_H_
#define ADAMASYNC_COMMON_ALIGNED_BUFFER_H_

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace adamasync {

class AlignedFloats {
 public:
  static constexpr size_t kAlignment = 64;

  AlignedFloats() = default;
  // Throws std::bad_alloc like `new` when memory is exhausted; callers that
  // admit untrusted sizes check them against a quota first.
  explicit AlignedFloats(size_t n) : size_(n) {
    if (n == 0) return;
    const size_t bytes = (n * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
    void* raw = std::aligned_alloc(kAlignment, bytes);
    if (raw == nullptr) throw std::bad_alloc();
    std::memset(raw, 0, bytes);
    data_.reset(static_cast<float*>(raw));
  }

  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  size_t size_ = 0;
};

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_ALIGNED_BUFFER_H_
