// SBML Test Suite runner: reads the semantic cases (sbmlteam/sbml-test-suite, cases/semantic),
// simulates each with the SBML importer and the Simulator, and judges the output with the suite's
// own rule (CompareResultSets): every value U at every row satisfies |C - U| <= Ta + Tr*|C|
// (C expected, Ta/Tr the case's absolute/relative tolerances); NaN must meet NaN, an infinity
// the same infinity; rows and columns must all be present. Time values are not compared.
//
// Case folder layout (NNNNN = 5-digit case number):
//   NNNNN-sbml-lXvY.xml  the model (the highest Level/Version present is used)
//   NNNNN-settings.txt   `key: value` lines: start, duration, steps, variables, absolute,
//                        relative, amount, concentration
//   NNNNN-results.csv    expected values: a time column, then one column per variable
//   NNNNN-model.m        description; its header lists componentTags, testTags, testType
//
// Thread safety: the parsing and judging functions are pure. RunSuite uses its own workers (each
// with its own Simulator); its callback is called from those workers, one call at a time.
#ifndef MEDTWIN_SBML_TEST_SUITE_H_
#define MEDTWIN_SBML_TEST_SUITE_H_

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "medtwin/status.h"

namespace medtwin::sbml {

// NNNNN-settings.txt. Keys other than the eight below are ignored.
struct CaseSettings {
  double start = 0.0;                      // first output time (model time unit)
  double duration = 0.0;                   // output span, > 0
  int steps = 0;                           // output at steps + 1 evenly spaced times, > 0
  std::vector<std::string> variables;      // ids to report, in column order
  double absolute = 0.0;                   // pass tolerance Ta, >= 0
  double relative = 0.0;                   // pass tolerance Tr, >= 0
  std::vector<std::string> amount;         // species reported as amounts
  std::vector<std::string> concentration;  // species reported as concentrations
};
// Errors (kInvalidArgument) name the key and the text found; every one of the eight keys must be
// present with a valid value. `source` prefixes messages.
Result<CaseSettings> ParseSettings(std::string_view text, const std::string& source = "settings");

// A results table (expected or simulated): column 0 is time.
struct ResultTable {
  std::vector<std::string> columns;  // "time", then the variables; names trimmed
  std::vector<double> values;        // row-major, rows() x columns.size()
  size_t rows() const { return columns.empty() ? 0 : values.size() / columns.size(); }
  double at(size_t row, size_t col) const { return values[row * columns.size() + col]; }
};
// Reads NNNNN-results.csv: a header row, then numeric rows with as many fields; spaces around
// fields are dropped; NaN, INF, -INF (any case) are accepted; blank lines are skipped. Errors
// name the line and the field.
Result<ResultTable> ParseResults(std::string_view text, const std::string& source = "results");
// The suite's format: header "time,V1,V2", numbers in shortest round-trip form, NaN, INF, -INF.
std::string FormatResults(const ResultTable& table);

// The header of NNNNN-model.m.
struct CaseInfo {
  std::vector<std::string> component_tags;
  std::vector<std::string> test_tags;
  std::string test_type;  // "TimeCourse", "FluxBalanceSteadyState", ...; empty if absent
  // component_tags then test_tags.
  std::vector<std::string> AllTags() const;
};
// Uses the first `componentTags:`, `testTags:` and `testType:` lines; absent lines leave the
// field empty.
CaseInfo ParseModelHeader(std::string_view text);

// "1-100,205,300-310" -> sorted, unique case numbers in [1, 99999]. Errors name the bad item.
Result<std::vector<int>> ParseCaseList(std::string_view spec);

// The suite's comparison. Columns of `expected` are looked up by name in `simulated`. Returns
// an empty string on pass, else the first mismatch: "time 0.5, S1: expected 1.2, got 1.3
// (allowed difference 1e-07)", or the missing row/column.
std::string JudgeResults(const ResultTable& expected, const ResultTable& simulated, double absolute,
                         double relative);

enum class CaseOutcome { kPass, kFail, kUnsupported };
const char* ToString(CaseOutcome o);

struct CaseResult {
  int number = 0;
  CaseOutcome outcome = CaseOutcome::kFail;
  std::string reason;             // empty on pass
  bool crashed = false;           // an exception escaped the importer or simulator
  std::vector<std::string> tags;  // CaseInfo::AllTags()
  ResultTable simulated;          // empty unless the case was simulated
  double wall_time_s = 0.0;
};

// Solver settings derived from a case's tolerances: the pass tolerances tightened 1e4 times (as
// AMICI and libRoadRunner do), with floors so CVODES stays well-posed.
struct SuiteOptions {
  std::vector<int> cases;          // case numbers to run; empty = every case folder present
  int threads = 1;                 // worker threads, >= 1
  double tolerance_factor = 1e-4;  // solver tolerance = pass tolerance * factor, (0, 1]
  double max_rtol = 1e-8;          // rtol = min(max_rtol, relative * factor)
  double min_atol = 1e-14;         // atol = max(min_atol, absolute * factor)
  long max_steps = 1'000'000;      // CVODES steps between two outputs, > 0
  Status Validate() const;
};

// Runs one case from its folder. Never fails: problems become kFail/kUnsupported with a reason.
CaseResult RunCase(const std::string& case_dir, int number, const SuiteOptions& options);

struct SuiteSummary {
  int pass = 0, fail = 0, unsupported = 0;
  int missing = 0;  // requested case numbers with no folder
  int threads = 1;
  double wall_time_s = 0.0;
  int total() const { return pass + fail + unsupported; }
};

struct SuiteResult {
  std::vector<CaseResult> cases;  // case order
  SuiteSummary summary;
};

// Runs the cases of `cases_dir` (folders NNNNN). `on_case`, if set, is called once per case in
// case order, as soon as that case and all before it are done. kNotFound if the folder is
// missing or holds no requested case; kInvalidArgument for bad options.
Result<SuiteResult> RunSuite(const std::string& cases_dir, const SuiteOptions& options,
                             const std::function<void(const CaseResult&)>& on_case = {});

// Per tag: how many cases carry it and their outcomes. Sorted by tag.
struct TagStats {
  std::string tag;
  int cases = 0, pass = 0, fail = 0, unsupported = 0;
};
std::vector<TagStats> CountTags(const std::vector<CaseResult>& cases);
// Tags of failing cases with their counts, most frequent first (ties by name).
std::vector<std::pair<std::string, int>> FailingTags(const std::vector<CaseResult>& cases);

// "00001 pass", "00002 fail time 0.5, S1: ..." (reason cut to one line of <= 160 characters).
std::string CaseLine(const CaseResult& c);
// A Markdown page: how the suite is run, the pass rule, solver settings, totals, the per-tag
// table and the failing and unsupported cases with reasons. Deterministic (no timings).
std::string MarkdownReport(const SuiteResult& result, const SuiteOptions& options);

}  // namespace medtwin::sbml

#endif  // MEDTWIN_SBML_TEST_SUITE_H_
