// CompletionDispatcher: the one thread on which the Python binding runs the
// completions of asynchronous Pull/Push calls, with the GIL held.
//
// The C++ SDK runs an asynchronous call's callback on an internal gRPC
// thread that must not block. Taking the GIL there could block it for as
// long as any Python thread keeps the interpreter busy, so the binding's
// callbacks only Post() a task here; this thread takes the GIL once per
// task and runs it (resolving a concurrent.futures.Future, which runs the
// future's done-callbacks on this thread too).
//
// Thread safety: Post() may be called from any thread, with or without the
// GIL. Stop() must be called without the GIL (it waits for this thread,
// which needs the GIL to run what is left) and not from this thread.
#ifndef ADAMASYNC_PYTHON_COMPLETION_DISPATCHER_H_
#define ADAMASYNC_PYTHON_COMPLETION_DISPATCHER_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace adamasync::python {

class CompletionDispatcher {
 public:
  CompletionDispatcher();
  CompletionDispatcher(const CompletionDispatcher&) = delete;
  CompletionDispatcher& operator=(const CompletionDispatcher&) = delete;
  // Normally called after Stop(). Without one (an owner destroyed on the
  // dispatcher thread itself, by a done callback dropping the last
  // reference), the thread is told to stop and detached: it runs what is
  // queued and ends on its own (its state outlives this object).
  ~CompletionDispatcher();

  // Queues `task` to run on the dispatcher thread with the GIL held. Tasks
  // run one at a time, in the order posted. A task must not throw; it owns
  // the release (under the GIL) of any Python object it refers to.
  void Post(std::function<void()> task);

  // Runs every task already posted, then ends the thread. Idempotent.
  // REQUIRES: the GIL is not held; !OnDispatcherThread().
  void Stop();

  // True when the calling thread is the dispatcher thread.
  bool OnDispatcherThread() const;

 private:
  // Shared with the thread, which may outlive this object (see above).
  struct State {
    std::mutex mu;
    std::condition_variable wake;
    std::deque<std::function<void()>> tasks;  // guarded by mu
    bool stopping = false;                    // guarded by mu
  };
  static void Run(const std::shared_ptr<State>& state);
  void RequestStop();

  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace adamasync::python

#endif  // ADAMASYNC_PYTHON_COMPLETION_DISPATCHER_H_
