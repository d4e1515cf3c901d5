// Shared CLI plumbing: the one table from Status codes to exit codes, option parsing helpers
// and table writers. Subcommands stay thin: parse, call the library, print.
#ifndef MEDTWIN_APPS_CLI_COMMON_H_
#define MEDTWIN_APPS_CLI_COMMON_H_

#include <CLI/CLI.hpp>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "medtwin/model.h"
#include "medtwin/simulator.h"
#include "medtwin/status.h"

namespace medtwin::cli {

// Exit codes: 0 success, 1 internal error, 2 usage or input error, 3 numerical failure.
int ExitCode(const Status& status);
// Prints "medtwin: <message>" to stderr and returns the exit code.
int Fail(const Status& status);

// Typical values of `model` with NAME=VALUE overrides applied (unknown names are errors).
Result<std::vector<double>> ThetaWithOverrides(const Model& model,
                                               const std::vector<std::string>& overrides);
// "START:STEP:END" in hours -> the grid START, START+STEP, ..., <= END.
Result<std::vector<double>> ParseTimeGrid(const std::string& spec);
// "5,50,95" -> {5, 50, 95}.
Result<std::vector<double>> ParseNumberList(const std::string& spec, const std::string& option);

// Solver options shared by simulate and population.
struct SolverFlags {
  std::string method = "bdf";
  std::string path = "auto";
  std::string covariates = "nocb";
  double rtol = 1e-8;
  double atol = 1e-10;
  void Add(CLI::App* app);
  Result<SimOptions> ToOptions() const;
};

// Output stream for --out (stdout when empty).
struct Sink {
  std::unique_ptr<std::ostream> file;
  std::ostream* os = nullptr;
};
Result<Sink> OpenSink(const std::string& path);

void SetupModels(CLI::App& app, int* exit_code);
void SetupSimulate(CLI::App& app, int* exit_code);
void SetupPopulation(CLI::App& app, int* exit_code);

}  // namespace medtwin::cli

#endif  // MEDTWIN_APPS_CLI_COMMON_H_
