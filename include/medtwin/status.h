// Status and Result<T>: how medtwin library code reports errors.
//
// Library code never throws across module boundaries and never aborts on user input. A failed
// Status carries a code (what kind of failure, mapped to CLI exit codes, HTTP codes and Python
// exceptions at the edges) and a message naming the offending field, value and expectation.
#ifndef MEDTWIN_STATUS_H_
#define MEDTWIN_STATUS_H_

#include <string>
#include <utility>
#include <variant>

namespace medtwin {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input: dataset, option, parameter value (CLI exit 2)
  kNotFound,         // unknown model, column, compartment name (CLI exit 2)
  kUnsupported,      // valid request the engine cannot honour (CLI exit 2)
  kNumerical,        // solver failure, non-finite result, steady state not reached (CLI exit 3)
  kInternal,         // a broken invariant inside medtwin (CLI exit 1)
  kConflict,         // a write lost a race or a version precondition failed (HTTP 409/412)
  kUnavailable,      // storage or a service cannot be reached now; retry (HTTP 503, CLI exit 1)
};

const char* ToString(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status Invalid(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  static Status Numerical(std::string m) { return {StatusCode::kNumerical, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid argument: events.csv line 14: ..."
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` and ": ".
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a failed Status. REQUIRES: the Status passed in is not OK.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  // REQUIRES: ok().
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

}  // namespace medtwin

#define MEDTWIN_RETURN_IF_ERROR(expr) \
  do {                                \
    ::medtwin::Status _st = (expr);   \
    if (!_st.ok()) return _st;        \
  } while (0)

#endif  // MEDTWIN_STATUS_H_
