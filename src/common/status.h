// Status and Result<T>: the error type used inside MLOS. Exceptions never cross module
// boundaries; functions that can fail return one of these.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace mlos {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // malformed or invalid input (HTTP 400, CLI exit 2)
  kNotFound,          // unknown model, file, version (404)
  kAlreadyExists,     // (409)
  kFailedPrecondition,// conflicting state (409)
  kPermissionDenied,  // (403)
  kUnauthenticated,   // (401)
  kResourceExhausted, // too large, over quota (413/429)
  kDataLoss,          // checksum mismatch, corrupt archive
  kUnavailable,       // network, not ready (503)
  kDeadlineExceeded,
  kCancelled,
  kUnimplemented,
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

  // Returns a copy whose message is "prefix: message".
  Status WithPrefix(const std::string& prefix) const {
    if (ok()) return *this;
    Status s(code_, prefix + ": " + message_);
    s.retry_after_s_ = retry_after_s_;
    return s;
  }

  // A quota refusal that will pass again after this many seconds (HTTP Retry-After, gRPC
  // `retry-after` trailer); 0 = no hint.
  uint32_t retry_after_s() const { return retry_after_s_; }
  Status WithRetryAfter(uint32_t seconds) && {
    retry_after_s_ = seconds;
    return std::move(*this);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  uint32_t retry_after_s_ = 0;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status PermissionDenied(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}
inline Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
inline Status ResourceExhausted(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }

// Result<T>: a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be OK

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace mlos

#define MLOS_CONCAT_INNER(a, b) a##b
#define MLOS_CONCAT(a, b) MLOS_CONCAT_INNER(a, b)

// Returns the status from the enclosing function if it is not OK.
#define MLOS_RETURN_IF_ERROR(expr)            \
  do {                                        \
    ::mlos::Status _mlos_st = (expr);         \
    if (!_mlos_st.ok()) return _mlos_st;      \
  } while (0)

// MLOS_ASSIGN_OR_RETURN(auto x, Foo()): binds the value or returns the error.
#define MLOS_ASSIGN_OR_RETURN(lhs, expr) \
  MLOS_ASSIGN_OR_RETURN_IMPL(MLOS_CONCAT(_mlos_res_, __LINE__), lhs, expr)
#define MLOS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
