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
// assimilated one after another from one forecast: the members carry the predictions of every
// observable at the forecast time, updated with [state, eta], so a second observation at that
// time (MAP and HR of one monitor reading) is weighed against the updated prediction instead of
// a new run that would start at that instant.
//
// Square-root variant (kEnsrf, Whitaker & Hamill 2002, Mon Weather Rev 130:1913): the same
// gain, but the mean is updated with the observation itself and the anomalies with a reduced
// gain, so no perturbed observations are drawn and the analysed spread is exact for a linear
// observation. Observations are scalar and serial, so no matrix square root is needed.
// Localisation is not offered: it tapers covariances between distant grid points in
// geophysical models; a patient's state and parameters have no such distance, and with the
// default 64 members the sampling noise in the few (10-30) covariances is modest.
//
// SequentialFilter is the incremental engine: one observation at a time, over a subject's
// record that may grow between calls (a twin appends doses and observations), with snapshots
// that restore exactly. AssimilateSubject runs it over a whole dataset.
//
// Thread safety: reentrant; each filter owns its simulator and random generator.
#ifndef MEDTWIN_ASSIMILATE_H_
#define MEDTWIN_ASSIMILATE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"
#include "medtwin/status.h"

namespace medtwin {

// kEnkf: the ensemble Kalman filter above. kMap: the comparator of refitting the MAP (with its
// Laplace posterior) on all levels so far at every observation; its one-step-ahead prediction
// samples the previous fit's Laplace posterior (the prior before the first level).
// kPf: particle filter with progressive correction of sharp likelihoods, systematic resampling
// and a regularisation kernel (with Liu-West shrinkage) on [state, eta].
// kUkf: unscented Kalman filter on the Gaussian of [state, eta] (reported parameters at the
// mean of eta, i.e. the median of the log-normal).
// kEnsrf: the square-root ensemble filter above.
enum class FilterMethod { kEnkf, kMap, kPf, kUkf, kEnsrf };
const char* ToString(FilterMethod m);
Result<FilterMethod> FilterMethodFromString(const std::string& s);

// Correlated (coloured) residual error of one observable, by state augmentation (Bryson &
// Henrikson 1968, J Spacecraft Rockets 5(6); Gelb, Applied Optimal Estimation, 1974; Simon,
// Optimal State Estimation, 2006, sec. 7.2). The observable's residual error of SD s(f) (its
// model's error at the prediction f, on the assimilation scale: log for exponential error) is
// split with its total variance kept:
//   y = f + sqrt(fraction) s(f) u + sqrt(1 - fraction) s(f) w,   w ~ N(0, 1) white,
// u a stationary Gauss-Markov process of unit variance, carried as extra components of every
// member (EnKF, EnSRF: updated like a state; PF: carried and weighed) or of the UKF's Gaussian,
// and propagated exactly over any gap dt.
// order 1: u an Ornstein-Uhlenbeck process of correlation time tau, one component:
//   u' = u exp(-dt / tau) + sqrt(1 - exp(-2 dt / tau)) xi,   xi ~ N(0, 1);
//   autocorrelation exp(-|t| / tau).
// order 2: u a second-order Gauss-Markov process, smooth (differentiable), the damped
//   oscillator driven by white noise (Gelb 1974, ch. 3, the shaping filters of common random
//   processes; Brown & Hwang, Introduction to Random Signals and Applied Kalman Filtering, 4th
//   ed. 2012, ch. 2, "second-order Gauss-Markov process"):
//     u'' + 2 damping u' / tau + u / tau^2 = white noise (scaled so that u has unit variance),
//   natural time tau = 1 / omega_0 and damping ratio zeta = `damping` (1: critically damped,
//   autocorrelation exp(-|t|/tau) (1 + |t|/tau), Gelb's "second-order Markov"; < 1 under-,
//   > 1 overdamped). Two components x = [u, tau u'], each of unit variance and uncorrelated
//   when stationary; x' = Phi x + chol(I - Phi Phi^T) xi over dt, Phi = exp(A dt),
//   A = [[0, 1], [-1, -2 damping]] / tau (the stationary covariance is I, so the transition
//   noise is I - Phi Phi^T; Van Loan 1978, IEEE Trans Autom Control 23:395, gives the same).
// For an additive error model this is a correlated error of SD sigma_c = sqrt(fraction)
// additive_sd plus a white error of SD sqrt(1 - fraction) additive_sd. docs/assimilation.md gives
// the values for the Dexcom CGM noise model.
struct CorrelatedError {
  std::string observable;  // name of a model observable with a residual error
  double fraction = 0.0;   // share of the residual variance that is correlated, in (0, 1)
  double tau = 0.0;        // correlation time (order 1) or natural time 1/omega_0 (order 2),
                           // model time unit, > 0
  int order = 1;           // 1 (Ornstein-Uhlenbeck) or 2 (second-order Gauss-Markov)
  double damping = 1.0;    // order 2: damping ratio zeta, > 0; order 1: must stay 1
};

struct AssimilationOptions {
  FilterMethod method = FilterMethod::kEnkf;
  int members = 64;  // > 1
  uint64_t seed = 1;
  double inflation = 1.0;  // multiplicative, on forecast anomalies, >= 1
  // Innovation gate: > 0 rejects an observation whose normal score |z| exceeds it (the filter
  // then moves to the observation's time without using it: a mislabelled sample or a sensor
  // artefact does not drag the twin); 0 uses every observation.
  double gate_z = 0.0;
  // Particle filter: Liu-West shrinkage a of the regularisation kernel applied after each
  // resampling, in (0, 1]: eta moves to a eta + (1 - a) mean plus a normal jitter of covariance
  // (1 - a^2) Cov(eta); the state moves with eta along its regression on it, and its residual
  // is shrunk and jittered the same way with its own a (docs/assimilation.md). 1: no jitter.
  double pf_eta_shrinkage = 0.9;
  double pf_state_shrinkage = 0.9;
  // Ensemble filters and kMap: the reported median and 5 / 95 % limits of the m predictive draws.
  // false: sample quantiles at positions q (m - 1) between order statistics, whose 90 % interval
  // covers 0.9 (m - 1)/(m + 1) in expectation (0.872 for 64); true: plotting positions
  // q (m + 1) (quantile type 6), 0.9 for any m (docs/assimilation.md).
  bool plotting_positions = false;
  // Observables whose residual error is partly correlated in time (at most one entry each); empty
  // (default): white residual error. Not with kMap (kUnsupported).
  std::vector<CorrelatedError> correlated_errors;
  // Model error (docs/assimilation.md, "Model error"): none by default, the filters then
  // trust the model's initial state and dynamics exactly (a perfect-model experiment). Each
  // list is empty (none) or has one value >= 0 per state (model order) or per random effect
  // (variability order); NamedValues reads them from text. Not for kMap (no state).
  // Initial-state spread: each member's initial state is x0 exp(u), u ~ N(0, sd^2) per state
  // (a log-normal factor: 0.1 is about 10 %; a state starting at 0 stays 0). The UKF spans
  // u with its sigma points until the first observation.
  std::vector<double> initial_state_sd;
  // Process noise: a random walk of the log of each state, SD per sqrt(model time unit)
  // (variance proportional to the elapsed time dt): before each forecast over dt every
  // member's starting state is multiplied by exp(sd sqrt(dt) e), e ~ N(0, 1). The UKF adds
  // the matching covariance (mean^2 (exp(sd^2 dt) - 1) on the diagonal) before its sigma points.
  std::vector<double> state_noise_sd;
  // Parameter drift: a random walk of each eta, SD per sqrt(model time unit), added likewise.
  std::vector<double> eta_noise_sd;
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
  // How surprising DV was under that distribution: its normal score Phi^-1(P(Y <= DV)), the
  // predictive CDF being the members' mixture of residual-error distributions (or the UKF's
  // Gaussian). |z| > 3 happens about once in 370 well-predicted observations; anomaly
  // detectors read this.
  double z = 0.0;
  bool rejected = false;  // by the innovation gate: forecast, not updated
  // Ensemble members whose forecast to this observation could not be simulated (a numerical
  // failure, e.g. a drawn physiology the solver cannot integrate). The particle filter gives
  // them weight 0 (a likelihood of 0); the EnKF and EnSRF replace each by a copy of a member
  // drawn at random from the others. Fewer than two members left is an error.
  int lost_members = 0;
  std::vector<double> parameters;  // after the update: median individual value per variability
                                   // parameter (variability order)
  std::vector<double> state_mean;  // after the update: ensemble mean of the model state (EnKF)
};

// Equally weighted samples of the filter's current posterior, for forecasting: rows of
// [state (num_states), eta (variability order)], the state right after record `after_record`
// of the subject; after_record = -1 when no observation has been assimilated yet or the filter
// carries no state (kMap): simulate from the start, the state columns are then unused.
struct FilterSample {
  int count = 0;
  int after_record = -1;
  std::vector<double> rows;  // count x (num_states + num_etas), row-major
};

class SequentialFilter {
 public:
  // REQUIRES: model outlives the filter. The filter starts at the population prior.
  static Result<std::unique_ptr<SequentialFilter>> Make(const Model& model,
                                                        const AssimilationOptions& options);
  // Restores a filter from Snapshot() text; the restored filter continues bit-for-bit as the
  // original would. kInvalidArgument names what is malformed, or a different model.
  static Result<std::unique_ptr<SequentialFilter>> Restore(const Model& model,
                                                           std::string_view snapshot);
  virtual ~SequentialFilter() = default;

