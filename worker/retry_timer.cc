#include "worker/retry_timer.h"

#include <utility>
#include <vector>

#include "absl/time/clock.h"

namespace adamasync {

RetryTimer::RetryTimer() : thread_([this] { Run(); }) {}

RetryTimer::~RetryTimer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void RetryTimer::Schedule(absl::Time when, Callback callback) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      pending_.emplace(when, std::move(callback));
      return;
    }
  }
  callback(true);
}

void RetryTimer::Run() {
  mu_.Lock();
  while (true) {
    const absl::Time next = pending_.empty() ? absl::InfiniteFuture() : pending_.begin()->first;
    auto wake = [this, next]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return stopping_ || (!pending_.empty() && pending_.begin()->first < next) ||
             absl::Now() >= next;
    };
    mu_.AwaitWithDeadline(absl::Condition(&wake), next);
    if (stopping_) break;
    std::vector<Callback> due;
    const absl::Time now = absl::Now();
    while (!pending_.empty() && pending_.begin()->first <= now) {
      due.push_back(std::move(pending_.begin()->second));
      pending_.erase(pending_.begin());
    }
    mu_.Unlock();
    for (auto& callback : due) callback(false);
    mu_.Lock();
  }
  std::multimap<absl::Time, Callback> rest;
  rest.swap(pending_);
  mu_.Unlock();
  for (auto& [when, callback] : rest) callback(true);
}

}  // namespace adamasync
