// A forecast chart as SVG, for clinicians: the prediction band and median over time, the
// measured levels, the doses, and the target range. One panel per patient, stacked.
#ifndef MEDTWIN_APPS_SVG_PLOT_H_
#define MEDTWIN_APPS_SVG_PLOT_H_

#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace medtwin::cli {

struct PlotPanel {
  std::string title;  // e.g. "ID 17 - CP (mg/L)"
  std::vector<double> time, lower, median, upper;
  std::string band_label;  // e.g. "90 % prediction interval"
  struct Level {
    double time, value;
    bool censored;  // value is the quantification limit
  };
  std::vector<Level> levels;
  std::vector<std::pair<double, double>> doses;     // (time, amount)
  std::optional<std::pair<double, double>> target;  // (low, high)
  std::string time_unit, value_unit, dose_unit;
};

void WriteSvg(std::ostream& os, const std::vector<PlotPanel>& panels);

}  // namespace medtwin::cli

#endif  // MEDTWIN_APPS_SVG_PLOT_H_
