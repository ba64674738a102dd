// PartState: where a TablePart's parameters and Adam state (p, m, v and,
// for AMSGrad, vmax) live, and the only code that touches them. TablePart
// keeps the locks, step counts, dedupe and sync rounds; a PartState only
// stores and steps. Two kinds: host memory (this file) and CUDA device
// memory (server/cuda_part_state.h), chosen per server by a StateBackend
// (--device, server/state_backend.h).
//
// Offsets are local: element 0 is the part's first element. Every span
// passed in is host memory.
//
// Thread safety: calls on disjoint element ranges may run concurrently;
// calls on overlapping ranges must be serialised by the caller (TablePart
// holds the segment locks).
#ifndef ADAMASYNC_SERVER_PART_STATE_H_
#define ADAMASYNC_SERVER_PART_STATE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adamasync/table_spec.h"
#include "common/sharding.h"
#include "kernels/adam_cpu.h"
#include "kernels/adam_math.h"

namespace adamasync {

// Host arrays of one slice of the state (vmax null unless AMSGrad).
using StateSlice = kernels::AdamSpan;
struct ConstStateSlice {
  const float* p = nullptr;
  const float* m = nullptr;
  const float* v = nullptr;
  const float* vmax = nullptr;
};

class PartState {
 public:
  virtual ~PartState() = default;

  // Elements held.
  virtual uint64_t size() const = 0;
  // Bytes of p, m, v (and vmax) held.
  virtual uint64_t bytes() const = 0;

  // One Adam step on elements [begin, begin + n) with host gradient `grad`
  // (n floats). On an error the range may be partly updated: the caller
  // treats the state as lost (a device failure).
  virtual absl::Status Step(const kernels::AdamScalars& s, uint64_t begin, uint64_t n,
                            const float* grad) = 0;

  // Copies parameters [begin, begin + n) to `out` (n little-endian fp32,
  // any alignment) / from `values`.
  virtual absl::Status ReadParameters(uint64_t begin, uint64_t n, void* out) const = 0;
  virtual absl::Status WriteParameters(uint64_t begin, uint64_t n, const float* values) = 0;

  // Copies the whole state of [begin, begin + n) out / in (for checkpoints).
  // `vmax` is used exactly when the table has AMSGrad.
  virtual absl::Status ReadState(uint64_t begin, uint64_t n, StateSlice out) const = 0;
  virtual absl::Status WriteState(uint64_t begin, uint64_t n, ConstStateSlice in) = 0;
};

// Where a shard's table state is allocated. One per server.
class StateBackend {
 public:
  virtual ~StateBackend() = default;

  // What the server logs at start, e.g. "cpu (AVX3)" or
  // "cuda:0 (NVIDIA H100 80GB HBM3)".
  virtual std::string Describe() const = 0;

  // The state of part `range` of `spec`: p from spec.init, m, v, vmax zero.
  // RESOURCE_EXHAUSTED when the memory is not there.
  virtual absl::StatusOr<std::unique_ptr<PartState>> Allocate(const TableSpec& spec,
                                                              ElementRange range) = 0;

  // OK, or the first error of the device (a failed copy or kernel). Once
  // not OK it stays so: the server stops serving (its state can no longer
  // be trusted) and must be restarted from its checkpoint.
  virtual absl::Status Health() const = 0;
};

// The state in host memory (64-byte-aligned arrays), stepped with the
// Highway kernel. Never fails after allocation.
std::shared_ptr<StateBackend> HostStateBackend();

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_PART_STATE_H_
