// Reading fit.json (written by `medtwin fit`) back into the model and the individual
// posteriors that forecasts and dose searches start from.
#ifndef MEDTWIN_APPS_FIT_FILE_H_
#define MEDTWIN_APPS_FIT_FILE_H_

#include <map>
#include <memory>
#include <string>

#include "medtwin/decide.h"
#include "medtwin/model.h"

namespace medtwin::cli {

struct FitFile {
  std::string model_name;
  std::unique_ptr<Model> model;
  std::map<std::string, IndividualPosterior> posteriors;  // by ID
};

// Errors name the file and the JSON field that is missing or malformed.
Result<FitFile> ReadFitFile(const std::string& path);

// Median and percentile-band labels: 5 -> "P5", 2.5 -> "P2.5".
std::string PercentileLabel(double q);

}  // namespace medtwin::cli

#endif  // MEDTWIN_APPS_FIT_FILE_H_
