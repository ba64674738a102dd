// PyClient: the adamasync::Client as the Python extension sees it.
//
// It adds to the C++ SDK only what Python needs:
//  * numpy arrays in and out without copies: Pull writes straight into the
//    caller's float32 C-contiguous array, Push reads straight from one;
//  * the GIL released for every network call, so other Python threads run
//    (and several calls from different threads proceed in parallel);
//  * asynchronous calls completed on a CompletionDispatcher thread, which
//    calls a Python `done(versions, code, message)` with the GIL held and
//    keeps the call's array alive until then;
//  * errors raised as adamasync.AdamAsyncError with the gRPC code;
//  * an explicit Close(): no new calls, waits for the ones in flight.
//
// The public Python API (argument checking with clear TypeError/ValueError,
// concurrent.futures.Future for the asynchronous forms) is
// adamasync/_client.py, which wraps this class.
//
// Thread safety: every method may be called from any Python thread.
#ifndef ADAMASYNC_PYTHON_PY_CLIENT_H_
#define ADAMASYNC_PYTHON_PY_CLIENT_H_

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "adamasync/client.h"
#include "completion_dispatcher.h"

namespace adamasync::python {

// A writable float32 C-contiguous array on the CPU, any shape.
using OutArray = nanobind::ndarray<float, nanobind::c_contig, nanobind::device::cpu>;
// A float32 C-contiguous array on the CPU, any shape, read-only allowed.
using InArray = nanobind::ndarray<const float, nanobind::c_contig, nanobind::device::cpu>;

class PyClient {
 public:
  // Raises AdamAsyncError(INVALID_ARGUMENT) for options that break a
  // REQUIRES of ClientOptions. Connects lazily.
  explicit PyClient(const ClientOptions& options);
  PyClient(const PyClient&) = delete;
  PyClient& operator=(const PyClient&) = delete;
  // Close()s. Called by Python's deallocation, so with the GIL held.
  ~PyClient();

  void CreateTable(const TableSpec& spec);
  Versions Pull(const std::string& table, OutArray out);
  Versions Push(const std::string& table, InArray gradient, const Versions& pulled);
  // Start the call and return at once; `done(versions or None, code,
  // message)` runs later on the dispatcher thread. Errors found before
  // anything is sent are reported through `done` too.
  void PullAsync(const std::string& table, OutArray out, nanobind::object done);
  void PushAsync(const std::string& table, InArray gradient, const Versions& pulled,
                 nanobind::object done);
  std::vector<ShardStats> GetStats();
  ClientCounters Counters();
  uint64_t TableSize(const std::string& table);
  void Register();
  uint64_t Clock();

  // Refuses new calls (they raise FAILED_PRECONDITION), waits for the calls
  // in flight (their done callbacks included), then frees the connections.
  // Idempotent. Raises RuntimeError when called from a done callback.
  // REQUIRES: the GIL is held (it is released while waiting).
  void Close();
  bool closed() const;

  const ClientOptions& options() const { return options_; }

 private:
  // Counts a synchronous call or the start of an asynchronous one, so that
  // Close() cannot free the SDK client under it.
  class CallScope;

  const ClientOptions options_;
  std::unique_ptr<Client> client_;  // null once closed
  std::unique_ptr<CompletionDispatcher> dispatcher_;

  mutable std::mutex mu_;
  std::condition_variable idle_;
  int active_calls_ = 0;  // guarded by mu_
  bool closing_ = false;  // guarded by mu_
};

// Registers the class as adamasync._core.Client.
void BindClient(nanobind::module_& m);

}  // namespace adamasync::python

#endif  // ADAMASYNC_PYTHON_PY_CLIENT_H_
