#include "server/table_part.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"
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

std::unique_ptr<PartState> HostState(const TableSpec& spec, ElementRange range) {
  absl::StatusOr<std::unique_ptr<PartState>> state = HostStateBackend()->Allocate(spec, range);
  if (!state.ok()) throw std::bad_alloc();
  return *std::move(state);
}

}  // namespace

TablePart::TablePart(const TableSpec& spec, ElementRange range)
    : TablePart(spec, range, HostState(spec, range)) {}

TablePart::TablePart(const TableSpec& spec, ElementRange range, std::unique_ptr<PartState> state)
    : spec_(spec), range_(range), state_(std::move(state)), segments_(new Segment[SegmentCount()]) {
  if (synchronous()) {
    for (uint64_t s = 0; s < SegmentCount(); ++s) {
      segments_[s].round = std::make_unique<SyncRound>(
          static_cast<uint64_t>(spec_.consistency.sync_workers), SegmentSize(s));
    }
  }
}

uint64_t TablePart::SegmentCount() const {
  return (range_.size() + kSegmentElements - 1) / kSegmentElements;
}

uint64_t TablePart::SegmentSize(uint64_t segment) const {
  const uint64_t begin = segment * kSegmentElements;
  return std::min<uint64_t>(range_.size(), begin + kSegmentElements) - begin;
}

absl::Status TablePart::Step(uint64_t begin, uint64_t n, const float* grad, uint64_t step,
                             double lr_scale) {
  return state_->Step(kernels::MakeAdamScalars(spec_.adam, step, lr_scale), begin, n, grad);
}

absl::StatusOr<PushResult> TablePart::Push(const PushArgs& args) {
  absl::Status valid = ValidateChunk(range_, args.offset, args.grad.size());
  if (valid.ok() && !kernels::AllFinite(args.grad.data(), args.grad.size())) {
    valid = NonFiniteError(args.grad, args.offset);
  }
  if (valid.ok() && synchronous() && args.worker_id == 0) {
    valid = absl::InvalidArgumentError(absl::StrCat(
        "table '", spec_.name, "' is synchronous (sync_workers=", spec_.consistency.sync_workers,
        "): pushes need a registered worker id"));
  }
  if (!valid.ok()) {
    CountRejectedPush();
    return valid;
  }
  const bool tracked = args.worker_id != 0 && args.seq != 0;
  if (tracked) {
    absl::StatusOr<std::optional<PushOutcome>> claim =
        dedupe_.Begin(args.worker_id, args.offset, args.seq);
    if (!claim.ok()) {
      CountRejectedPush();
      return claim.status();
    }
    if (claim->has_value()) {
      duplicate_pushes_.fetch_add(1, std::memory_order_relaxed);
      const PushOutcome& original = **claim;
      if (!original.status.ok()) return original.status;
      return PushResult{original.version, true, original.staleness, original.lr_scale};
    }
  }
  absl::StatusOr<PushResult> result = synchronous() ? ApplySync(args) : ApplyAsync(args);
  if (tracked) {
    PushOutcome outcome;
    if (result.ok()) {
      outcome.version = result->version;
      outcome.staleness = result->staleness;
      outcome.lr_scale = result->lr_scale;
    } else {
      outcome.status = result.status();
    }
    dedupe_.Finish(args.worker_id, args.offset, args.seq, std::move(outcome));
  }
  if (!result.ok()) {
    CountRejectedPush();
    return result;
  }
  pushes_.fetch_add(1, std::memory_order_relaxed);
  bytes_pushed_.fetch_add(args.grad.size() * sizeof(float), std::memory_order_relaxed);
  staleness_sum_.fetch_add(result->staleness, std::memory_order_relaxed);
  AtomicMax(staleness_max_, result->staleness);
  staleness_histogram_[StalenessBucket(result->staleness)].fetch_add(1, std::memory_order_relaxed);
  return result;
}

absl::StatusOr<PushResult> TablePart::ApplyAsync(const PushArgs& args) {
  const uint64_t local = args.offset - range_.begin;
  const uint64_t first_segment = local / kSegmentElements;
  const uint64_t end = local + args.grad.size();
  // The staleness decision uses the first segment's version as the push
  // arrives; when pushes cover whole parts all segments agree.
  const StalenessDecision decision = DecideStaleness(
      spec_.consistency, segments_[first_segment].step.load(std::memory_order_acquire),
      args.pulled_version);
  if (decision.reject) {
    stale_rejected_.fetch_add(1, std::memory_order_relaxed);
    return StaleGradientError(args.pulled_version + decision.staleness, args.pulled_version,
                              spec_.consistency.max_staleness);
  }
  if (decision.lr_scale != 1.0) stale_scaled_.fetch_add(1, std::memory_order_relaxed);
  PushResult result;
  result.staleness = decision.staleness;
  result.lr_scale = decision.lr_scale;
  result.version = UINT64_MAX;
  for (uint64_t seg = first_segment; seg * kSegmentElements < end; ++seg) {
    const uint64_t begin = seg * kSegmentElements;
    const uint64_t n = std::min(end, begin + kSegmentElements) - begin;
    Segment& segment = segments_[seg];
    absl::MutexLock lock(&segment.mu);
    const uint64_t step = segment.step.load(std::memory_order_relaxed) + 1;
    RETURN_IF_ERROR(Step(begin, n, args.grad.data() + (begin - local), step, decision.lr_scale));
    segment.step.store(step, std::memory_order_release);
    result.version = std::min(result.version, step);
  }
  return result;
}

