// medtwin: command-line entry point. One file per subcommand (cmd_*.cc).
#include <CLI/CLI.hpp>

#include "cli_common.h"

int main(int argc, char** argv) {
  CLI::App app{
      "medtwin: mechanistic digital twins of patients (simulation engine and model library)"};
  app.require_subcommand(1);
  int exit_code = 0;
  medtwin::cli::SetupModels(app, &exit_code);
  medtwin::cli::SetupSimulate(app, &exit_code);
  medtwin::cli::SetupPopulation(app, &exit_code);
  medtwin::cli::SetupSbmlTest(app, &exit_code);
  medtwin::cli::SetupFit(app, &exit_code);
  medtwin::cli::SetupForecast(app, &exit_code);
  medtwin::cli::SetupAssimilate(app, &exit_code);
  medtwin::cli::SetupServe(app, &exit_code);
  medtwin::cli::SetupDose(app, &exit_code);
  medtwin::cli::SetupWhatIf(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // --help exits 0; every usage error exits 2
  }
  return exit_code;
}
