// Individual estimation: a patient's parameters from their own data under the model's
// population prior (maximum a posteriori), or from the data alone (maximum likelihood), with
// Laplace and sampling-importance-resampling uncertainty.
//
// The objective is NONMEM-style -2 log posterior over the random effects eta of the model's
// variability (DOMAIN.md 3.2):
//   OFV(eta) = sum_j [ (y_j - f_j)^2 / s_j^2 + ln(2 pi s_j^2) ]        observed levels
//            + sum_k [ -2 ln Phi((LLOQ_k - f_k) / s_k) ]                levels below the limit (M3)
//            + eta' Omega^-1 eta + ln|2 pi Omega|                      prior (absent with kNone)
// with f the model's prediction of the record's observable (DVID), s its residual SD at f
// (an exponential error model works on the log scale). Individual parameters are
// Individualize(typical, eta, covariates), so covariate models apply as in simulation.
//
// Gradients for the optimiser (FitOptions::gradient): with kAuto, d OFV/d eta is assembled from
// the simulator's forward sensitivities of the predictions (include/medtwin/simulator.h: CVODES
// on the ODE path, exact on the closed-form path) where they are available: no steady-state
// dosing on a nonlinear model, no model events or delays. Elsewhere central finite differences
// of OFV are used, and SubjectFit::gradient says which (and the path) and why.
//
// Thread safety: the functions are reentrant; each call owns its simulator.
#ifndef MEDTWIN_ESTIMATE_H_
#define MEDTWIN_ESTIMATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"
#include "medtwin/status.h"

namespace medtwin {

enum class PriorKind { kPopulation, kNone };
const char* ToString(PriorKind p);
Result<PriorKind> PriorKindFromString(const std::string& s);

// How the optimiser gets d OFV/d eta: kAuto = forward sensitivities where available, else
// central finite differences (step 1e-5 in eta); kFiniteDifference = always finite differences.
enum class GradientMethod { kAuto, kFiniteDifference };
const char* ToString(GradientMethod g);
Result<GradientMethod> GradientMethodFromString(const std::string& s);

struct FitOptions {
  PriorKind prior = PriorKind::kPopulation;
  // Residual error per observable (model order) replacing the model's; empty = the model's.
  std::vector<ResidualError> error;
  std::vector<double> theta;  // population typical values (spec order); empty = the spec's
  SimOptions sim;
  int max_evaluations = 20000;  // objective evaluations for the optimiser, > 0
  double xtol = 1e-9;           // optimiser stop: change of every eta below this, > 0
  GradientMethod gradient = GradientMethod::kAuto;
  // Where the optimiser starts (variability order, |eta| < 10); empty = eta 0, the typical
  // patient. A twin refitting as data arrive starts from its previous estimate.
  std::vector<double> initial_eta;
  // Step in eta of the central differences (gradients without sensitivities, the Laplace
  // Hessian), [0, 1). 0: 1e-5 for gradients, 2e-3 for the Hessian, for objectives smooth to
  // near rounding (tight tolerances). An objective with integration noise eps (absolute, in OFV)
  // needs a larger step: the difference's error is about eps / step (gradient) and
  // 4 eps / step^2 (Hessian); e.g. 1e-2 for cvs_ursino1998 on erk at 1e-8 (eps about 5e-4).
  // Set (> 0), it also declares the objective noisy: a point where the line search stalls is
  // accepted as the mode if a Newton step from it would lower OFV by less than 5e-4 (eta within
  // about 0.02 posterior SD of the optimum; otherwise 5e-9).
  double difference_step = 0.0;
  // Sampling-importance-resampling (Tucuxi's scheme, DOMAIN.md 3.4): proposals from a
  // multivariate Student-t with 1 degree of freedom around the MAP with the Laplace covariance,
  // draws beyond 6 SD rejected, weighted by posterior / proposal, resampled. 0 = no SIR.
  int sir_proposals = 0;
  int sir_resamples = 1000;
  // Markov chain Monte Carlo (for posteriors far from Gaussian, e.g. one level and three
  // parameters): random-walk Metropolis on eta from the MAP, proposal covariance the Laplace
  // covariance scaled by 2.38^2/n and adapted to the chain's own covariance during burn-in
  // (Haario et al. 2001); `mcmc_samples` kept after `mcmc_burn_in`, every `mcmc_thin`-th. 0 = none.
  int mcmc_samples = 0;
  int mcmc_burn_in = 2000;
  int mcmc_thin = 5;
  uint64_t seed = 1;
  Status Validate() const;
};

// One fitted observation.
struct FittedObservation {
  int record = 0;  // index in the subject's records
  double time = 0.0;
  int observable = 0;
  double dv = 0.0;
  bool censored = false;  // dv is the quantification limit
  double pred = 0.0;      // population prediction (eta = 0)
  double ipred = 0.0;     // individual prediction at the estimate
  double res = 0.0;       // dv - ipred
  double iwres = 0.0;     // res / residual SD at ipred (log scale for exponential); NaN if censored
};

struct SubjectFit {
  std::string id;
  std::vector<double> eta;         // variability order
  std::vector<double> parameters;  // individual parameters (spec order) at the first record
  // Laplace: covariance of eta (row-major, n x n) = inverse of half the Hessian of OFV.
  std::vector<double> covariance;
  double objective = 0.0;        // OFV at the estimate
  int evaluations = 0;           // objective evaluations used by the optimiser (finite-difference
                                 // gradients included; one per point with sensitivities)
  int gradient_evaluations = 0;  // points where L-BFGS asked for OFV and gradient (its
                                 // iterations and line-search steps)
  std::string gradient;          // how gradients were computed, and why if by finite differences
  bool converged = false;
  std::string stop_reason;
  double condition_number = 0.0;      // of the Hessian at the estimate
  std::vector<std::string> warnings;  // e.g. all levels below the limit: the prior dominates
  std::vector<FittedObservation> observations;
  std::vector<double> sir_draws;    // sir_resamples x n etas, row-major (empty without SIR)
  double sir_effective_size = 0.0;  // Kish effective sample size of the importance weights
  std::vector<double> mcmc_draws;   // mcmc_samples x n etas, row-major (empty without MCMC)
  double mcmc_acceptance = 0.0;     // fraction of proposals accepted after burn-in
};

struct DatasetFit {
  std::vector<SubjectFit> subjects;
  // Eta shrinkage per variability parameter: 1 - SD(eta estimates) / omega SD (population
  // prior only; NaN with fewer than two subjects).
  std::vector<double> shrinkage;
};

// Fits subject `subject_index` of `data` (read for `model`). Errors name the subject and, where
// one is at fault, the record's line: no observations, an observation the model predicts as 0
// under a proportional error, parameters the data cannot identify (singular Hessian, naming the
// parameters), a numerical failure with the solver's message.
Result<SubjectFit> FitSubject(const Model& model, const Dataset& data, size_t subject_index,
                              const FitOptions& options);
Result<DatasetFit> FitDataset(const Model& model, const Dataset& data, const FitOptions& options);

// -2 log posterior (the objective above) at `eta` for one subject; for tests and tools.
Result<double> SubjectObjective(const Model& model, const Dataset& data, size_t subject_index,
                                const FitOptions& options, const std::vector<double>& eta);

}  // namespace medtwin

#endif  // MEDTWIN_ESTIMATE_H_