absl::StatusOr<PushResult> TablePart::ApplySync(const PushArgs& args) {
  const uint64_t local = args.offset - range_.begin;
  const uint64_t first_segment = local / kSegmentElements;
  const uint64_t end = local + args.grad.size();
  // Check every segment before adding anything, so a refused chunk changes
  // nothing. (Only this worker can add its own contribution, and a round
  // cannot close without it, so the checks stay true until the adds below.)
  for (uint64_t seg = first_segment; seg * kSegmentElements < end; ++seg) {
    Segment& segment = segments_[seg];
    absl::MutexLock lock(&segment.mu);
    const uint64_t round = segment.step.load(std::memory_order_relaxed);
    if (args.pulled_version != round) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sync round mismatch: the gradient is for round ", args.pulled_version, " but table '",
          spec_.name, "' is at round ", round, " (segment ", seg, "): pull again"));
    }
    if (segment.round->HasContribution(args.worker_id)) {
      return absl::FailedPreconditionError(
          absl::StrCat("worker ", args.worker_id, " already pushed for round ", round,
                       " of table '", spec_.name, "'; pull (which waits for the round) first"));
    }
  }
  PushResult result;
  result.version = UINT64_MAX;
  std::vector<float> mean;
  for (uint64_t seg = first_segment; seg * kSegmentElements < end; ++seg) {
    const uint64_t begin = seg * kSegmentElements;
    const uint64_t n = SegmentSize(seg);
    Segment& segment = segments_[seg];
    absl::MutexLock lock(&segment.mu);
    uint64_t round = segment.step.load(std::memory_order_relaxed);
    if (segment.round->Add(args.worker_id,
                           absl::MakeConstSpan(args.grad.data() + (begin - local), n))) {
      mean.resize(n);
      segment.round->TakeMean(mean.data());
      RETURN_IF_ERROR(Step(begin, n, mean.data(), round + 1, 1.0));
      ++round;
      segment.step.store(round, std::memory_order_release);
      segment.round_closed.SignalAll();
    }
    result.version = std::min(result.version, round);
  }
  return result;
}

absl::StatusOr<uint64_t> TablePart::Pull(uint64_t offset, uint64_t length, char* out,
                                         uint64_t worker_id, absl::Time deadline) {
  RETURN_IF_ERROR(ValidateChunk(range_, offset, length));
  const uint64_t local = offset - range_.begin;
  const uint64_t end = local + length;
  uint64_t min_version = UINT64_MAX;
  for (uint64_t seg = local / kSegmentElements; seg * kSegmentElements < end; ++seg) {
    const uint64_t begin = seg * kSegmentElements;
    const uint64_t n = std::min(end, begin + kSegmentElements) - begin;
    Segment& segment = segments_[seg];
    absl::MutexLock lock(&segment.mu);
    // A worker that pushed for the open round reads only after it closes.
    while (synchronous() && worker_id != 0 && segment.round->HasContribution(worker_id)) {
      if (segment.round_closed.WaitWithDeadline(&segment.mu, deadline) &&
          segment.round->HasContribution(worker_id)) {
        return absl::DeadlineExceededError(
            absl::StrCat("worker ", worker_id, " waited for round ", segment.step.load(),
                         " of table '", spec_.name, "' to close: ", segment.round->contributions(),
                         " of ", segment.round->workers(), " workers have pushed"));
      }
    }
    RETURN_IF_ERROR(state_->ReadParameters(begin, n, out + (begin - local) * sizeof(float)));
    min_version = std::min(min_version, segment.step.load(std::memory_order_relaxed));
  }
  pulls_.fetch_add(1, std::memory_order_relaxed);
  bytes_pulled_.fetch_add(length * sizeof(float), std::memory_order_relaxed);
  return min_version;
}

