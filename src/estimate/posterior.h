// The -2 log posterior of one subject's random effects (include/medtwin/estimate.h): the
// observations, the residual error models, the prior, and one simulator to predict with.
#ifndef MEDTWIN_ESTIMATE_POSTERIOR_H_
#define MEDTWIN_ESTIMATE_POSTERIOR_H_

#include <Eigen/Dense>
#include <memory>
#include <string>
#include <vector>

#include "medtwin/estimate.h"

namespace medtwin {

class Posterior {
 public:
  // Validates the subject for fitting (observations present, error models usable, omega
  // positive definite with a prior).
  static Result<std::unique_ptr<Posterior>> Make(const Model& model, const Dataset& data,
                                                 size_t subject_index, const FitOptions& options);

  int num_etas() const { return n_; }
  const std::string& subject_id() const { return data_.subjects[subject_].id; }
  const std::vector<FittedObservation>& observations() const { return obs_; }
  const Eigen::MatrixXd& omega() const { return omega_; }
  bool has_prior() const { return options_.prior == PriorKind::kPopulation; }
  // The residual error model in force for an observable (the model's, or the override).
  const ResidualError& error(int observable) const { return error_[observable]; }

  // OFV at eta (num_etas values). kInvalidArgument when the individual parameters are out of
  // the model's bounds (the optimiser treats that as infeasible).
  Result<double> Objective(const double* eta);
  // OFV at eta and its gradient d OFV/d eta (num_etas values into grad) from the forward
  // sensitivities of the predictions. kUnsupported, with the simulator's reason, where those
  // are not available (the caller then uses finite differences); other errors as Objective.
  Result<double> ObjectiveAndGradient(const double* eta, double* grad);
  // Predictions of every observation at eta, into observations()' order.
  Status Predict(const double* eta, std::vector<double>* f);
  // Predictions and their sensitivities df/deta (observations x num_etas, row-major).
  Status PredictWithSensitivities(const double* eta, std::vector<double>* f,
                                  std::vector<double>* df);
  // The simulation path of the last prediction (closed form or ODE).
  SimPath last_path() const { return last_path_; }
  // Individual parameters at the first record's covariates.
  Status Parameters(const double* eta, std::vector<double>* p) const;

 private:
  Posterior(const Model& model, const Dataset& data, size_t subject, const FitOptions& options);
  // One observation's contribution to OFV at prediction f, and (when dc_df is not null) its
  // derivative with respect to f; errors name the record's line.
  Result<double> Contribution(const FittedObservation& o, double f, double* dc_df = nullptr) const;
  // The prior term eta' Omega^-1 eta + ln|2 pi Omega| (0 without a prior).
  double Prior(const double* eta) const;

  const Model& model_;
  const Dataset& data_;
  size_t subject_;
  FitOptions options_;
  int n_ = 0;
  std::vector<double> theta_;
  std::vector<ResidualError> error_;
  Eigen::MatrixXd omega_, omega_inv_;
  double prior_constant_ = 0.0;  // ln|2 pi Omega|
  std::vector<FittedObservation> obs_;
  std::vector<int> obs_of_record_;  // per record: index into obs_, or -1
  std::unique_ptr<Simulator> sim_;
  OutputRequest request_;
  OutputRequest sens_request_;  // request_ with forward sensitivities
  SimPath last_path_ = SimPath::kAuto;
};

}  // namespace medtwin

#endif  // MEDTWIN_ESTIMATE_POSTERIOR_H_
