// A host-memory stand-in for the CUDA side of kernels/ (cuda_device.h,
// device_buffer.h, AdamCudaAsync of adam_cuda.h), so that code written
// against those interfaces (server/cuda_part_state.cc) runs and is checked
// on a machine without a GPU. Linked instead of the real implementations,
// never together with them.
//
// It keeps the rules a GPU would enforce and that such code could break
// unnoticed on the host:
// * work is asynchronous: a copy, fill or kernel only records what to do,
//   and runs when its stream is synchronised, reading its inputs then (so
//   reusing a staging buffer before synchronising gives wrong results);
// * device pointers must lie inside a live DeviceBuffer, and the host side
//   of an async copy inside a live PinnedHostBuffer (pageable copies are
//   counted, not refused, as CUDA allows them);
// * a failure can be injected into the n-th enqueued operation: its
//   stream's Synchronize then fails like a sticky kernel fault.
#ifndef ADAMASYNC_TESTS_TESTING_FAKE_CUDA_RUNTIME_H_
#define ADAMASYNC_TESTS_TESTING_FAKE_CUDA_RUNTIME_H_

#include <cstdint>

namespace adamasync {
namespace fake_cuda {

// Forgets injected failures and zeroes the counters (buffers stay).
void Reset();
// The `n`-th operation enqueued from now on (1 = the next) fails when its
// stream is synchronised, and every later operation fails too (sticky).
void FailOperation(uint64_t n);
// Operations enqueued since Reset.
uint64_t Operations();
// Async copies whose host side was not pinned memory, since Reset.
uint64_t PageableCopies();
// Device and pinned buffers alive now.
int LiveDeviceBuffers();
int LivePinnedBuffers();

}  // namespace fake_cuda
}  // namespace adamasync

#endif  // ADAMASYNC_TESTS_TESTING_FAKE_CUDA_RUNTIME_H_
