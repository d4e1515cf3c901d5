// SBML Test Suite runner: parsing of the case files, the suite's pass rule, --cases parsing and
// the report. Fixtures follow the formats of cases/semantic in sbml-test-suite 3.4.0 (case
// 00001's settings file is reproduced verbatim).
#include "sbml/test_suite.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

namespace medtwin::sbml {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInfinity = std::numeric_limits<double>::infinity();

TEST(ParseSettings, ReadsCase00001) {
  const char* text =
      "start: 0\nduration: 5\nsteps: 50\nvariables: S1, S2\nabsolute: 1.000000e-007\n"
      "relative: 0.0001\namount: S1, S2\nconcentration: \n\n";
  auto s = ParseSettings(text);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->start, 0.0);
  EXPECT_EQ(s->duration, 5.0);
  EXPECT_EQ(s->steps, 50);
  EXPECT_EQ(s->variables, (std::vector<std::string>{"S1", "S2"}));
  EXPECT_DOUBLE_EQ(s->absolute, 1e-7);
  EXPECT_DOUBLE_EQ(s->relative, 1e-4);
  EXPECT_EQ(s->amount, (std::vector<std::string>{"S1", "S2"}));
  EXPECT_TRUE(s->concentration.empty());
}

TEST(ParseSettings, TrimsListsAndToleratesCrLf) {
  const char* text =
      "start: 0\r\nduration: 10.0\r\nsteps: 10\r\nvariables:  S1 ,S2,  P \r\nabsolute: 0.001\r\n"
      "relative: 0.001\r\namount:\r\nconcentration: S1,P\r\n";
  auto s = ParseSettings(text);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->variables, (std::vector<std::string>{"S1", "S2", "P"}));
  EXPECT_TRUE(s->amount.empty());
  EXPECT_EQ(s->concentration, (std::vector<std::string>{"S1", "P"}));
}

TEST(ParseSettings, ErrorsNameTheKey) {
  // A flux-balance case leaves start/duration/steps empty.
  const char* fbc =
      "start:\nduration:\nsteps:\nvariables: R01,OBJF\nabsolute: 0.001\nrelative: 0.001\n"
      "amount: \nconcentration: \n";
  auto s = ParseSettings(fbc, "01186-settings.txt");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("01186-settings.txt: start"), std::string::npos)
      << s.status().message();

  auto missing = ParseSettings("start: 0\nduration: 1\nsteps: 5\nvariables: S1\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("absolute"), std::string::npos);

  auto steps = ParseSettings(
      "start: 0\nduration: 1\nsteps: 2.5\nvariables: S1\nabsolute: 0\nrelative: 0\namount:\n"
      "concentration:\n");
  ASSERT_FALSE(steps.ok());
  EXPECT_NE(steps.status().message().find("steps"), std::string::npos);
}

TEST(ParseResults, ReadsHeaderWithSpacesAndNonFiniteValues) {
  // Case 00951 writes " NaN" with a leading space; case-insensitive spellings are accepted.
  const char* text = "time, P, Q, R\n0,INF,-INF, NaN\n0.1,inf,-Inf,nan\n\n0.2,1.5e-005,-2,3\n";
  auto t = ParseResults(text);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->columns, (std::vector<std::string>{"time", "P", "Q", "R"}));
  ASSERT_EQ(t->rows(), 3u);
  EXPECT_EQ(t->at(0, 1), kInfinity);
  EXPECT_EQ(t->at(0, 2), -kInfinity);
  EXPECT_TRUE(std::isnan(t->at(0, 3)));
  EXPECT_EQ(t->at(1, 1), kInfinity);
  EXPECT_TRUE(std::isnan(t->at(1, 3)));
  EXPECT_DOUBLE_EQ(t->at(2, 1), 1.5e-5);
  EXPECT_EQ(t->at(2, 0), 0.2);
}

TEST(ParseResults, ErrorsNameLineAndColumn) {
  auto fields = ParseResults("time,S1\n0,1\n0.1,2,3\n", "x.csv");
  ASSERT_FALSE(fields.ok());
  EXPECT_NE(fields.status().message().find("x.csv line 3"), std::string::npos);
  auto text = ParseResults("time,S1\n0,abc\n", "x.csv");
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("column S1: 'abc'"), std::string::npos)
      << text.status().message();
  EXPECT_FALSE(ParseResults("").ok());
}

