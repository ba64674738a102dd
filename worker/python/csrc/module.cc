// adamasync._core: the C++ client SDK as a Python extension module. The
// public Python API is the adamasync package, which wraps it.
#include <nanobind/nanobind.h>

#include "bind_types.h"
#include "py_client.h"

NB_MODULE(_core, m) {
  m.doc() = "AdamAsync client SDK (C++). Use the adamasync package instead.";
  adamasync::python::BindTableSpec(m);
  adamasync::python::BindClientOptions(m);
  adamasync::python::BindStats(m);
  adamasync::python::BindClient(m);
}
