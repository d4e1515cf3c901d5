// `medtwin sbml-test CASES_DIR [--cases 1-1821] [--report FILE] [--out-dir DIR] [--threads T]`:
// runs SBML Test Suite semantic cases and judges them with the suite's rule. Prints one line
// per case in case order, then totals and the tags of failing cases. Exit 0 when the suite ran
// (even with failures), 2 for usage errors.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli_common.h"
#include "sbml/test_suite.h"  // the medtwin target has no src/ include path

namespace medtwin::cli {
namespace {

struct SbmlTestArgs {
  std::string cases_dir, cases, report, out_dir;
  int threads = 1;
};

// --out-dir: NNNNN-results.csv per simulated case, in the suite's own format.
Status WriteCaseResults(const std::string& dir, const sbml::CaseResult& c) {
  if (c.simulated.columns.empty()) return Status::Ok();
  char name[32];
  std::snprintf(name, sizeof name, "%05d-results.csv", c.number);
  const std::string path = (std::filesystem::path(dir) / name).string();
  return WriteOutput(path, [&](std::ostream& os) { os << sbml::FormatResults(c.simulated); });
}

void PrintTotals(const sbml::SuiteResult& r) {
  const sbml::SuiteSummary& s = r.summary;
  std::printf("pass %d, fail %d, unsupported %d, total %d (%.1f s wall, %d threads)\n", s.pass,
              s.fail, s.unsupported, s.total(), s.wall_time_s, s.threads);
  if (s.missing > 0) std::printf("%d requested cases have no folder\n", s.missing);
  std::vector<const sbml::CaseResult*> slow;
  for (const auto& c : r.cases) slow.push_back(&c);
  const size_t n = std::min<size_t>(3, slow.size());
  std::partial_sort(slow.begin(), slow.begin() + n, slow.end(),
                    [](auto* a, auto* b) { return a->wall_time_s > b->wall_time_s; });
  std::printf("slowest:");
  for (size_t i = 0; i < n; ++i) {
    std::printf("%s %05d %.2f s", i ? "," : "", slow[i]->number, slow[i]->wall_time_s);
  }
  std::printf("\n");
  const auto tags = sbml::FailingTags(r.cases);
  if (tags.empty()) return;
  std::printf("tags of failing cases:");
  for (size_t i = 0; i < tags.size(); ++i) {
    std::printf("%s %s %d", i ? "," : "", tags[i].first.c_str(), tags[i].second);
  }
  std::printf("\n");
}

Status PrepareOptions(const SbmlTestArgs& a, sbml::SuiteOptions* opt) {
  if (!a.cases.empty()) {
    auto cases = sbml::ParseCaseList(a.cases);
    if (!cases.ok()) return cases.status();
    opt->cases = *cases;
  }
  if (a.threads < 1)
    return Status::Invalid("--threads " + std::to_string(a.threads) + ": expected >= 1");
  opt->threads = a.threads;
  MEDTWIN_RETURN_IF_ERROR(opt->Validate());
  if (!a.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(a.out_dir, ec);
    if (ec) return Status::Invalid("--out-dir " + a.out_dir + ": " + ec.message());
  }
  return Status::Ok();
}

int Run(const SbmlTestArgs& a) {
  sbml::SuiteOptions opt;
  if (Status st = PrepareOptions(a, &opt); !st.ok()) return Fail(st);
  Status write_status;
  auto result = sbml::RunSuite(a.cases_dir, opt, [&](const sbml::CaseResult& c) {
    std::printf("%s\n", sbml::CaseLine(c).c_str());
    std::fflush(stdout);
    if (!a.out_dir.empty() && write_status.ok()) write_status = WriteCaseResults(a.out_dir, c);
  });
  if (!result.ok()) return Fail(result.status());
  PrintTotals(*result);
  if (!write_status.ok()) return Fail(write_status);
  if (!a.report.empty()) {
    return Fail(
        WriteOutput(a.report, [&](std::ostream& os) { os << sbml::MarkdownReport(*result, opt); }));
  }
  return 0;
}

}  // namespace

void SetupSbmlTest(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "sbml-test", "Run SBML Test Suite semantic cases and judge them with the suite's rule");
  auto a = std::make_shared<SbmlTestArgs>();
  cmd->add_option("CASES_DIR", a->cases_dir, "folder of case folders NNNNN (cases/semantic)")
      ->required();
  cmd->add_option("--cases", a->cases, "case numbers, e.g. 1-100,205,300-310 (default: all)");
  cmd->add_option("--report", a->report, "write a Markdown report to this file");
  cmd->add_option("--out-dir", a->out_dir, "write NNNNN-results.csv per simulated case here");
  cmd->add_option("--threads", a->threads, "worker threads")->capture_default_str();
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace medtwin::cli
