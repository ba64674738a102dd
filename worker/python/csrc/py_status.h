// absl::Status -> Python exception, in one place for the whole binding.
//
// An error status becomes an instance of adamasync.AdamAsyncError (or the
// subclass for its code, e.g. adamasync.NotFoundError), built by
// adamasync._errors.error_from_status(code, message) so that the exception
// classes live in Python, where users catch them.
#ifndef ADAMASYNC_PYTHON_PY_STATUS_H_
#define ADAMASYNC_PYTHON_PY_STATUS_H_

#include <nanobind/nanobind.h>

#include "absl/status/status.h"

namespace adamasync::python {

// The exception object for a non-OK `status`. REQUIRES: the GIL is held.
nanobind::object ErrorFromStatus(const absl::Status& status);

// Raises ErrorFromStatus(status) as a C++ nanobind::python_error, which
// nanobind hands back to Python unchanged.
// REQUIRES: !status.ok() and the GIL is held.
[[noreturn]] void RaiseStatus(const absl::Status& status);

// Does nothing for an OK status, else RaiseStatus().
inline void RaiseIfError(const absl::Status& status) {
  if (!status.ok()) RaiseStatus(status);
}

}  // namespace adamasync::python

#endif  // ADAMASYNC_PYTHON_PY_STATUS_H_