TEST(FormatResults, RoundTripsThroughParseResults) {
  ResultTable t;
  t.columns = {"time", "S1", "S2"};
  t.values = {0.0, 0.1 + 0.2, kNaN, 0.5, kInfinity, -kInfinity};
  const std::string csv = FormatResults(t);
  EXPECT_EQ(csv, "time,S1,S2\n0,0.30000000000000004,NaN\n0.5,INF,-INF\n");
  auto back = ParseResults(csv);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->at(0, 1), 0.1 + 0.2);
  EXPECT_EQ(back->at(1, 2), -kInfinity);
}

TEST(ParseModelHeader, ReadsTagsAndType) {
  const char* text =
      "(* \n\ncategory:      Test\nsynopsis:      Basic single forward reaction\n"
      "componentTags: Compartment, Species, Reaction, Parameter \n"
      "testTags:      Amount, EventWithDelay\ntestType:      TimeCourse\n"
      "levels:        1.2, 2.1\n\nThe model contains one compartment.\n*)\n";
  const CaseInfo info = ParseModelHeader(text);
  EXPECT_EQ(info.component_tags,
            (std::vector<std::string>{"Compartment", "Species", "Reaction", "Parameter"}));
  EXPECT_EQ(info.test_tags, (std::vector<std::string>{"Amount", "EventWithDelay"}));
  EXPECT_EQ(info.test_type, "TimeCourse");
  EXPECT_EQ(info.AllTags().size(), 6u);
  EXPECT_EQ(ParseModelHeader("testType: FluxBalanceSteadyState\n").test_type,
            "FluxBalanceSteadyState");
  EXPECT_TRUE(ParseModelHeader("no header").test_type.empty());
}

TEST(ParseCaseList, RangesAndLists) {
  auto c = ParseCaseList("300-302, 1-3,205,2");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*c, (std::vector<int>{1, 2, 3, 205, 300, 301, 302}));
  auto all = ParseCaseList("1-1821");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1821u);
  EXPECT_EQ(ParseCaseList("7")->front(), 7);
}

TEST(ParseCaseList, RejectsBadItems) {
  for (const char* bad : {"", "1,,2", "5-2", "0", "a-3", "1-", "3-x", "-4", "100000", "1.5"}) {
    auto c = ParseCaseList(bad);
    EXPECT_FALSE(c.ok()) << "'" << bad << "'";
    if (!c.ok()) {
      EXPECT_NE(c.status().message().find("--cases"), std::string::npos);
    }
  }
}

ResultTable Table(std::vector<std::string> cols, std::vector<double> values) {
  ResultTable t;
  t.columns = std::move(cols);
  t.values = std::move(values);
  return t;
}

TEST(JudgeResults, ToleranceEdge) {
  // |C - U| <= Ta + Tr*|C| with C = 100, Ta = 1, Tr = 0.01: allowed difference exactly 2.
  const ResultTable expected = Table({"time", "S1"}, {0.0, 100.0});
  EXPECT_EQ(JudgeResults(expected, Table({"time", "S1"}, {0.0, 102.0}), 1.0, 0.01), "");
  EXPECT_EQ(JudgeResults(expected, Table({"time", "S1"}, {0.0, 98.0}), 1.0, 0.01), "");
  const std::string over = JudgeResults(expected, Table({"time", "S1"}, {0.0, 102.01}), 1.0, 0.01);
  EXPECT_EQ(over, "time 0, S1: expected 100, got 102.01 (allowed difference 2)");
  // The relative part scales with the expected value, not the simulated one.
  EXPECT_NE(JudgeResults(Table({"time", "S1"}, {0.0, 0.0}), Table({"time", "S1"}, {0.0, 1e-6}),
                         1e-7, 0.5),
            "");
}

