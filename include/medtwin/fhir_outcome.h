// FHIR R4 OperationOutcome: how the FHIR layer says why it accepted a resource with notes or
// rejected it.
//
// Every rejection carries at least one issue of severity error (or fatal) with an `expression`
// naming the element in FHIRPath ("Observation.valueQuantity.unit",
// "Bundle.entry[3].resource.subject.reference"); accepted resources may carry warning and
// information issues (a real-data code or unit variant that was mapped, a conditional create that
// matched an existing resource). The server maps an outcome to an HTTP status through one table;
// library callers that want a Status use ToStatus().
#ifndef MEDTWIN_FHIR_OUTCOME_H_
#define MEDTWIN_FHIR_OUTCOME_H_

#include <string>
#include <vector>

#include "medtwin/status.h"

namespace medtwin::fhir {

// R4 value set issue-severity.
enum class IssueSeverity { kFatal, kError, kWarning, kInformation };
const char* ToString(IssueSeverity s);

// The subset of the R4 value set issue-type that medtwin emits; ToString gives the FHIR code.
enum class IssueType {
  kInvalid,          // "invalid": content invalid against the specification
  kStructure,        // "structure": malformed JSON, wrong JSON type, not a resource
  kRequired,         // "required": a required element is missing
  kValue,            // "value": an element's value is not allowed
  kInvariant,        // "invariant": a FHIR invariant (obs-6, bdl-7, ...) is violated
  kNotSupported,     // "not-supported": valid FHIR that medtwin does not process
  kDuplicate,        // "duplicate": e.g. two entries with the same fullUrl
  kMultipleMatches,  // "multiple-matches": a conditional reference or create matched several
  kNotFound,         // "not-found": a reference target does not exist
  kTooLong,          // "too-long": input larger than the configured limit
  kTooCostly,        // "too-costly": nesting deeper than the configured limit
  kCodeInvalid,      // "code-invalid": unknown or variant code or unit where strictness requires
  kProcessing,       // "processing": not applied because another entry of a transaction failed
  kInformational,    // "informational": a note on an accepted resource
};
const char* ToString(IssueType t);

struct Issue {
  IssueSeverity severity = IssueSeverity::kError;
  IssueType code = IssueType::kInvalid;
  std::string diagnostics;              // plain text: the field, the value, what was expected
  std::vector<std::string> expression;  // FHIRPath of the element(s) concerned; may be empty
};

class OperationOutcome {
 public:
  void Add(IssueSeverity severity, IssueType code, std::string expression, std::string diagnostics);
  void Error(IssueType code, std::string expression, std::string diagnostics) {
    Add(IssueSeverity::kError, code, std::move(expression), std::move(diagnostics));
  }
  void Warning(IssueType code, std::string expression, std::string diagnostics) {
    Add(IssueSeverity::kWarning, code, std::move(expression), std::move(diagnostics));
  }
  void Information(std::string expression, std::string diagnostics) {
    Add(IssueSeverity::kInformation, IssueType::kInformational, std::move(expression),
        std::move(diagnostics));
  }
  // Appends the issues of `other`; each expression gains `prefix` in place of its first path
  // segment (the resource type), e.g. prefix "Bundle.entry[3].resource" turns
  // "Observation.status" into "Bundle.entry[3].resource.status". Empty prefix: copied as is.
  void Append(const OperationOutcome& other, const std::string& prefix = "");

  bool HasErrors() const;  // any issue of severity fatal or error
  int CountErrors() const;
  int CountWarnings() const;
  const std::vector<Issue>& issues() const { return issues_; }
  bool empty() const { return issues_.empty(); }

  // The first error as "expression: diagnostics", or "" when there is none.
  std::string FirstError() const;
  // OK without errors; otherwise Status::Invalid with the first error and the count of others.
  Status ToStatus() const;
  // The R4 OperationOutcome resource as compact JSON. An outcome without issues becomes one
  // information issue "ok", since R4 requires at least one issue.
  std::string ToJson() const;

 private:
  std::vector<Issue> issues_;
};

}  // namespace medtwin::fhir

#endif  // MEDTWIN_FHIR_OUTCOME_H_
