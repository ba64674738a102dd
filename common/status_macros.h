// RETURN_IF_ERROR and ASSIGN_OR_RETURN, which this abseil release lacks.
#ifndef ADAMASYNC_COMMON_STATUS_MACROS_H_
#define ADAMASYNC_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ADAMASYNC_CONCAT_INNER_(a, b) a##b
#define ADAMASYNC_CONCAT_(a, b) ADAMASYNC_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::absl::Status _adamasync_status = (expr);             \
    if (!_adamasync_status.ok()) return _adamasync_status; \
  } while (0)

// `lhs` = the value of `rexpr` (an absl::StatusOr<T>), or returns its status.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL_(ADAMASYNC_CONCAT_(_adamasync_statusor_, __LINE__), lhs, rexpr)
#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                           \
  if (!statusor.ok()) return statusor.status();      \
  lhs = std::move(statusor).value()

#endif  // ADAMASYNC_COMMON_STATUS_MACROS_H_
