// CompletionDispatcher: a queue of tasks run with the GIL on one thread.
#include "completion_dispatcher.h"

#include <nanobind/nanobind.h>

#include <utility>

namespace nb = nanobind;

namespace adamasync::python {

CompletionDispatcher::CompletionDispatcher()
    : state_(std::make_shared<State>()), thread_([state = state_] { Run(state); }) {}

CompletionDispatcher::~CompletionDispatcher() {
  if (!thread_.joinable()) return;  // stopped
  // Joining here could deadlock (the GIL state is unknown, or this is the
  // dispatcher thread); the thread finishes on its own.
  RequestStop();
  thread_.detach();
}

void CompletionDispatcher::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->tasks.push_back(std::move(task));
  }
  state_->wake.notify_one();
}

void CompletionDispatcher::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  state_->wake.notify_one();
}

void CompletionDispatcher::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

bool CompletionDispatcher::OnDispatcherThread() const {
  return std::this_thread::get_id() == thread_.get_id();
}

void CompletionDispatcher::Run(const std::shared_ptr<State>& state) {
  for (;;) {
    std::deque<std::function<void()>> batch;
    {
      std::unique_lock<std::mutex> lock(state->mu);
      state->wake.wait(lock, [&] { return state->stopping || !state->tasks.empty(); });
      if (state->tasks.empty()) return;  // stopping and drained
      batch.swap(state->tasks);
    }
    // One GIL acquisition per batch: the completions of one fan-out (a
    // torch step pushes every parameter at once) tend to arrive together.
    nb::gil_scoped_acquire gil;
    for (std::function<void()>& task : batch) {
      task();
      task = nullptr;  // drop what it captured while the GIL is held
    }
  }
}

}  // namespace adamasync::python
