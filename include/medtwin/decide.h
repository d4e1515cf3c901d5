// Decisions from an individual posterior: forecasts with prediction intervals under any regimen.
//
// A posterior is a set of random-effect draws for one patient: the MCMC or SIR draws of a fit,
// or draws from its Laplace approximation N(mode, covariance). A forecast simulates the regimen
// once per draw and reads percentiles per output row; observation intervals add the residual error
// (one draw of epsilon per simulated row), parameter intervals do not.
//
// Thread safety: reentrant; each call owns its simulator.
#ifndef MEDTWIN_DECIDE_H_
#define MEDTWIN_DECIDE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "medtwin/dataset.h"
#include "medtwin/estimate.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"
#include "medtwin/status.h"

namespace medtwin {

struct IndividualPosterior {
  std::vector<double> theta;         // population typical values (spec order)
  std::vector<ResidualError> error;  // per observable
  std::vector<double> mode;          // eta at the MAP (variability order)
  std::vector<double> covariance;    // Laplace covariance of eta (n x n)
  std::vector<double> draws;         // SIR draws (m x n); empty: sample the Laplace
  static IndividualPosterior FromFit(const SubjectFit& fit, std::vector<double> theta,
                                     std::vector<ResidualError> error);
};

enum class IntervalKind { kObservation, kParameter };

struct ForecastOptions {
  std::vector<double> percentiles = {5, 50, 95};  // each in [0, 100], increasing
  IntervalKind interval = IntervalKind::kObservation;
  int draws = 1000;  // simulated draws (taken from the SIR draws in turn, or sampled), > 0
  uint64_t seed = 1;
  SimOptions sim;
  OutputRequest request;  // which rows (default: the dataset's observation rows)
  Status Validate() const;
};

struct SubjectForecast {
  std::string id;
  std::vector<double> time;
  std::vector<int> record;  // source record, -1 for extra output times
  // quantiles[(row * num_observables + k) * num_percentiles + q]
  std::vector<double> quantiles;
  int num_percentiles = 0;
  double At(size_t row, int observable, int q, int num_observables) const {
    return quantiles[(row * num_observables + observable) * num_percentiles + q];
  }
};

// Forecast for subject `subject_index` of `regimen` (past and future doses; its covariates).
// Errors name the subject; a draw whose simulation fails is an error, not skipped.
Result<SubjectForecast> ForecastSubject(const Model& model, const Dataset& regimen,
                                        size_t subject_index, const IndividualPosterior& posterior,
                                        const ForecastOptions& options);

// The draws a forecast uses (m x n etas): the SIR draws cycled, or Laplace samples.
Result<std::vector<double>> PosteriorDraws(const IndividualPosterior& posterior, int m,
                                           uint64_t seed);

}  // namespace medtwin

#endif  // MEDTWIN_DECIDE_H_
