// Python classes for the SDK's plain structs: TableSpec and its parts,
// ClientOptions, Versions (bind_types.cc) and the GetStats counters
// (bind_stats.cc). Field names are the C++ ones; durations are seconds as
// Python floats (math.inf for an infinite attempt_timeout).
#ifndef ADAMASYNC_PYTHON_BIND_TYPES_H_
#define ADAMASYNC_PYTHON_BIND_TYPES_H_

#include <nanobind/nanobind.h>

#include <string>

namespace adamasync::python {

void BindTableSpec(nanobind::module_& m);
void BindClientOptions(nanobind::module_& m);
void BindStats(nanobind::module_& m);

// repr() of a Python float for `value` ("0.001", "inf"), for __repr__s.
std::string FloatRepr(double value);

}  // namespace adamasync::python

#endif  // ADAMASYNC_PYTHON_BIND_TYPES_H_