TEST(JudgeResults, NonFiniteValues) {
  const ResultTable expected = Table({"time", "N", "P", "M"}, {0.0, kNaN, kInfinity, -kInfinity});
  const std::vector<std::string> cols = {"time", "N", "P", "M"};
  EXPECT_EQ(JudgeResults(expected, Table(cols, {0.0, kNaN, kInfinity, -kInfinity}), 0, 0), "");
  EXPECT_NE(JudgeResults(expected, Table(cols, {0.0, 1.0, kInfinity, -kInfinity}), 1e9, 1), "");
  EXPECT_NE(JudgeResults(expected, Table(cols, {0.0, kNaN, -kInfinity, -kInfinity}), 1e9, 1), "");
  EXPECT_NE(JudgeResults(expected, Table(cols, {0.0, kNaN, 1e308, -kInfinity}), 1e9, 1), "");
  // A non-finite simulated value against a finite expected one fails, whatever the tolerance.
  const ResultTable finite = Table({"time", "S"}, {0.0, 1.0});
  EXPECT_NE(JudgeResults(finite, Table({"time", "S"}, {0.0, kNaN}), 1e9, 1e9), "");
  EXPECT_NE(JudgeResults(finite, Table({"time", "S"}, {0.0, kInfinity}), 1e9, 1e9), "");
}

TEST(JudgeResults, RowsAndColumnsMustAllBePresent) {
  const ResultTable expected = Table({"time", "S1", "S2"}, {0.0, 1.0, 2.0, 1.0, 1.0, 2.0});
  // Column order may differ; columns are matched by name.
  EXPECT_EQ(JudgeResults(expected, Table({"time", "S2", "S1"}, {0, 2, 1, 1, 2, 1}), 0, 0), "");
  EXPECT_EQ(JudgeResults(expected, Table({"time", "S1"}, {0, 1, 1, 1}), 0, 0), "missing column S2");
  EXPECT_EQ(JudgeResults(expected, Table({"time", "S1", "S2"}, {0, 1, 2}), 0, 0),
            "1 rows, expected 2");
  // Time values are not compared (the suite's rule).
  EXPECT_EQ(JudgeResults(expected, Table({"time", "S1", "S2"}, {9, 1, 2, 9, 1, 2}), 0, 0), "");
}

TEST(Report, CountsTagsAndListsCases) {
  std::vector<CaseResult> cases(3);
  cases[0] = {1, CaseOutcome::kPass, "", false, {"Species", "Amount"}, {}, 0.0};
  cases[1] = {2, CaseOutcome::kFail, "time 1, S: expected 1 | 2", false, {"Species"}, {}, 0.0};
  cases[2] = {3,  CaseOutcome::kUnsupported, "unsupported: delay()", false, {"CSymbolDelay"}, {},
              0.0};
  const auto tags = CountTags(cases);
  ASSERT_EQ(tags.size(), 3u);
  EXPECT_EQ(tags[0].tag, "Amount");
  EXPECT_EQ(tags[2].tag, "Species");
  EXPECT_EQ(tags[2].cases, 2);
  EXPECT_EQ(tags[2].pass, 1);
  EXPECT_EQ(tags[2].fail, 1);
  const auto failing = FailingTags(cases);
  ASSERT_EQ(failing.size(), 1u);
  EXPECT_EQ(failing[0], (std::pair<std::string, int>{"Species", 1}));

  EXPECT_EQ(CaseLine(cases[0]), "00001 pass");
  EXPECT_EQ(CaseLine(cases[2]), "00003 unsupported unsupported: delay()");
  SuiteResult r{cases, {1, 1, 1, 0, 1, 0.0}};
  const std::string md = MarkdownReport(r, SuiteOptions{});
  EXPECT_NE(md.find("| Species | 2 | 1 | 1 | 0 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 00002 | Species | time 1, S: expected 1 \\| 2 |"), std::string::npos);
  EXPECT_NE(md.find("| 00003 | CSymbolDelay | unsupported: delay() |"), std::string::npos);
  EXPECT_NE(md.find("rtol = min(1e-08, relative × 0.0001)"), std::string::npos);
}

