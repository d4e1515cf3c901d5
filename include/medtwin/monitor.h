// Twin-residual alerts (ARCHITECTURE.md [monitor]): how far each new observation departs from
// its twin's one-step-ahead prediction, as the normal score z the filter reports
// (include/medtwin/assimilate.h). Two detectors per observable:
//   - outlier: a single |z| above `outlier_z` (a mislabelled sample, a sudden event such as a
//     haemorrhage's first drop in pressure);
//   - drift: a two-sided CUSUM on z (Page 1954, Biometrika 41:100): S+ = max(0, S+ + z - k),
//     S- = max(0, S- - z - k), alarm when either exceeds h, then that sum restarts at 0. It finds
//     slow departures each too small to alarm on its own (a CGM sensor drifting). With k = 0.5
//     and h = 5 and N(0, 1) scores the in-control average run length is about 930
//     observations per side, about 465 for either (Montgomery, Introduction to Statistical
//     Quality Control, 6th ed., table 9.3); the false-alarm rate per day follows from the
//     observation rate, and the twin experiments measure it.
// Observations the filter's gate rejected feed the outlier detector only, so one bad value
// does not also trip the drift detector.
//
// Thread safety: a ResidualMonitor is a value; not synchronised.
#ifndef MEDTWIN_MONITOR_H_
#define MEDTWIN_MONITOR_H_

#include <string>
#include <vector>

#include "medtwin/status.h"

namespace medtwin {

struct MonitorOptions {
  double outlier_z = 4.0;  // > 0
  double cusum_k = 0.5;    // allowance, >= 0
  double cusum_h = 5.0;    // decision interval, > 0
  Status Validate() const;
};

// The decision interval h for which one side of the CUSUM above, on N(0, 1) scores with
// allowance k, has the in-control average run length `run_length` (observations), by
// Siegmund's approximation ARL = (exp(2kb) - 2kb - 1) / (2k^2) with b = h + 1.166 (b^2 when
// k = 0; Siegmund, Sequential Analysis, 1985; Montgomery 6th ed., section 9.1.8). For a budget
// of false drift alarms: run_length = observations per unit time / alarms allowed per unit
// time per side, e.g. CGM every 5 min (288 a day), one alarm a week from either side: 2 x 2016.
// kInvalidArgument unless k >= 0 and run_length > 1, or if h would not be positive.
Result<double> CusumDecisionInterval(double k, double run_length);

enum class AlertKind { kOutlier, kDriftUp, kDriftDown };
const char* ToString(AlertKind k);

struct Alert {
  double time = 0.0;  // model time unit
  int observable = 0;
  AlertKind kind = AlertKind::kOutlier;
  double score = 0.0;  // z for outliers, the CUSUM sum for drift
};

class ResidualMonitor {
 public:
  explicit ResidualMonitor(MonitorOptions options = {}, int num_observables = 1);
  // One observation's normal score; returns the alerts it raises (none, or one or two).
  std::vector<Alert> Observe(double time, int observable, double z, bool rejected);
  const MonitorOptions& options() const { return options_; }
  // The CUSUM sums, per observable: {S+, S-}; for snapshots.
  const std::vector<double>& sums() const { return sums_; }
  Status set_sums(std::vector<double> sums);

 private:
  MonitorOptions options_;
  std::vector<double> sums_;  // 2 per observable
};

}  // namespace medtwin

#endif  // MEDTWIN_MONITOR_H_
