// PyClient: numpy arrays, the GIL and Python errors around adamasync::Client.
#include "py_client.h"

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <stdexcept>
#include <utility>

#include "absl/types/span.h"
#include "py_status.h"

namespace nb = nanobind;

namespace adamasync::python {
namespace {

// What an asynchronous call holds until its completion has run: the array
// the SDK reads or writes (so Python cannot free it meanwhile) and the
// Python callable to call. Both are released by Complete(), under the GIL;
// the struct itself may then die on any thread.
struct PendingCall {
  OutArray out;
  InArray in;
  nb::object done;
};

// Runs on the dispatcher thread with the GIL held.
void Complete(PendingCall& call, absl::StatusOr<Versions> result) {
  nb::object done = std::move(call.done);
  call.out = OutArray();
  call.in = InArray();
  try {
    if (result.ok()) {
      done(nb::cast(std::move(*result)), 0, "");
    } else {
      done(nb::none(), static_cast<int>(result.status().code()),
           std::string(result.status().message()));
    }
  } catch (nb::python_error& e) {
    e.discard_as_unraisable("adamasync: completion callback");
  }
}

// The SDK callback for `call`: hands the result to the dispatcher thread.
Client::VersionsCallback Completion(CompletionDispatcher* dispatcher,
                                    std::shared_ptr<PendingCall> call) {
  return [dispatcher, call = std::move(call)](absl::StatusOr<Versions> result) {
    dispatcher->Post(
        [call, result = std::move(result)]() mutable { Complete(*call, std::move(result)); });
  };
}

}  // namespace

class PyClient::CallScope {
 public:
  // REQUIRES: the GIL is held (it may raise).
  explicit CallScope(PyClient& client) : client_(client) {
    std::lock_guard<std::mutex> lock(client_.mu_);
    if (client_.closing_) {
      RaiseStatus(absl::FailedPreconditionError("this adamasync.Client is closed"));
    }
    ++client_.active_calls_;
  }
  ~CallScope() {
    {
      std::lock_guard<std::mutex> lock(client_.mu_);
      --client_.active_calls_;
    }
    client_.idle_.notify_all();
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  PyClient& client_;
};

PyClient::PyClient(const ClientOptions& options) : options_(options) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  RaiseIfError(client.status());
  client_ = *std::move(client);
  dispatcher_ = std::make_unique<CompletionDispatcher>();
}

PyClient::~PyClient() {
  if (dispatcher_ != nullptr && dispatcher_->OnDispatcherThread()) {
    // The last reference died in a done callback: stop taking calls and
    // free the SDK client (it waits for the calls in flight, whose
    // completions are only queued); the dispatcher's destructor lets its
    // thread drain the queue and end by itself.
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    nb::gil_scoped_release release;
    client_.reset();
    dispatcher_.reset();
    return;
  }
  Close();
}

void PyClient::Close() {
  if (dispatcher_ != nullptr && dispatcher_->OnDispatcherThread()) {
    throw std::runtime_error(
        "adamasync.Client.close() cannot run in a completion callback of the same client");
  }
  nb::gil_scoped_release release;
  std::unique_lock<std::mutex> lock(mu_);
  closing_ = true;
  idle_.wait(lock, [this] { return active_calls_ == 0; });
  std::unique_ptr<Client> client = std::move(client_);
  std::unique_ptr<CompletionDispatcher> dispatcher = std::move(dispatcher_);
  lock.unlock();
  // In this order: the SDK client's destructor waits for the calls in
  // flight, whose completions then sit in the dispatcher's queue; Stop()
  // runs them (taking the GIL released above) and ends the thread. A second,
  // concurrent Close() finds both already gone and returns at once.
  client.reset();
  if (dispatcher != nullptr) dispatcher->Stop();
}

bool PyClient::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closing_;
}

void PyClient::CreateTable(const TableSpec& spec) {
  CallScope scope(*this);
  absl::Status status;
  {
    nb::gil_scoped_release release;
    status = client_->CreateTable(spec);
  }
  RaiseIfError(status);
}

