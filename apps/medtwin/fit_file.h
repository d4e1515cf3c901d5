// Reading fit.json (written by `medtwin fit`) back into the model and the individual
// posteriors that forecasts and dose searches start from.
#ifndef MEDTWIN_APPS_FIT_FILE_H_
#define MEDTWIN_APPS_FIT_FILE_H_

#include <map>
#include <memory>
#include <string>

#include "medtwin/decide.h"
#include "medtwin/model.h"
#include "svg_plot.h"

namespace medtwin::cli {

struct FitFile {
  std::string model_name;
  std::unique_ptr<Model> model;
  std::map<std::string, IndividualPosterior> posteriors;  // by ID
};

// Errors name the file and the JSON field that is missing or malformed.
Result<FitFile> ReadFitFile(const std::string& path);

// --target values (TargetFromString), errors in the context of the flag.
Result<std::vector<Target>> ParseTargets(const std::vector<std::string>& texts);

// Median and percentile-band labels: 5 -> "P5", 2.5 -> "P2.5".
std::string PercentileLabel(double q);

// A chart panel of subject `s` of `data` under its regimen: the median and the band between the
// outermost of o.percentiles (which must straddle 50) on a 400-point grid, the measured levels of
// the first observable and the doses. Shared by `medtwin forecast` and `medtwin dose`.
Result<PlotPanel> ForecastPanel(const Model& m, const Dataset& data, size_t s,
                                const IndividualPosterior& post, ForecastOptions o);

}  // namespace medtwin::cli

#endif  // MEDTWIN_APPS_FIT_FILE_H_
