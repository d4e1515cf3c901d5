// Shared by the sequential filters of include/medtwin/assimilate.h (assimilate.cc and one
// file per filter: assimilate_ensemble.cc, assimilate_unscented.cc, assimilate_map.cc): the
// forecast, scoring and snapshot helpers and FilterBase. Internal to src/estimate.
#ifndef MEDTWIN_ESTIMATE_ASSIMILATE_INTERNAL_H_
#define MEDTWIN_ESTIMATE_ASSIMILATE_INTERNAL_H_

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "medtwin/assimilate.h"
#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"
#include "medtwin/status.h"

namespace medtwin::assimilate_internal {

// Quantile q of samples: linear interpolation between order statistics at positions q (m - 1)
// (0-based), or, with plotting positions, at q (m + 1) (1-based; "type 6" of Hyndman & Fan
// 1996), clamped to the smallest and largest sample. For m exact draws the 5-95 % interval of
// the former covers 0.9 (m - 1)/(m + 1) in expectation, of the latter 0.9 (E F(x_(k)) =
// k / (m + 1)).
double Quantile(std::vector<double> v, double q, bool plotting_positions = false);

std::string Line(const Subject& s, int r);

// Phi^-1(p) for p in [1e-300, 1 - 1e-16]: Newton's method on the normal CDF from the tail
// approximation sqrt(-2 ln p), to double precision in a few steps.
double NormalQuantile(double p);

// The normal score of y under the predictive mixture of the members' predictions h (log scale
// for exponential error) with weights w: z = Phi^-1(sum_i w_i P(Y <= y | h_i)). Each term uses
// the residual error at h_i, so the score stays accurate far into the tails (sample ranks would
// saturate at |z| ~ 2.4 with 64 members). The smaller tail is summed directly (no 1 - F).
double MixtureScore(const Eigen::VectorXd& h, const std::vector<double>& w,
                    const ResidualError& err, double dv);

// Median and 90 % interval from samples of the predictive distribution.
void Summarize(const std::vector<double>& predictive, bool plotting_positions,
               AssimilationStep* step);

// An assimilation step for observation record r, its prediction still to be filled in.
AssimilationStep StepFor(const Record& rec, int r);

// The initial state of a row whose state columns hold log factors u (model error before the
// first observation): the model's initial state at the first record's covariates (as the
// simulator computes it) times exp(u), in place.
Status FactoredInitialState(const Model& model, const std::vector<double>& theta,
                            const std::vector<double>& eta, const Subject& subject,
                            std::vector<double>* x);

// Forecasts every row of z ([state (n), eta]) to observation record r of the subject: from the
// start of the run when `previous` < 0 (the state columns are then ignored, or with `factors`
// are log factors on the initial state), else from the row's state right after record
// `previous`. Writes the state at r into z and the predictions of every observable at r into
// obs (rows x observables, each on its assimilation scale: log for an exponential error model;
// NaN where a log-scale observable other than r's is not positive). `what` names a row in
// messages ("member"). With `failed`, a row whose simulation fails numerically is listed there
// (with its error) and its predictions set to NaN, its state left as it was; without, the
// first failure is returned.
struct RowFailure {
  int row;
  Status status;
};
Status ForecastRows(Simulator* sim, const Dataset& data, size_t subject_index, int r, int previous,
                    const std::vector<double>& theta, int n, const char* what, Eigen::MatrixXd* z,
                    Eigen::MatrixXd* obs, bool factors = false,
                    std::vector<RowFailure>* failed = nullptr);

// The columns of `all` (predictions of every observable) that are finite for every row, and
// their observable indices. The filters carry these predictions along with [state, eta] so that
// further observations at the same time are updated from the same forecast.
Eigen::MatrixXd UsableObservables(const Eigen::MatrixXd& all, std::vector<int>* which);

// Quantile q of values with weights (summing to 1): the smallest value whose cumulative weight
// reaches q.
double WeightedQuantile(const std::vector<double>& v, const std::vector<double>& w, double q);

// Median individual parameters and weighted mean state of the members after an update.
Status Report(const Model& model, const std::vector<double>& theta, const Record& rec,
              const Eigen::MatrixXd& z, const std::vector<double>& weights, int n,
              AssimilationStep* step);

// Model error (AssimilationOptions::state_noise_sd, eta_noise_sd) over dt on the ensemble's
// starting rows [state, eta]: a random walk of each log state (of its log factor while
// `factors`, before the first observation) and of each eta, variance sd^2 dt, applied at the
// start of the forecast so that the observation at its end sees it through the dynamics
// (x_k = M(x_{k-1} exp(w_k)): the stochastic model error of the ensemble forecast, Evensen
// 2003, Ocean Dynamics 53:343, here in log space so positive states stay positive; eta's walk
// is the artificial parameter evolution of Kitagawa 1998 and Liu & West 2001). Draws only for
// positive SDs.
void AddProcessNoise(const AssimilationOptions& o, int n, double dt, bool factors,
                     Eigen::MatrixXd* z, std::mt19937_64* rng,
                     std::normal_distribution<double>* normal);

// The UKF's counterpart on the covariance of [state, eta] with mean `mean`: eta and log
// factors gain sd^2 dt; a state gains the variance of mean exp(w), mean^2 (exp(sd^2 dt) - 1).
void AddProcessCovariance(const AssimilationOptions& o, int n, double dt, bool factors,
                          const Eigen::VectorXd& mean, Eigen::MatrixXd* cov);

bool AnyPositive(const std::vector<double>& v);

// The exact transition over dt >= 0 of a second-order correlated error (CorrelatedError, order
// 2) in its components x = [u, tau u']: x' = phi x + root xi, xi ~ N(0, I). phi = exp(A dt)
// (Eigen's matrix exponential: one formula for under-, critically and overdamped, where closed
// forms differ), and as the stationary covariance is I the transition's covariance is
// q = I - phi phi^T (the Lyapunov equation; Van Loan's 1978 integral gives the same), whose
// lower Cholesky factor `root` is taken with zero pivots allowed (q = 0 at dt = 0).
struct SmoothTransition {
  Eigen::Matrix2d phi, q, root;
};
SmoothTransition SecondOrderTransition(const CorrelatedError& c, double dt);

// ---------------------------------------------------------------------------------------------
// Snapshots: JSON with every double written as its shortest round-trip decimal (nlohmann), the
// random generators as their standard stream representation.

template <typename T>
std::string StreamText(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

template <typename T>
Status FromStreamText(const nlohmann::json& j, const char* key, T* v) {
  if (!j.contains(key) || !j[key].is_string()) {
    return Status::Invalid(std::string("snapshot: '") + key + "' is missing or not text");
  }
  std::istringstream is(j[key].get<std::string>());
  is >> *v;
  if (is.fail()) return Status::Invalid(std::string("snapshot: '") + key + "' is malformed");
  return Status::Ok();
}

// The model-error lists of AssimilationOptions (const or not) by field name.
template <typename Options>
auto ModelErrorOptions(Options& o) {
  using List = decltype(&o.initial_state_sd);
  return std::array<std::pair<const char*, List>, 3>{{{"initial_state_sd", &o.initial_state_sd},
                                                      {"state_noise_sd", &o.state_noise_sd},
                                                      {"eta_noise_sd", &o.eta_noise_sd}}};
}

nlohmann::json SaveSim(const SimOptions& o);

Result<SimOptions> LoadSim(const nlohmann::json& j);

nlohmann::json SaveMatrix(const Eigen::MatrixXd& m);

Result<Eigen::MatrixXd> LoadMatrix(const nlohmann::json& j, const char* key, Eigen::Index rows,
                                   Eigen::Index cols);

// The Gaussian of [state, eta] drawn as `count` rows (state columns zero before the first level,
// when the state is not yet part of the Gaussian).
FilterSample GaussianSample(const Eigen::VectorXd& mean, const Eigen::MatrixXd& cov, int n,
                            int previous, int count, uint64_t seed);

// What every filter shares: the model, options, typical values, a simulator, the generator and
// the last assimilated record.
class FilterBase : public SequentialFilter {
 public:
  FilterBase(const Model& model, const AssimilationOptions& options)
      : model_(model),
        options_(options),
        theta_(options.theta.empty() ? model.spec().TypicalValues() : options.theta),
        n_(model.num_states()),
        q_(static_cast<int>(model.spec().variability.parameters.size())),
        sim_(std::make_unique<Simulator>(model, options.sim)),
        rng_(options.seed) {
    for (const CorrelatedError& c : options.correlated_errors) {
      correlated_.push_back(model.spec().ObservableIndex(c.observable));
      column_.push_back(n_ + q_ + k_);
      k_ += c.order;
    }
  }

  int last_record() const override { return previous_; }
  const AssimilationOptions& options() const override { return options_; }

  std::string Snapshot() const override;

  // The state after options: generator, last record, then the method's own.
  Status Load(const nlohmann::json& j);

  Status Init() { return sim_->Init(); }

  // The model time from the start of the forecast to record r (from the first record before
  // the first observation).
  double Elapsed(const Subject& subject, int r) const {
    return subject.records[r].time_h - subject.records[std::max(previous_, 0)].time_h;
  }

  // Whether the innovation gate rejects the observation of `step`.
  bool Gated(const AssimilationStep& step) const {
    return options_.gate_z > 0.0 && std::abs(step.z) > options_.gate_z;
  }

 protected:
  virtual void SaveState(nlohmann::json* j) const = 0;
  virtual Status LoadState(const nlohmann::json& j) = 0;

  // The position of record r's observable among the predictions carried from the last forecast,
  // or -1 when r must be forecast: it is not at the time of the last assimilated record, other
  // records (doses, covariate changes) lie between them, or its observable is not carried.
  int CachedColumn(const Subject& subject, int r) const;

  // Checks that record r is an observation this filter can take next.
  Status CheckRecord(const Dataset& data, size_t subject_index, int r) const;

  // Correlated residual errors (AssimilationOptions::correlated_errors): their components are
  // the columns [n_ + q_, n_ + q_ + k_) of the members (of the UKF's Gaussian), error j's from
  // column_[j] (u, then tau u' for order 2), each of unit variance when stationary.

  // The residual error left white for observable k: the model's, its SDs scaled by
  // sqrt(1 - fraction) when part of it is correlated (Sd(f) scales with them).
  ResidualError WhiteError(int k) const;

  // The gap from the last assimilated record (from time 0 before it) to record r, over which
  // the correlated errors are propagated.
  double Gap(const Subject& subject, int r) const {
    const double t0 = previous_ >= 0 ? subject.records[previous_].time_h : 0.0;
    return subject.records[r].time_h - t0;
  }

  // Forecasts rows z = [state, eta, u] to record r (ForecastRows on [state, eta]) and adds each
  // row's correlated error sqrt(fraction) s(f) u to its prediction of the observable.
  // `failed` as for ForecastRows.
  Status ForecastMembers(const Dataset& data, size_t subject_index, int r, const char* what,
                         Eigen::MatrixXd* z, Eigen::MatrixXd* all,
                         std::vector<RowFailure>* failed = nullptr) const;

  const Model& model_;
  AssimilationOptions options_;
  std::vector<double> theta_;
  int n_, q_;
  int k_ = 0;                    // columns of the correlated residual errors
  std::vector<int> correlated_;  // their observables
  std::vector<int> column_;      // their first columns
  std::unique_ptr<Simulator> sim_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_;
  int previous_ = -1;
  // Observables whose predictions at the time of record previous_ (from its forecast, updated
  // by the observations since) the method carries; empty: none.
  std::vector<int> cache_observables_;
  // Before the first observation the state columns hold log factors on the initial state
  // (initial-state spread or process noise), else they are unused.
  bool factors_ = AnyPositive(options_.initial_state_sd) || AnyPositive(options_.state_noise_sd);
};

// The filters (MakeBase in assimilate.cc validates the options and calls Init): ensemble
// (EnKF, EnSRF, PF) with the Cholesky factor of omega, unscented, MAP refit.
std::unique_ptr<FilterBase> MakeEnsembleFilter(const Model& model,
                                               const AssimilationOptions& options,
                                               const Eigen::MatrixXd& prior_factor);
std::unique_ptr<FilterBase> MakeUnscentedFilter(const Model& model,
                                                const AssimilationOptions& options);
std::unique_ptr<FilterBase> MakeMapRefitFilter(const Model& model,
                                               const AssimilationOptions& options);

}  // namespace medtwin::assimilate_internal

#endif  // MEDTWIN_ESTIMATE_ASSIMILATE_INTERNAL_H_