Versions PyClient::Pull(const std::string& table, OutArray out) {
  CallScope scope(*this);
  absl::StatusOr<Versions> result;
  {
    nb::gil_scoped_release release;
    result = client_->Pull(table, absl::MakeSpan(out.data(), out.size()));
  }
  RaiseIfError(result.status());
  return *std::move(result);
}

Versions PyClient::Push(const std::string& table, InArray gradient, const Versions& pulled) {
  CallScope scope(*this);
  absl::StatusOr<Versions> result;
  {
    nb::gil_scoped_release release;
    result = client_->Push(table, absl::MakeConstSpan(gradient.data(), gradient.size()), pulled);
  }
  RaiseIfError(result.status());
  return *std::move(result);
}

void PyClient::PullAsync(const std::string& table, OutArray out, nb::object done) {
  CallScope scope(*this);
  auto call = std::make_shared<PendingCall>();
  call->out = out;
  call->done = std::move(done);
  const absl::Span<float> span(out.data(), out.size());
  Client::VersionsCallback callback = Completion(dispatcher_.get(), std::move(call));
  nb::gil_scoped_release release;
  // May block briefly (a first use looks the table up, registers the
  // worker); errors come back through the callback.
  client_->PullAsync(table, span, std::move(callback));
}

void PyClient::PushAsync(const std::string& table, InArray gradient, const Versions& pulled,
                         nb::object done) {
  CallScope scope(*this);
  auto call = std::make_shared<PendingCall>();
  call->in = gradient;
  call->done = std::move(done);
  const absl::Span<const float> span(gradient.data(), gradient.size());
  Client::VersionsCallback callback = Completion(dispatcher_.get(), std::move(call));
  nb::gil_scoped_release release;
  client_->PushAsync(table, span, pulled, std::move(callback));
}

std::vector<ShardStats> PyClient::GetStats() {
  CallScope scope(*this);
  absl::StatusOr<std::vector<ShardStats>> stats;
  {
    nb::gil_scoped_release release;
    stats = client_->GetStats();
  }
  RaiseIfError(stats.status());
  return *std::move(stats);
}

ClientCounters PyClient::Counters() {
  CallScope scope(*this);
  return client_->Counters();
}

uint64_t PyClient::TableSize(const std::string& table) {
  CallScope scope(*this);
  absl::StatusOr<uint64_t> size;
  {
    nb::gil_scoped_release release;
    size = client_->TableSize(table);
  }
  RaiseIfError(size.status());
  return *size;
}

void PyClient::Register() {
  CallScope scope(*this);
  absl::Status status;
  {
    nb::gil_scoped_release release;
    status = client_->Register();
  }
  RaiseIfError(status);
}

uint64_t PyClient::Clock() {
  CallScope scope(*this);
  absl::StatusOr<uint64_t> clock;
  {
    nb::gil_scoped_release release;
    clock = client_->Clock();
  }
  RaiseIfError(clock.status());
  return *clock;
}

void BindClient(nb::module_& m) {
  nb::class_<PyClient>(m, "Client",
                       "The C++ client SDK. Use adamasync.Client, which checks arguments "
                       "and returns futures, rather than this class.")
      .def(nb::init<const ClientOptions&>(), nb::arg("options"))
      .def("create_table", &PyClient::CreateTable, nb::arg("spec"))
      .def("pull", &PyClient::Pull, nb::arg("table"), nb::arg("out").noconvert())
      .def("push", &PyClient::Push, nb::arg("table"), nb::arg("gradient").noconvert(),
           nb::arg("pulled"))
      .def("pull_async", &PyClient::PullAsync, nb::arg("table"), nb::arg("out").noconvert(),
           nb::arg("done"))
      .def("push_async", &PyClient::PushAsync, nb::arg("table"), nb::arg("gradient").noconvert(),
           nb::arg("pulled"), nb::arg("done"))
      .def("get_stats", &PyClient::GetStats)
      .def("counters", &PyClient::Counters)
      .def("table_size", &PyClient::TableSize, nb::arg("table"))
      .def("register", &PyClient::Register)
      .def("clock", &PyClient::Clock)
      .def("close", &PyClient::Close)
      .def_prop_ro("closed", &PyClient::closed)
      .def_prop_ro("options", [](const PyClient& c) { return c.options(); });  // a copy
}

}  // namespace adamasync::python
