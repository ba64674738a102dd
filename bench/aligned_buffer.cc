#include "bench/aligned_buffer.h"

#include <algorithm>
#include <new>

namespace adamasync {
namespace bench {

template <typename T>
AlignedBuffer<T>::AlignedBuffer(size_t n, T fill) : size_(n) {
  // aligned_alloc wants a size that is a multiple of the alignment.
  const size_t bytes =
      std::max<size_t>(kAlignment, (n * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment);
  data_.reset(static_cast<T*>(std::aligned_alloc(kAlignment, bytes)));
  if (!data_) throw std::bad_alloc();
  // Writing every element faults every page in now, not inside a timed loop.
  std::fill(data_.get(), data_.get() + n, fill);
}

template class AlignedBuffer<float>;
template class AlignedBuffer<double>;

}  // namespace bench
}  // namespace adamasync
