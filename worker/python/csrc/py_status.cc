// absl::Status -> adamasync.AdamAsyncError (see py_status.h).
#include "py_status.h"

#include <nanobind/stl/string.h>

#include <string>

namespace nb = nanobind;

namespace adamasync::python {

nb::object ErrorFromStatus(const absl::Status& status) {
  // sys.modules caches the import; errors are rare, so no global handle
  // (which would outlive the interpreter) is kept.
  nb::object factory = nb::module_::import_("adamasync._errors").attr("error_from_status");
  return factory(static_cast<int>(status.code()), std::string(status.message()));
}

void RaiseStatus(const absl::Status& status) {
  nb::object error = ErrorFromStatus(status);
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
  throw nb::python_error();
}

}  // namespace adamasync::python
