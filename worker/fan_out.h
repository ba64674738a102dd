// FanOut: one client operation (a whole Pull, Push, CreateTable or GetStats)
// as a set of unary gRPC calls to the shards. Internal to the client SDK.
//
// At most `max_in_flight` calls run at once. A call answered UNAVAILABLE is
// retried after an exponential backoff with jitter while the operation's
// deadline allows (unless that UNAVAILABLE leaves open whether the call was
// applied and the config says not to risk it: `retry_ambiguous`). The first other error stops new
// calls from starting; once the calls in flight have drained, `on_done` runs exactly once with that
// error (prefixed with the shard that gave it), or with OK when every call succeeded and every
// `on_response` returned OK.
//
// Requests may be filled lazily by `prepare` just before their first
// attempt, and each call's request and response are freed as soon as the
// call succeeds, so a large Push or Pull holds only the chunks in flight.
//
// Thread safety: after Start(), the FanOut runs on gRPC callback threads
// and the RetryTimer thread; callbacks (`prepare`, `on_response`,
// `on_done`) may run concurrently for different calls.
#ifndef ADAMASYNC_WORKER_FAN_OUT_H_
#define ADAMASYNC_WORKER_FAN_OUT_H_

#include <grpcpp/client_context.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "adamasync/v1/parameter_server.grpc.pb.h"
#include "common/grpc_status.h"
#include "worker/retry_timer.h"

namespace adamasync {
namespace internal {

// Totals kept by a client's FanOuts (ClientCounters, adamasync/client.h).
struct CallCounters {
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> retried_unavailable{0};
  std::atomic<uint64_t> retried_attempt_timeout{0};
  std::atomic<uint64_t> failed_calls{0};
};

struct FanOutConfig {
  std::vector<v1::ParameterServer::Stub*> stubs;  // one per shard
  std::vector<std::string> addresses;             // for error messages
  RetryTimer* timer = nullptr;
  absl::Time deadline;
  // Per attempt; DEADLINE_EXCEEDED of an attempt is retried when
  // `retry_ambiguous` and the operation's deadline allows.
  absl::Duration attempt_timeout = absl::InfiniteDuration();
  // Retry failures after which the call may have been applied: an attempt
  // past attempt_timeout, and an UNAVAILABLE the server did not mark as
  // NotApplied (a connection lost mid-call). Right for idempotent calls and
  // numbered pushes (the server dedupes them); wrong for anonymous pushes,
  // which could be applied twice. A marked UNAVAILABLE is always retried.
  bool retry_ambiguous = false;
  absl::Duration initial_backoff;
  absl::Duration max_backoff;
  size_t max_in_flight = 8;
  // Runs when the FanOut is destroyed: after its last callback returned and
  // its contexts are gone, so an owner waiting for it may then tear down
  // the channels.
  std::function<void()> released;
  // Runs on every attempt's fresh context (e.g. adds the bearer token).
  std::function<void(grpc::ClientContext*)> prepare_context;
  // Counted into when not null; must outlive the FanOut.
  CallCounters* counters = nullptr;
};

template <typename Request, typename Response>
class FanOut : public std::enable_shared_from_this<FanOut<Request, Response>> {
 public:
  using Stub = v1::ParameterServer::Stub;
  // Starts one attempt: e.g. stub->async()->Pull(context, request, response, done).
  using Issue = std::function<void(Stub*, grpc::ClientContext*, const Request*, Response*,
                                   std::function<void(grpc::Status)>)>;
  using Prepare = std::function<void(size_t call, Request*)>;
  using OnResponse = std::function<absl::Status(size_t call, const Request&, const Response&)>;
  using OnDone = std::function<void(absl::Status)>;
  // Called for a call's final error; returning true counts the call as
  // done without error (e.g. a stale push the caller chose to drop).
  using AbsorbError = std::function<bool(size_t call, const Request&, const absl::Status&)>;

  FanOut(FanOutConfig config, Issue issue, OnResponse on_response, OnDone on_done)
      : config_(std::move(config)),
        issue_(std::move(issue)),
        on_response_(std::move(on_response)),
        on_done_(std::move(on_done)) {}

  ~FanOut() {
    calls_.clear();
    if (config_.released) config_.released();
  }
  FanOut(const FanOut&) = delete;
  FanOut& operator=(const FanOut&) = delete;

  void set_prepare(Prepare prepare) { prepare_ = std::move(prepare); }
  void set_absorb_error(AbsorbError absorb) { absorb_ = std::move(absorb); }

  // Adds a call to `shard`. REQUIRES: before Start().
  void Add(size_t shard, Request request) {
    auto call = std::make_unique<Call>();
    call->shard = shard;
    call->request = std::move(request);
    calls_.push_back(std::move(call));
  }

  size_t size() const { return calls_.size(); }

  // Starts the calls. `on_done` may run before Start returns.
  void Start() {
    if (calls_.empty()) {
      on_done_(absl::OkStatus());
      return;
    }
    std::vector<size_t> first;
    {
      absl::MutexLock lock(&mu_);
      while (next_ < calls_.size() && in_flight_ < config_.max_in_flight) {
        first.push_back(next_++);
        ++in_flight_;
      }
    }
    for (size_t index : first) Attempt(index);
  }

