#include <nlohmann/json.hpp>

#include "medtwin/fhir_outcome.h"

namespace medtwin::fhir {

const char* ToString(IssueSeverity s) {
  switch (s) {
    case IssueSeverity::kFatal:
      return "fatal";
    case IssueSeverity::kError:
      return "error";
    case IssueSeverity::kWarning:
      return "warning";
    case IssueSeverity::kInformation:
      return "information";
  }
  return "error";
}

const char* ToString(IssueType t) {
  switch (t) {
    case IssueType::kInvalid:
      return "invalid";
    case IssueType::kStructure:
      return "structure";
    case IssueType::kRequired:
      return "required";
    case IssueType::kValue:
      return "value";
    case IssueType::kInvariant:
      return "invariant";
    case IssueType::kNotSupported:
      return "not-supported";
    case IssueType::kDuplicate:
      return "duplicate";
    case IssueType::kMultipleMatches:
      return "multiple-matches";
    case IssueType::kNotFound:
      return "not-found";
    case IssueType::kTooLong:
      return "too-long";
    case IssueType::kTooCostly:
      return "too-costly";
    case IssueType::kCodeInvalid:
      return "code-invalid";
    case IssueType::kProcessing:
      return "processing";
    case IssueType::kInformational:
      return "informational";
  }
  return "invalid";
}

void OperationOutcome::Add(IssueSeverity severity, IssueType code, std::string expression,
                           std::string diagnostics) {
  Issue issue{severity, code, std::move(diagnostics), {}};
  if (!expression.empty()) issue.expression.push_back(std::move(expression));
  issues_.push_back(std::move(issue));
}

void OperationOutcome::Append(const OperationOutcome& other, const std::string& prefix) {
  for (Issue issue : other.issues_) {
    if (!prefix.empty()) {
      for (std::string& e : issue.expression) {
        const size_t dot = e.find('.');
        e = prefix + (dot == std::string::npos ? "" : e.substr(dot));
      }
      if (issue.expression.empty()) issue.expression.push_back(prefix);
    }
    issues_.push_back(std::move(issue));
  }
}

bool OperationOutcome::HasErrors() const { return CountErrors() > 0; }

int OperationOutcome::CountErrors() const {
  int n = 0;
  for (const Issue& i : issues_) {
    n += i.severity == IssueSeverity::kError || i.severity == IssueSeverity::kFatal;
  }
  return n;
}

int OperationOutcome::CountWarnings() const {
  int n = 0;
  for (const Issue& i : issues_) n += i.severity == IssueSeverity::kWarning;
  return n;
}

std::string OperationOutcome::FirstError() const {
  for (const Issue& i : issues_) {
    if (i.severity != IssueSeverity::kError && i.severity != IssueSeverity::kFatal) continue;
    return (i.expression.empty() ? std::string() : i.expression[0] + ": ") + i.diagnostics;
  }
  return "";
}

Status OperationOutcome::ToStatus() const {
  const int n = CountErrors();
  if (n == 0) return Status::Ok();
  std::string m = FirstError();
  if (n > 1) m += " (and " + std::to_string(n - 1) + " more errors)";
  return Status::Invalid(m);
}

std::string OperationOutcome::ToJson() const {
  nlohmann::json out = {{"resourceType", "OperationOutcome"}};
  nlohmann::json issues = nlohmann::json::array();
  for (const Issue& i : issues_) {
    nlohmann::json j = {{"severity", ToString(i.severity)}, {"code", ToString(i.code)}};
    if (!i.diagnostics.empty()) j["diagnostics"] = i.diagnostics;
    if (!i.expression.empty()) j["expression"] = i.expression;
    issues.push_back(std::move(j));
  }
  if (issues.empty()) {
    issues.push_back(
        {{"severity", "information"}, {"code", "informational"}, {"diagnostics", "ok"}});
  }
  out["issue"] = std::move(issues);
  // Replace invalid UTF-8 (from hostile input quoted in a message) rather than throw.
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace medtwin::fhir
