// SBML Test Suite conformance guard: every semantic case in ../shared/data/sbml-test-suite/cases
// (release 3.4.0; see its README.md) is run through the library runner and judged with the
// suite's rule (|C - U| <= absolute + relative*|C|, NaN/INF must match, all rows and columns).
// The pass count may only go up: it must reach the baseline in tests/sbml_pass_baseline.txt
// (raise the baseline when the importer improves). No case may crash, and every case that does
// not pass must say why. The full table is docs/sbml-conformance.md.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "sbml/test_suite.h"

namespace medtwin::sbml {
namespace {

const std::string kCases = std::string(MEDTWIN_SHARED_DATA) + "/sbml-test-suite/cases";
const std::string kBaseline = std::string(MEDTWIN_SOURCE_DIR) + "/tests/sbml_pass_baseline.txt";

int ReadBaseline() {
  std::ifstream in(kBaseline);
  int baseline = -1;
  in >> baseline;
  return in ? baseline : -1;
}

TEST(SbmlConformance, PassCountReachesBaselineAndEveryOtherCaseHasAReason) {
  const int baseline = ReadBaseline();
  ASSERT_GE(baseline, 0) << "cannot read a pass count from " << kBaseline;

  SuiteOptions options;
  options.threads = 2;
  auto result = RunSuite(kCases, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString() << " (missing ../shared/data?)";
  const SuiteSummary& s = result->summary;
  // The shared copy holds 1,457 of the suite's 1,821 cases.
  EXPECT_EQ(s.total(), 1457);

  for (const CaseResult& c : result->cases) {
    EXPECT_FALSE(c.crashed) << CaseLine(c);
    if (c.outcome != CaseOutcome::kPass) {
      EXPECT_FALSE(c.reason.empty()) << CaseLine(c);
    }
  }
  EXPECT_GE(s.pass, baseline) << "pass " << s.pass << ", fail " << s.fail << ", unsupported "
                              << s.unsupported << "; regressions below the baseline";
  std::cout << "SBML Test Suite: pass " << s.pass << ", fail " << s.fail << ", unsupported "
            << s.unsupported << " of " << s.total() << " (baseline " << baseline << ")\n";
}

}  // namespace
}  // namespace medtwin::sbml
