// Status propagation macros (abseil 20220623 ships none).
//
//   RETURN_IF_ERROR(expr);            // expr yields absl::Status; returns it when not OK
//   ASSIGN_OR_RETURN(lhs, expr);      // expr yields absl::StatusOr<T>; returns its status when
//                                     // not OK, else moves the value into lhs (may declare lhs)
#ifndef R1_COMMON_STATUS_MACROS_H_
#define R1_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define R1_STATUS_CONCAT_INNER_(a, b) a##b
#define R1_STATUS_CONCAT_(a, b) R1_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    ::absl::Status r1_status_ = (expr);      \
    if (!r1_status_.ok()) return r1_status_; \
  } while (false)

#define ASSIGN_OR_RETURN(lhs, expr) \
  R1_ASSIGN_OR_RETURN_IMPL_(R1_STATUS_CONCAT_(r1_statusor_, __LINE__), lhs, expr)

#define R1_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return std::move(tmp).status();  \
  lhs = std::move(tmp).value()

#endif  // R1_COMMON_STATUS_MACROS_H_