absl::Status TablePart::WriteParameters(uint64_t offset, absl::Span<const float> values) {
  RETURN_IF_ERROR(ValidateChunk(range_, offset, values.size()));
  if (!kernels::AllFinite(values.data(), values.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(NonFiniteError(values, offset).message(), " (no value was written)"));
  }
  const uint64_t local = offset - range_.begin;
  const uint64_t end = local + values.size();
  const uint64_t first = local / kSegmentElements;
  // Lock every touched segment (in order) so the check and the write are one step.
  std::vector<std::unique_ptr<absl::MutexLock>> locks;
  for (uint64_t seg = first; seg * kSegmentElements < end; ++seg) {
    locks.push_back(std::make_unique<absl::MutexLock>(&segments_[seg].mu));
    if (segments_[seg].step.load(std::memory_order_relaxed) != 0 ||
        (synchronous() && segments_[seg].round->contributions() != 0)) {
      return absl::FailedPreconditionError(
          absl::StrCat("table '", spec_.name, "' has already been trained (segment ", seg,
                       " has updates): parameters can only be written before the first push"));
    }
  }
  return state_->WriteParameters(local, values.size(), values.data());
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

absl::StatusOr<TablePartSnapshot> TablePart::Snapshot() const {
  const uint64_t size = range_.size();
  TablePartSnapshot snap;
  snap.p.resize(size);
  snap.m.resize(size);
  snap.v.resize(size);
  snap.vmax.resize(spec_.adam.amsgrad ? size : 0);
  const uint64_t count = SegmentCount();
  snap.segment_steps.resize(count);
  for (uint64_t seg = 0; seg < count; ++seg) {
    const uint64_t begin = seg * kSegmentElements;
    const uint64_t n = SegmentSize(seg);
    absl::MutexLock lock(&segments_[seg].mu);
    RETURN_IF_ERROR(
        state_->ReadState(begin, n,
                          {snap.p.data() + begin, snap.m.data() + begin, snap.v.data() + begin,
                           snap.vmax.empty() ? nullptr : snap.vmax.data() + begin}));
    snap.segment_steps[seg] = segments_[seg].step.load(std::memory_order_relaxed);
    if (synchronous()) {
      for (auto& c : segments_[seg].round->Export()) {
        snap.sync_pending.push_back({seg, c.worker_id, std::move(c.gradient)});
      }
    }
  }
  snap.dedupe = dedupe_.Export();
  return snap;
}

absl::Status TablePart::Restore(const TablePartSnapshot& snap) {
  const uint64_t n = range_.size();
  if (snap.p.size() != n || snap.m.size() != n || snap.v.size() != n ||
      snap.vmax.size() != (spec_.adam.amsgrad ? n : 0) ||
      snap.segment_steps.size() != SegmentCount()) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot of table '", spec_.name,
                                                   "' does not fit its part of ", n, " elements (",
                                                   SegmentCount(), " segments)"));
  }
  for (const auto& pending : snap.sync_pending) {
    if (!synchronous() || pending.segment >= SegmentCount() ||
        pending.gradient.size() != SegmentSize(pending.segment)) {
      return absl::InvalidArgumentError(
          absl::StrCat("snapshot of table '", spec_.name, "' has a bad sync contribution"));
    }
  }
  for (uint64_t seg = 0; seg < SegmentCount(); ++seg) {
    const uint64_t begin = seg * kSegmentElements;
    const uint64_t size = SegmentSize(seg);
    Segment& segment = segments_[seg];
    absl::MutexLock lock(&segment.mu);
    RETURN_IF_ERROR(
        state_->WriteState(begin, size,
                           {snap.p.data() + begin, snap.m.data() + begin, snap.v.data() + begin,
                            snap.vmax.empty() ? nullptr : snap.vmax.data() + begin}));
    segment.step.store(snap.segment_steps[seg], std::memory_order_release);
    if (synchronous()) {
      segment.round =
          std::make_unique<SyncRound>(static_cast<uint64_t>(spec_.consistency.sync_workers), size);
      for (const auto& pending : snap.sync_pending) {
        if (pending.segment == seg) segment.round->Add(pending.worker_id, pending.gradient);
      }
    }
  }
  dedupe_.Import(snap.dedupe);
  return absl::OkStatus();
}

uint64_t TablePart::StateBytes() const { return state_->bytes(); }

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
  for (int b = 0; b < kStalenessBuckets; ++b) {
    stats.staleness_histogram.push_back(staleness_histogram_[b].load(std::memory_order_relaxed));
  }
  stats.duplicate_pushes = duplicate_pushes_.load(std::memory_order_relaxed);
  stats.stale_rejected = stale_rejected_.load(std::memory_order_relaxed);
  stats.stale_scaled = stale_scaled_.load(std::memory_order_relaxed);
  stats.consistency = spec_.consistency;
  return stats;
}

}  // namespace adamasync
