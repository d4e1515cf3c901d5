// Helpers shared by the FHIR tests.
#ifndef MEDTWIN_FHIR_FHIR_TEST_UTIL_H_
#define MEDTWIN_FHIR_FHIR_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "medtwin/fhir_outcome.h"

namespace medtwin::fhir::testing {

// The first issue of `severity` whose expression equals `expression` ("" = any) and whose
// diagnostics contain `text`, or nullptr.
inline const Issue* FindIssue(const OperationOutcome& o, IssueSeverity severity,
                              const std::string& expression, const std::string& text = "") {
  for (const Issue& i : o.issues()) {
    if (i.severity != severity) continue;
    if (!expression.empty() && (i.expression.empty() || i.expression[0] != expression)) continue;
    if (i.diagnostics.find(text) == std::string::npos) continue;
    return &i;
  }
  return nullptr;
}

inline std::string Dump(const OperationOutcome& o) { return o.ToJson(); }

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace medtwin::fhir::testing

#define EXPECT_ISSUE(outcome, severity, expression, text)                                      \
  EXPECT_NE(::medtwin::fhir::testing::FindIssue(outcome, severity, expression, text), nullptr) \
      << "no " << ::medtwin::fhir::ToString(severity) << " at '" << (expression)               \
      << "' containing '" << (text) << "' in " << ::medtwin::fhir::testing::Dump(outcome)

#endif  // MEDTWIN_FHIR_FHIR_TEST_UTIL_H_
