// A patient's twin (ARCHITECTURE.md [twin]): patient identity + model + covariates + the
// sequential filter's posterior (ensemble, particles or Gaussian) + the record of events and
// observations, kept in step observation by observation.
//
//   Apply(event)        a dose, infusion or meal (any dose record a dataset can hold), or a
//                       covariate change, at or after the last time the twin has seen;
//   Update(observation) assimilates it (include/medtwin/assimilate.h) and runs the residual
//                       monitor (include/medtwin/monitor.h): the step and any alerts;
//   Anomaly(observation) how surprising a value would be, without changing the twin;
//   Forecast(horizon, regimen) percentiles of every observable over the horizon from now,
//                       under the record plus future events, from the filter's posterior;
//   Snapshot / Restore  the whole twin as JSON text; a restored twin continues bit-for-bit as
//                       the one that never stopped.
// Data arriving out of time order (before the last observation assimilated) are refused with a
// message naming the time; the record is otherwise append-only.
//
// Thread safety: a Twin is not synchronised; one thread at a time (the server serialises per
// patient).
#ifndef MEDTWIN_TWIN_H_
#define MEDTWIN_TWIN_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "medtwin/assimilate.h"
#include "medtwin/dataset.h"
#include "medtwin/decide.h"
#include "medtwin/model.h"
#include "medtwin/monitor.h"
#include "medtwin/status.h"

namespace medtwin {

// A dose, infusion or meal: a dose record (EVID 1) of the model's datasets.
struct TwinEvent {
  double time = 0.0;        // model time unit
  std::string compartment;  // state name or 1-based number; empty: the default dose state
  double amount = 0.0;      // the state's unit, > 0
  double rate = 0.0;        // amount per model time unit; 0: bolus
};

struct TwinObservation {
  double time = 0.0;       // model time unit
  std::string observable;  // name; empty: the first
  double value = 0.0;      // the observable's unit
};

struct TwinOptions {
  std::string patient_id;                                  // not empty
  std::vector<std::pair<std::string, double>> covariates;  // by name; absent: reference values
  AssimilationOptions filter;
  MonitorOptions monitor;
  Status Validate() const;
};

struct TwinUpdate {
  AssimilationStep step;
  std::vector<Alert> alerts;
};

class Twin {
 public:
  // REQUIRES: model outlives the twin.
  static Result<std::unique_ptr<Twin>> Create(const Model& model, const TwinOptions& options);
  static Result<std::unique_ptr<Twin>> Restore(const Model& model, std::string_view snapshot);
  ~Twin();

  Status Apply(const TwinEvent& event);
  Status SetCovariates(double time, const std::vector<std::pair<std::string, double>>& values);
  Result<TwinUpdate> Update(const TwinObservation& observation);
  Result<AssimilationStep> Anomaly(const TwinObservation& observation);
  // Observables at `step`-spaced times over (now, now + horizon], now = the last time seen,
  // under the record plus `regimen` (future events, at or after now). options.request is
  // replaced by that grid; options.draws samples are drawn from the filter's posterior.
  Result<SubjectForecast> Forecast(double horizon, double step,
                                   const std::vector<TwinEvent>& regimen,
                                   const ForecastOptions& options) const;
  // What-if: each named regimen (future events, at or after now) added to the record and judged
  // on the window [now + options.window_start_h, now + options.window_end_h] (window relative to
  // now) over the same draws of the filter's posterior (medtwin::CompareRegimens).
  Result<std::vector<RegimenExposure>> CompareRegimens(
      const std::vector<std::pair<std::string, std::vector<TwinEvent>>>& regimens,
      const std::vector<Target>& targets, WhatIfOptions options) const;
  std::string Snapshot() const;
  // The filter's posterior as `draws` equally weighted samples (own generator, `seed`), in the
  // form the decide layer reads: forecasts continue from the sampled states after the last
  // assimilated record; OptimizeDose simulates the record from the start with the draws.
  Result<IndividualPosterior> Posterior(int draws, uint64_t seed) const;
  // The individual value of every variability parameter for each draw of `posterior` under the
  // current covariates: draws x parameters (variability order), row-major.
  Result<std::vector<double>> ParameterDraws(const IndividualPosterior& posterior) const;

  const std::string& patient_id() const { return options_.patient_id; }
  const Model& model() const { return model_; }
  const Dataset& record() const { return record_; }
  double last_time() const;

 private:
  Twin(const Model& model, TwinOptions options);
  // Validates one event row (CSV fields after ID) against the model and appends it.
  Status Append(const std::string& row, double time, const char* what);
  // The record plus `regimen`, validated as the twin's own events would be.
  Result<Dataset> WithRegimen(const std::vector<TwinEvent>& regimen) const;
  Result<std::string> ObservationRow(const TwinObservation& o) const;
  std::string Header() const;
  std::string CovariateFields() const;

  const Model& model_;
  TwinOptions options_;
  std::vector<double> covariates_;  // model covariate order, current values
  std::vector<std::string> rows_;   // the record as dataset rows, for snapshots
  Dataset record_;                  // one subject
  std::unique_ptr<SequentialFilter> filter_;
  ResidualMonitor monitor_;
};

}  // namespace medtwin

#endif  // MEDTWIN_TWIN_H_
