// Shared CLI plumbing: the one table from Status codes to exit codes, option parsing helpers
// and table writers. Subcommands stay thin: parse, call the library, print.
#ifndef MEDTWIN_APPS_CLI_COMMON_H_
#define MEDTWIN_APPS_CLI_COMMON_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"
#include "medtwin/status.h"

namespace medtwin::cli {

// Exit codes: 0 success, 1 internal error, 2 usage or input error, 3 numerical failure.
int ExitCode(const Status& status);
// Prints "medtwin: <message>" to stderr and returns the exit code (0, silently, for OK).
int Fail(const Status& status);

// A built-in model by name, or an SBML file (a name ending in .xml or .sbml).
Result<std::unique_ptr<Model>> LoadModel(const std::string& name);

// Typical values of `model` with NAME=VALUE overrides applied (unknown names are errors).
Result<std::vector<double>> ThetaWithOverrides(const Model& model,
                                               const std::vector<std::string>& overrides);
// `base` (spec order) with NAME=VALUE overrides applied.
Result<std::vector<double>> ApplyOverrides(const Model& model, std::vector<double> base,
                                           const std::vector<std::string>& overrides);
// "START:STEP:END" in hours -> the grid START, START+STEP, ..., <= END.
Result<std::vector<double>> ParseTimeGrid(const std::string& spec);
// One number formatted by a printf format with a single double conversion, e.g. Fmt("%.4g", v).
std::string Fmt(const char* format, double v);
// "5,50,95" -> {5, 50, 95}.
Result<std::vector<double>> ParseNumberList(const std::string& spec, const std::string& option);

// Solver options shared by simulate and population.
struct SolverFlags {
  std::string method = "bdf";
  std::string path = "auto";
  std::string covariates = "nocb";
  double rtol = 1e-8;
  double atol = 1e-10;
  // method_flag: the CVODES method option's name (`--ode-method` where --method means else).
  void Add(CLI::App* app, const std::string& method_flag = "--method");
  Result<SimOptions> ToOptions() const;
};

// Options shared by simulate and population: MODEL, --data, --param, --params-file,
// --params-set, --times, solver flags. A parameter set from a table replaces the typical values;
// --param overrides apply on top of it.
struct CommonArgs {
  std::string model, data, times, params_file, params_set;
  std::vector<std::string> params;
  SolverFlags solver;
  void Add(CLI::App* app, const std::string& data_help, bool with_times = true,
           const std::string& method_flag = "--method");
};

// Everything a run needs, parsed and validated; the dataset is read last, so option errors are
// reported before any file is opened. Without --times, the dataset's observation rows are output.
struct RunInputs {
  std::unique_ptr<Model> model;
  std::vector<double> theta;
  SimOptions sim;
  OutputRequest request;
  Dataset data;
};
Result<RunInputs> PrepareInputs(const CommonArgs& args);

// Writes to --out (stdout when empty or "-") with `write`, then checks the stream.
Status WriteOutput(const std::string& path, const std::function<void(std::ostream&)>& write);

void SetupModels(CLI::App& app, int* exit_code);
void SetupSimulate(CLI::App& app, int* exit_code);
void SetupPopulation(CLI::App& app, int* exit_code);
void SetupSbmlTest(CLI::App& app, int* exit_code);
void SetupFit(CLI::App& app, int* exit_code);
void SetupForecast(CLI::App& app, int* exit_code);
void SetupAssimilate(CLI::App& app, int* exit_code);
void SetupServe(CLI::App& app, int* exit_code);
void SetupDose(CLI::App& app, int* exit_code);
void SetupWhatIf(CLI::App& app, int* exit_code);

}  // namespace medtwin::cli

#endif  // MEDTWIN_APPS_CLI_COMMON_H_