TEST(RunSuite, MissingFolderIsNotFound) {
  auto r = RunSuite("/nonexistent/sbml-cases", SuiteOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  SuiteOptions bad;
  bad.threads = 0;
  EXPECT_EQ(RunSuite("/tmp", bad).status().code(), StatusCode::kInvalidArgument);
}

TEST(RunCase, FluxBalanceCaseIsUnsupported) {
  // 01186 is a FluxBalanceSteadyState case (fbc): refused before the model is read.
  const std::string dir = std::string(MEDTWIN_SHARED_DATA) + "/sbml-test-suite/cases/01186";
  const CaseResult r = RunCase(dir, 1186, SuiteOptions{});
  EXPECT_EQ(r.outcome, CaseOutcome::kUnsupported);
  EXPECT_EQ(r.reason, "testType FluxBalanceSteadyState");
  EXPECT_FALSE(r.crashed);
  EXPECT_NE(std::find(r.tags.begin(), r.tags.end(), "fbc:FluxBound"), r.tags.end());
}

TEST(RunCase, MissingFilesFailWithAReason) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "medtwin_suite_test" / "00042";
  fs::create_directories(dir);
  std::ofstream(dir / "00042-model.m") << "testTags: Amount\ntestType: TimeCourse\n";
  CaseResult r = RunCase(dir.string(), 42, SuiteOptions{});
  EXPECT_EQ(r.outcome, CaseOutcome::kFail);
  EXPECT_EQ(r.reason, "cannot read 00042-settings.txt");
  std::ofstream(dir / "00042-settings.txt")
      << "start: 0\nduration: 1\nsteps: 2\nvariables: S1\nabsolute: 1e-7\nrelative: 1e-4\n"
         "amount: S1\nconcentration:\n";
  std::ofstream(dir / "00042-results.csv") << "time,S1\n0,1\n0.5,1\n1,1\n";
  r = RunCase(dir.string(), 42, SuiteOptions{});
  EXPECT_EQ(r.outcome, CaseOutcome::kFail);
  EXPECT_EQ(r.reason, "no 00042-sbml-lXvY.xml in the case folder");

  // The whole folder through RunSuite: the callback sees the case, totals add up.
  std::vector<int> seen;
  auto suite = RunSuite(dir.parent_path().string(), SuiteOptions{},
                        [&](const CaseResult& c) { seen.push_back(c.number); });
  ASSERT_TRUE(suite.ok()) << suite.status().ToString();
  EXPECT_EQ(seen, std::vector<int>{42});
  EXPECT_EQ(suite->summary.fail, 1);
  EXPECT_EQ(suite->summary.total(), 1);
  SuiteOptions other;
  other.cases = {7};
  EXPECT_EQ(RunSuite(dir.parent_path().string(), other).status().code(), StatusCode::kNotFound);
  fs::remove_all(dir.parent_path());
}

TEST(RunSuite, ThreadsKeepCaseOrderAndCasesFilter) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "medtwin_suite_order_test";
  fs::remove_all(root);
  for (int n = 1; n <= 40; ++n) {
    char name[8];
    std::snprintf(name, sizeof name, "%05d", n);
    fs::create_directories(root / name);
    std::ofstream(root / name / (std::string(name) + "-model.m"))
        << "testType: " << (n % 3 == 0 ? "TimeCourse" : "FluxBalanceSteadyState") << "\n";
  }
  fs::create_directories(root / "notacase");
  SuiteOptions opt;
  opt.threads = 4;
  std::vector<int> seen;
  auto r = RunSuite(root.string(), opt, [&](const CaseResult& c) { seen.push_back(c.number); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(seen.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(seen[i], i + 1);
  EXPECT_EQ(r->cases[2].outcome, CaseOutcome::kFail);  // 00003: TimeCourse without settings
  EXPECT_EQ(r->summary.fail, 13);
  EXPECT_EQ(r->summary.unsupported, 27);

  opt.cases = *ParseCaseList("3,5-6,41-45");
  r = RunSuite(root.string(), opt);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->cases.size(), 3u);
  EXPECT_EQ(r->cases[1].number, 5);
  EXPECT_EQ(r->summary.missing, 5);
  fs::remove_all(root);
}

}  // namespace
}  // namespace medtwin::sbml