 private:
  struct Call {
    size_t shard = 0;
    Request request;
    Response response;
    std::unique_ptr<grpc::ClientContext> context;
    int attempts = 0;
    bool prepared = false;
  };

  void Attempt(size_t index) {
    Call& call = *calls_[index];
    if (!call.prepared) {
      if (prepare_) prepare_(index, &call.request);
      call.prepared = true;
    }
    call.context = std::make_unique<grpc::ClientContext>();
    const absl::Time attempt_deadline =
        config_.attempt_timeout == absl::InfiniteDuration()
            ? config_.deadline
            : std::min(config_.deadline, absl::Now() + config_.attempt_timeout);
    call.context->set_deadline(absl::ToChronoTime(attempt_deadline));
    // Wait for a (re)connecting server instead of failing fast: a shard that
    // restarts within the deadline is simply waited for.
    call.context->set_wait_for_ready(true);
    if (config_.prepare_context) config_.prepare_context(call.context.get());
    ++call.attempts;
    Count(&CallCounters::attempts);
    auto self = this->shared_from_this();
    issue_(config_.stubs[call.shard], call.context.get(), &call.request, &call.response,
           [self, index](grpc::Status status) { self->Finished(index, std::move(status)); });
  }

  void Finished(size_t index, grpc::Status status) {
    Call& call = *calls_[index];
    absl::Status result = FromGrpcStatus(status);
    if (result.ok()) {
      result = on_response_(index, call.request, call.response);
      // Free the chunk's buffers now; only calls in flight hold memory.
      call.request = Request();
      call.response = Response();
    } else if (Retriable(result)) {
      const absl::Time retry_at = absl::Now() + Backoff(call.attempts);
      if (retry_at < config_.deadline && !Failed()) {
        Count(result.code() == absl::StatusCode::kUnavailable
                  ? &CallCounters::retried_unavailable
                  : &CallCounters::retried_attempt_timeout);
        auto self = this->shared_from_this();
        config_.timer->Schedule(retry_at, [self, index, result](bool cancelled) {
          if (cancelled) {
            self->Complete(index, result);
          } else {
            self->Attempt(index);
          }
        });
        return;
      }
    }
    if (!result.ok() && absorb_ && absorb_(index, call.request, result)) {
      result = absl::OkStatus();
    }
    if (!result.ok() && !config_.retry_ambiguous &&
        result.code() == absl::StatusCode::kUnavailable && !IsNotAppliedUnavailable(result)) {
      result = absl::Status(result.code(),
                            absl::StrCat(result.message(),
                                         " (the connection broke mid-call: the call may have been "
                                         "applied, so it was not sent again; a client with a "
                                         "worker_id retries pushes exactly once)"));
    }
    if (!result.ok()) {
      Count(&CallCounters::failed_calls);
      absl::Status prefixed(result.code(),
                            absl::StrCat("shard ", call.shard, " (", config_.addresses[call.shard],
                                         "): ", result.message()));
      result.ForEachPayload([&prefixed](absl::string_view url, const absl::Cord& payload) {
        prefixed.SetPayload(url, payload);
      });
      result = std::move(prefixed);
    }
    Complete(index, result);
  }

  // Records the end of call `index` and starts the next one, or finishes.
  void Complete(size_t /*index*/, const absl::Status& result) {
    size_t launch = calls_.size();
    bool done = false;
    absl::Status final_status;
    {
      absl::MutexLock lock(&mu_);
      --in_flight_;
      if (!result.ok() && status_.ok()) status_ = result;
      if (status_.ok() && next_ < calls_.size()) {
        launch = next_++;
        ++in_flight_;
      } else if (in_flight_ == 0) {
        done = true;
        final_status = status_;
      }
    }
    if (launch < calls_.size()) Attempt(launch);
    if (done) on_done_(final_status);
  }

  bool Failed() {
    absl::MutexLock lock(&mu_);
    return !status_.ok();
  }

  bool Retriable(const absl::Status& result) const {
    switch (result.code()) {
      case absl::StatusCode::kUnavailable:
        return config_.retry_ambiguous || IsNotAppliedUnavailable(result);
      case absl::StatusCode::kDeadlineExceeded:
        return config_.retry_ambiguous && absl::Now() < config_.deadline;
      default:
        return false;
    }
  }

  void Count(std::atomic<uint64_t> CallCounters::*counter) {
    if (config_.counters != nullptr) {
      (config_.counters->*counter).fetch_add(1, std::memory_order_relaxed);
    }
  }

  absl::Duration Backoff(int attempts) const {
    absl::Duration backoff = config_.initial_backoff;
    for (int i = 1; i < attempts && backoff < config_.max_backoff; ++i) backoff *= 2;
    backoff = std::min(backoff, config_.max_backoff);
    thread_local std::mt19937 rng{std::random_device{}()};
    // Full jitter in [backoff/2, backoff): retries of many chunks spread out.
    return backoff * std::uniform_real_distribution<double>(0.5, 1.0)(rng);
  }

  const FanOutConfig config_;
  const Issue issue_;
  Prepare prepare_;
  AbsorbError absorb_;
  const OnResponse on_response_;
  const OnDone on_done_;
  // Fixed after Start(); each Call is touched by one attempt at a time.
  std::vector<std::unique_ptr<Call>> calls_;

  absl::Mutex mu_;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace adamasync

#endif  // ADAMASYNC_WORKER_FAN_OUT_H_