  // Assimilates observation record r (EVID 0 with a DV, not censored) of subject
  // `subject_index`: forecasts from the last assimilated record to r under the subject's
  // records, reports the one-step-ahead prediction, updates. Records up to the last assimilated
  // one must be as they were; r must come after it. With update = false only the prediction is
  // made and the filter is unchanged (how surprising would this value be?). When only
  // observation records lie between the last assimilated record and r, all at its time, r is not
  // forecast again: its prediction is the one made with the last forecast, updated by the
  // observations since. On error the filter is unchanged.
  virtual Result<AssimilationStep> Assimilate(const Dataset& data, size_t subject_index, int r,
                                              bool update = true) = 0;
  // `count` samples of the current posterior, drawn with their own generator (seed), so
  // sampling does not change the filter.
  virtual Result<FilterSample> Sample(int count, uint64_t seed) const = 0;
  // The record index last assimilated (-1: none).
  virtual int last_record() const = 0;
  // The whole filter state (options, members or moments, random generator) as JSON text.
  virtual std::string Snapshot() const = 0;
  virtual const AssimilationOptions& options() const = 0;
};

// Per-state or per-random-effect values (AssimilationOptions::initial_state_sd and the
// noise levels) from text: one number for every name, or NAME=VALUE pairs separated by commas
// (names not listed get 0). `names`: the model's states or random effects. Errors name
// `field`, the item and what was expected.
Result<std::vector<double>> NamedValues(const std::vector<std::string>& names,
                                        std::string_view text, std::string_view field);
// The same from (NAME, VALUE) pairs already parsed (e.g. a JSON object): names not listed get 0;
// an unknown or repeated name is kInvalidArgument naming `field` and the name.
Result<std::vector<double>> NamedValues(const std::vector<std::string>& names,
                                        const std::vector<std::pair<std::string, double>>& pairs,
                                        std::string_view field);

// The observations AssimilateSubject uses: EVID 0 records with a DV. A censored one is
// kUnsupported; none is kInvalidArgument.
Result<std::vector<int>> AssimilationRecords(const Dataset& data, size_t subject_index);

// Assimilates the observations (EVID 0 rows with a DV; CENS rows are refused) of subject
// `subject_index` in time order. Errors name the subject and the record's line.
Result<std::vector<AssimilationStep>> AssimilateSubject(const Model& model, const Dataset& data,
                                                        size_t subject_index,
                                                        const AssimilationOptions& options);

}  // namespace medtwin

#endif  // MEDTWIN_ASSIMILATE_H_
