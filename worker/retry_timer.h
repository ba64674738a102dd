// RetryTimer: runs callbacks at a later time on one background thread, for
// the client's retry backoff (so no gRPC callback thread ever sleeps).
//
// Thread safety: Schedule may be called from any thread. The destructor runs
// every callback still pending immediately (with `cancelled` = true), then
// joins the thread.
#ifndef ADAMASYNC_WORKER_RETRY_TIMER_H_
#define ADAMASYNC_WORKER_RETRY_TIMER_H_

#include <functional>
#include <map>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace adamasync {

class RetryTimer {
 public:
  // `cancelled` is false when the callback runs at its time, true when it
  // runs early because the timer is being destroyed.
  using Callback = std::function<void(bool cancelled)>;

  RetryTimer();
  ~RetryTimer();
  RetryTimer(const RetryTimer&) = delete;
  RetryTimer& operator=(const RetryTimer&) = delete;

  void Schedule(absl::Time when, Callback callback);

 private:
  void Run();

  absl::Mutex mu_;
  std::multimap<absl::Time, Callback> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace adamasync

#endif  // ADAMASYNC_WORKER_RETRY_TIMER_H_
