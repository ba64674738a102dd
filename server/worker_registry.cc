#include "server/worker_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace adamasync {
namespace {

// How often a waiting pull re-checks leases against the injected clock.
constexpr absl::Duration kPollInterval = absl::Milliseconds(5);

}  // namespace

WorkerRegistry::WorkerRegistry(const Clock* clock, uint64_t max_workers)
    : clock_(clock), max_workers_(max_workers) {}

absl::Status WorkerRegistry::CheckRoomFor(uint64_t worker_id) const {
  if (max_workers_ == 0 || workers_.size() < max_workers_ || workers_.contains(worker_id)) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("worker ", worker_id, " is new, but this shard already tracks ", workers_.size(),
                   " workers, its limit (--max_workers)"));
}

void WorkerRegistry::Contact(uint64_t worker_id, Worker& worker, absl::Time now) {
  if (worker.expired) {
    worker.expired = false;
    spdlog::info("worker {} rejoined at clock {}", worker_id, worker.clock);
  }
  worker.last_contact = now;
}

void WorkerRegistry::ExpireLeases(absl::Time now) {
  for (auto& [id, worker] : workers_) {
    if (!worker.expired && now - worker.last_contact > worker.lease) {
      worker.expired = true;
      ++expired_leases_;
      spdlog::warn("worker {} lease expired (no call for {}); it no longer holds back SSP pulls",
                   id, absl::FormatDuration(now - worker.last_contact));
      changed_.SignalAll();
    }
  }
}

absl::StatusOr<WorkerRegistry::Registration> WorkerRegistry::Register(uint64_t worker_id,
                                                                      absl::Duration lease) {
  if (worker_id == 0) return absl::InvalidArgumentError("worker_id must be > 0");
  if (lease < kMinLease || lease > kMaxLease) {
    return absl::InvalidArgumentError(
        absl::StrCat("lease must be in [", absl::FormatDuration(kMinLease), ", ",
                     absl::FormatDuration(kMaxLease), "], got ", absl::FormatDuration(lease)));
  }
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckRoomFor(worker_id));
  const absl::Time now = clock_->Now();
  auto [it, inserted] = workers_.try_emplace(worker_id);
  if (inserted)
    spdlog::info("worker {} registered (lease {})", worker_id, absl::FormatDuration(lease));
  it->second.lease = lease;
  Contact(worker_id, it->second, now);
  changed_.SignalAll();
  return Registration{it->second.last_seq, it->second.clock};
}

absl::StatusOr<WorkerRegistry::ClockTick> WorkerRegistry::AdvanceClock(uint64_t worker_id,
                                                                       uint64_t clock) {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker ", worker_id, " is not registered: call RegisterWorker first"));
  }
  if (clock < it->second.clock) {
    return absl::InvalidArgumentError(absl::StrCat("clock of worker ", worker_id,
                                                   " cannot go backwards: it is at ",
                                                   it->second.clock, ", got ", clock));
  }
  const absl::Time now = clock_->Now();
  Contact(worker_id, it->second, now);
  it->second.clock = clock;
  ExpireLeases(now);
  changed_.SignalAll();
  return ClockTick{clock, MinLiveClockLocked()};
}

absl::Status WorkerRegistry::Touch(uint64_t worker_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckRoomFor(worker_id));
  auto [it, inserted] = workers_.try_emplace(worker_id);
  if (inserted) {
    it->second.lease = kDefaultLease;
    spdlog::info("worker {} first seen through a push or pull (lease {})", worker_id,
                 absl::FormatDuration(kDefaultLease));
  }
  Contact(worker_id, it->second, clock_->Now());
  return absl::OkStatus();
}

void WorkerRegistry::NoteSeq(uint64_t worker_id, uint64_t seq) {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(worker_id);
  if (it != workers_.end()) it->second.last_seq = std::max(it->second.last_seq, seq);
}

absl::Status WorkerRegistry::WaitForSsp(uint64_t worker_id, absl::string_view table, uint64_t bound,
                                        absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker ", worker_id, " is not registered: call RegisterWorker first"));
  }
  while (true) {
    const absl::Time now = clock_->Now();
    Worker& self = workers_[worker_id];
    Contact(worker_id, self, now);  // waiting is not silence: keep the lease
    ExpireLeases(now);
    const uint64_t needed = self.clock > bound ? self.clock - bound : 0;
    uint64_t slowest_id = 0, slowest_clock = UINT64_MAX;
    for (const auto& [id, w] : workers_) {
      if (!w.expired && w.clock < slowest_clock) {
        slowest_clock = w.clock;
        slowest_id = id;
      }
    }
    if (slowest_clock >= needed) {
      self.blocked_on.clear();
      return absl::OkStatus();
    }
    self.blocked_on = absl::StrCat("table '", table, "': at clock ", self.clock, " with ssp_bound ",
                                   bound, " waits for every live worker to reach clock ", needed,
                                   "; worker ", slowest_id, " is at ", slowest_clock);
    const absl::Time real_now = absl::Now();
    if (real_now >= deadline) {
      std::string message =
          absl::StrCat("deadline exceeded: worker ", worker_id, " on ", self.blocked_on);
      self.blocked_on.clear();
      return absl::DeadlineExceededError(message);
    }
    changed_.WaitWithTimeout(&mu_, std::min(kPollInterval, deadline - real_now));
  }
}

std::vector<WorkerState> WorkerRegistry::Workers() const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  std::vector<WorkerState> out;
  for (const auto& [id, w] : workers_) {
    WorkerState s;
    s.worker_id = id;
    s.clock = w.clock;
    s.last_seq = w.last_seq;
    s.lease = w.lease;
    s.live = !w.expired && now - w.last_contact <= w.lease;
    s.since_contact = now - w.last_contact;
    s.blocked_on = w.blocked_on;
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const WorkerState& a, const WorkerState& b) { return a.worker_id < b.worker_id; });
  return out;
}

uint64_t WorkerRegistry::MinLiveClockLocked() const {
  uint64_t min_clock = UINT64_MAX;
  for (const auto& [id, w] : workers_) {
    if (!w.expired) min_clock = std::min(min_clock, w.clock);
  }
  return min_clock == UINT64_MAX ? 0 : min_clock;
}

uint64_t WorkerRegistry::MinLiveClock() const {
  absl::MutexLock lock(&mu_);
  return MinLiveClockLocked();
}

uint64_t WorkerRegistry::expired_leases() const {
  absl::MutexLock lock(&mu_);
  return expired_leases_;
}

void WorkerRegistry::Import(const std::vector<WorkerState>& workers) {
  absl::MutexLock lock(&mu_);
  workers_.clear();
  const absl::Time now = clock_->Now();
  for (const WorkerState& s : workers) {
    Worker& w = workers_[s.worker_id];
    w.clock = s.clock;
    w.last_seq = s.last_seq;
    w.lease = s.lease;
    w.last_contact = now;
  }
  changed_.SignalAll();
}

}  // namespace adamasync
