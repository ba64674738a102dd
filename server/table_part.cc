#include "server/table_part.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/initializer.h"
#include "common/status_macros.h"
#include "kernels/adam_cpu.h"
#include "kernels/adam_scalars.h"

namespace adamasync {
namespace {

absl::Status NonFiniteError(absl::Span<const float> grad, uint64_t offset) {
  for (size_t i = 0; i < grad.size(); ++i) {
    if (!std::isfinite(grad[i])) {
      return absl::InvalidArgumentError(absl::StrCat("gradient element ", offset + i, " is ",
                                                     std::isnan(grad[i]) ? "NaN" : "Inf",
                                                     "; nothing was applied"));
    }
  }
  return absl::OkStatus();
}

void AtomicMax(std::atomic<uint64_t>& target, uint64_t value) {
  uint64_t seen = target.load(std::memory_order_relaxed);
  while (value > seen && !target.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

TablePart::TablePart(const TableSpec& spec, ElementRange range)
    : spec_(spec),
      range_(range),
      p_(range.size()),
      m_(range.size()),
      v_(range.size()),
      vmax_(spec.adam.amsgrad ? range.size() : 0),
      segments_(new Segment[SegmentCount()]) {
  FillInitialValues(spec_.init, range_.begin, absl::MakeSpan(p_.data(), p_.size()));
}

uint64_t TablePart::SegmentCount() const {
  return (range_.size() + kSegmentElements - 1) / kSegmentElements;
}

absl::StatusOr<uint64_t> TablePart::Push(uint64_t offset, absl::Span<const float> grad,
                                         uint64_t pulled_version) {
  absl::Status valid = ValidateChunk(range_, offset, grad.size());
  if (valid.ok() && !kernels::AllFinite(grad.data(), grad.size())) {
    valid = NonFiniteError(grad, offset);
  }
  if (!valid.ok()) {
    CountRejectedPush();
    return valid;
  }
  const uint64_t local = offset - range_.begin;
  const uint64_t first_segment = local / kSegmentElements;
  const uint64_t end = local + grad.size();
  uint64_t min_version = UINT64_MAX;
  uint64_t staleness = 0;
  for (uint64_t seg = first_segment; seg * kSegmentElements < end; ++seg) {
    const uint64_t begin = seg * kSegmentElements;
    const uint64_t n = std::min(end, begin + kSegmentElements) - begin;
    Segment& segment = segments_[seg];
    absl::MutexLock lock(&segment.mu);
    const uint64_t before = segment.step.load(std::memory_order_relaxed);
    if (seg == first_segment && before > pulled_version) staleness = before - pulled_version;
    const kernels::AdamScalars scalars = kernels::MakeAdamScalars(spec_.adam, before + 1);
    kernels::AdamSpan state{p_.data() + begin, m_.data() + begin, v_.data() + begin,
                            spec_.adam.amsgrad ? vmax_.data() + begin : nullptr};
    kernels::AdamCpu(scalars, grad.data() + (begin - local), state, n);
    segment.step.store(before + 1, std::memory_order_release);
    min_version = std::min(min_version, before + 1);
  }
  pushes_.fetch_add(1, std::memory_order_relaxed);
  bytes_pushed_.fetch_add(grad.size() * sizeof(float), std::memory_order_relaxed);
  staleness_sum_.fetch_add(staleness, std::memory_order_relaxed);
  AtomicMax(staleness_max_, staleness);
  return min_version;
}

absl::StatusOr<uint64_t> TablePart::Pull(uint64_t offset, uint64_t length, char* out) {
  RETURN_IF_ERROR(ValidateChunk(range_, offset, length));
  const uint64_t local = offset - range_.begin;
  const uint64_t end = local + length;
  uint64_t min_version = UINT64_MAX;
  for (uint64_t seg = local / kSegmentElements; seg * kSegmentElements < end; ++seg) {
    const uint64_t begin = seg * kSegmentElements;
    const uint64_t n = std::min(end, begin + kSegmentElements) - begin;
    Segment& segment = segments_[seg];
    absl::ReaderMutexLock lock(&segment.mu);
    std::memcpy(out + (begin - local) * sizeof(float), p_.data() + begin, n * sizeof(float));
    min_version = std::min(min_version, segment.step.load(std::memory_order_relaxed));
  }
  pulls_.fetch_add(1, std::memory_order_relaxed);
  bytes_pulled_.fetch_add(length * sizeof(float), std::memory_order_relaxed);
  return min_version;
}

uint64_t TablePart::Version() const {
  const uint64_t count = SegmentCount();
  if (count == 0) return 0;
  uint64_t version = UINT64_MAX;
  for (uint64_t s = 0; s < count; ++s) {
    version = std::min(version, segments_[s].step.load(std::memory_order_acquire));
  }
  return version;
}

TablePartSnapshot TablePart::Snapshot() const {
  TablePartSnapshot snap;
  snap.p.resize(p_.size());
  snap.m.resize(m_.size());
  snap.v.resize(v_.size());
  snap.vmax.resize(vmax_.size());
  const uint64_t count = SegmentCount();
  snap.segment_steps.resize(count);
  for (uint64_t seg = 0; seg < count; ++seg) {
    const uint64_t begin = seg * kSegmentElements;
    const uint64_t n = std::min<uint64_t>(range_.size(), begin + kSegmentElements) - begin;
    absl::ReaderMutexLock lock(&segments_[seg].mu);
    std::copy_n(p_.data() + begin, n, snap.p.data() + begin);
    std::copy_n(m_.data() + begin, n, snap.m.data() + begin);
    std::copy_n(v_.data() + begin, n, snap.v.data() + begin);
    if (!snap.vmax.empty()) std::copy_n(vmax_.data() + begin, n, snap.vmax.data() + begin);
    snap.segment_steps[seg] = segments_[seg].step.load(std::memory_order_relaxed);
  }
  return snap;
}

uint64_t TablePart::StateBytes() const {
  return (p_.size() + m_.size() + v_.size() + vmax_.size()) * sizeof(float);
}

TableStats TablePart::Stats() const {
  TableStats stats;
  stats.name = spec_.name;
  stats.num_elements = spec_.num_elements;
  stats.part_begin = range_.begin;
  stats.part_end = range_.end;
  stats.version = Version();
  stats.pushes = pushes_.load(std::memory_order_relaxed);
  stats.pulls = pulls_.load(std::memory_order_relaxed);
  stats.rejected_pushes = rejected_pushes_.load(std::memory_order_relaxed);
  stats.bytes_pushed = bytes_pushed_.load(std::memory_order_relaxed);
  stats.bytes_pulled = bytes_pulled_.load(std::memory_order_relaxed);
  stats.state_bytes = StateBytes();
  stats.staleness_sum = staleness_sum_.load(std::memory_order_relaxed);
  stats.staleness_max = staleness_max_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace adamasync
