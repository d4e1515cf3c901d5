// Sequential data assimilation: a patient's state and parameters updated observation by
// observation (DOMAIN.md 5).
//
// Ensemble Kalman filter (stochastic, Evensen 2003, Ocean Dynamics 53:343): each member carries
// the model state and the random effects eta (log-scale parameters, so parameters stay
// positive), drawn at the start from the population prior. Between observations every member is
// simulated from its own analysed state under the dataset's doses (Simulator::Run with
// RunStart); at an observation the members' predictions give the one-step-ahead predictive
// distribution (reported before the value is used), then the augmented vector [state, eta] is
// updated with perturbed observations and the Kalman gain estimated from the ensemble, after an
// optional multiplicative inflation of the forecast anomalies. Observations at the same time are
// assimilated one after another.
//
// Thread safety: reentrant; each call owns its simulator and random generator.
#ifndef MEDTWIN_ASSIMILATE_H_
#define MEDTWIN_ASSIMILATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"
#include "medtwin/status.h"

namespace medtwin {

// kEnkf: the ensemble Kalman filter above. kMap: the comparator of refitting the MAP (with its
// Laplace posterior) on all levels so far at every observation; its one-step-ahead prediction
// samples the previous fit's Laplace posterior (the prior before the first level).
// kPf: bootstrap particle filter with systematic resampling and a Liu-West kernel on eta.
// kUkf: unscented Kalman filter on the Gaussian of [state, eta] (reported parameters at the
// mean of eta, i.e. the median of the log-normal).
enum class FilterMethod { kEnkf, kMap, kPf, kUkf };
const char* ToString(FilterMethod m);
Result<FilterMethod> FilterMethodFromString(const std::string& s);

struct AssimilationOptions {
  FilterMethod method = FilterMethod::kEnkf;
  int members = 64;  // > 1
  uint64_t seed = 1;
  double inflation = 1.0;     // multiplicative, on forecast anomalies, >= 1
  std::vector<double> theta;  // population typical values (spec order); empty = the spec's
  SimOptions sim;
  Status Validate() const;
};

// One assimilated observation.
struct AssimilationStep {
  int record = 0;
  double time = 0.0;
  int observable = 0;
  double dv = 0.0;
  // One-step-ahead predictive distribution of the observation (residual error included),
  // before it was seen: median and 5th / 95th percentiles.
  double pred = 0.0, pred_lo = 0.0, pred_hi = 0.0;
  // How surprising DV was under that distribution: its normal score Phi^-1(P(Y <= DV)) (the
  // predictive CDF from the samples' mid-ranks, or the UKF's Gaussian). |z| > 3 happens about
  // once in 370 well-predicted observations; anomaly detectors read this.
  double z = 0.0;
  std::vector<double> parameters;  // after the update: median individual value per variability
                                   // parameter (variability order)
  std::vector<double> state_mean;  // after the update: ensemble mean of the model state (EnKF)
};

// Assimilates the observations (EVID 0 rows with a DV; CENS rows are refused) of subject
// `subject_index` in time order. Errors name the subject and the record's line.
Result<std::vector<AssimilationStep>> AssimilateSubject(const Model& model, const Dataset& data,
                                                        size_t subject_index,
                                                        const AssimilationOptions& options);

}  // namespace medtwin

#endif  // MEDTWIN_ASSIMILATE_H_
