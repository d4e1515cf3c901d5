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

#include <cmath>
#include <cstdint>
#include <limits>
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
  // Sequential filters (twins): the model state of each draw right after record
  // `start_record` (m x num_states, paired with `draws`); forecasts then continue from there
  // instead of simulating from the start. Empty / -1: from the start.
  std::vector<double> states;
  int start_record = -1;
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

// ---------------------------------------------------------------------------------------------
// Dose optimization (DOMAIN.md 3.5). A target is a range on one exposure metric of observable
// `observable` (mg/L for the PK library) over the evaluation window W of a candidate regimen:
//   kAuc24      24 * AUC(W) / |W|  (mg*h/L; at steady state the usual AUC24 = daily dose / CL)
//   kTrough     level at the end of W, just before the next dose would be given
//   kPeak       the highest level in W (peak_offset_h < 0), or the level peak_offset_h after the
//               end of the infusion of the last dose in W
//   kTimeAbove  fraction of W (0..1) with the level above `threshold`
// W is a whole number of dosing intervals, the fewest covering 24 h (k = ceil(24 / tau)).
enum class TargetKind { kAuc24, kTrough, kPeak, kTimeAbove };
const char* ToString(TargetKind k);

struct Target {
  TargetKind kind = TargetKind::kAuc24;
  double low = -kInf;  // inclusive bounds of the range (metric's unit); at least one finite
  double high = kInf;
  // Value within [low, high] that is best, for tie-breaks; NaN: the geometric mean of finite
  // positive bounds, else none.
  double preferred = std::numeric_limits<double>::quiet_NaN();
  double threshold = 0.0;       // kTimeAbove: level (observable unit), > 0
  double peak_offset_h = -1.0;  // kPeak: < 0 maximum in W, else time after the infusion end
  int observable = 0;
  bool Met(double value) const { return value >= low && value <= high; }
  // False for a metric without a range (MetricFromString: both bounds infinite).
  bool HasRange() const { return !(std::isinf(low) && std::isinf(high)); }
  std::string ToString() const;  // in the syntax TargetFromString reads
  Status Validate() const;
};

// Parses "auc24=400..600", "auc24=400..600@500" (preferred 500), "trough<=20", "trough>=10",
// "trough=10..20", "peak=20..40", "peak(1)=20..40" (1 h after the infusion end),
// "time_above(10)>=0.6". Errors quote the text and say what was expected.
Result<Target> TargetFromString(const std::string& text);
// A metric without a range, for summaries ("auc24", "trough", "peak", "peak(1)",
// "time_above(10)"): both bounds infinite, met by every value; ToString gives the text back.
Result<Target> MetricFromString(const std::string& text);

// The regimens searched. Every candidate starts at `start_h`: optionally a loading dose, then
// maintenance doses of `amount` every `interval` h (the first one interval after a loading
// dose), each infused over `duration` h. Doses of the patient's dataset at or after start_h
// are dropped (ADDL series are cut), so the dataset may hold the old regimen's future.
struct DoseSearchSpace {
  // Maintenance amounts (dose state unit, mg): the allowed set, increasing, > 0. Or, when
  // amount_max > amount_min > 0 and `amounts` is empty, the continuous range [amount_min,
  // amount_max] searched on a grid of amount_steps + 1 equally spaced amounts.
  std::vector<double> amounts;
  double amount_min = 0.0, amount_max = 0.0;
  int amount_steps = 200;
  std::vector<double> intervals_h = {8, 12, 24};  // > 0
  std::vector<double> durations_h = {1};          // infusion durations, > 0
  bool loading = false;                 // also search a loading dose (the amounts, >= maintenance)
  std::vector<double> loading_amounts;  // empty: the maintenance amounts
  double start_h = 0.0;                 // time of the first dose of the new regimen, >= 0
  // 0: evaluate at steady state (an SS=1 dose at start_h; past doses and loading ignored);
  // N >= 1: W starts at the first maintenance dose at or after start_h + 24 (N - 1) h.
  int day = 0;
  // Highest infusion rate allowed (dose state unit per hour: mg/h), > 0; infinity: no limit.
  // A candidate whose maintenance or loading dose would run faster (amount / duration) is not
  // evaluated (DoseSummary::excluded_by_rate): durations are never lengthened behind the
  // user's back, so allow longer durations to admit larger amounts. There is no default limit:
  // limits are drug- and institution-specific.
  double max_rate_mg_per_h = kInf;
  Status Validate() const;
};

struct DoseOptions {
  int draws = 500;  // posterior draws (SIR draws cycled, or Laplace samples), > 0
  uint64_t seed = 1;
  // The search fails (kNotFound, naming the best regimen and its PTA) when no candidate reaches
  // the targets jointly in at least this fraction of draws, [0, 1].
  double min_pta = 0.1;
  int top = 5;  // candidates reported, > 0
  // Continuous amounts (DoseSearchSpace amount_min..amount_max, `amounts` empty): after the
  // grid, the maintenance amount of the best grid candidate of each of the `refine_top` best
  // schedules (interval, duration, loading) is refined by a bounded 1-D search (NLopt DIRECT-L)
  // within one grid step either side (and within the range and the rate limit), ranked as the
  // grid is: joint PTA first, then the preference. >= 0; 0: grid only. Ignored for sets.
  int refine_top = 3;
  int refine_evaluations = 30;  // objective evaluations per refined schedule, > 0
  // Nonlinear schedules: false evaluates only the candidates that could still rank among the
  // `top` best (see OptimizeDose); true evaluates every candidate over every draw, each at the
  // solver tolerance of `sim` (no screen). The answer is the same whenever the metrics are
  // monotone in the amounts (checked, see OptimizeDose).
  bool exhaustive = false;
  // Nonlinear schedules on a day (space.day >= 1), sim.rtol <= 1e-6: each draw is first
  // simulated by an explicit Dormand-Prince method at rtol 1e-5 (atol scaled alike) and again at
  // `sim`'s tolerance only when that screen cannot tell on which side of every target bound the
  // draw lies, or when it could hold a reported median (see OptimizeDose). The answer is that of
  // `sim`'s tolerance. Left off when a screen run at the first candidate's mode takes more than
  // a quarter of the steps of `sim`'s (a stiff model). Ignored when `exhaustive`.
  bool screen = true;
  // The caller's thread budget, >= 1: the draws are simulated on this many std::threads (the
  // calling one included), each with its own Simulator. Results do not depend on it.
  int threads = 1;
  SimOptions sim;
  Status Validate() const;
};

struct Regimen {
  double amount = 0.0;  // maintenance, dose state unit
  double interval_h = 0.0;
  double duration_h = 0.0;
  double loading = 0.0;  // 0: none
  double DailyDose() const { return amount * 24.0 / interval_h; }
  std::string ToString() const;  // "1250 mg q12h over 1 h (loading 2000 mg)"
};

struct CandidateResult {
  Regimen regimen;
  double pta = 0.0;                // all targets met, fraction of draws
  std::vector<double> target_pta;  // per target
  std::vector<double> point;       // per target: the metric at the posterior mode
  std::vector<double> median;      // per target: the median metric over the draws
  double preference = 0.0;         // sum over targets of (ln point - ln preferred)^2
  bool refined = false;            // amount found by the refinement, not on the grid
  // Draws in which the regimen reaches no steady state (day 0, nonlinear model: the level grows
  // without bound): every target counts as missed there, and their metric as +inf (also
  // `point` when the mode has none).
  int no_steady_state = 0;
};

struct DoseSummary {
  std::vector<CandidateResult> best;  // the top candidates, best first
  size_t candidates = 0;              // grid regimens searched (evaluated, or pruned)
  size_t excluded_by_rate = 0;        // grid regimens not evaluated: faster than max_rate_mg_per_h
  int refined = 0;                    // schedules whose refinement beat their best grid amount
  long refine_evaluations = 0;        // amounts evaluated by the refinement
  size_t pruned = 0;                  // grid regimens of nonlinear schedules ruled out by the
                                      // bound without simulating every draw
  long simulations = 0;               // simulator runs
  long screened = 0;         // of those, screen runs at the loose tolerance (DoseOptions::screen)
  long rerun = 0;            // draws simulated again at the user's tolerance after their screen run
  long no_steady_state = 0;  // of those, steady-state runs that found none
  bool superposition = false;   // every schedule's profiles combined (linear), not re-simulated
  double window_start_h = 0.0;  // W of the best regimen
  double window_end_h = 0.0;
  double wall_time_s = 0.0;
};

// Searches every regimen of `space` for subject `subject_index` of `data` (its past doses and
// covariates), ranking by joint PTA over the posterior draws, then by closeness of the point
// prediction to the preferred values, then by lower daily dose, then by shorter infusion.
// Linear models are simulated twice per draw, interval and duration (the profile is affine in
// the amounts; checked at the posterior mode). Nonlinear schedules: every candidate is simulated
// at the mode, then candidates are evaluated over the draws best bound first; a draw below a
// target's range at amount a is below it at every smaller amount, and above it (or without a
// steady state) at every larger one, so each evaluation bounds the PTA of the schedule's other
// candidates, and those whose bound cannot reach the `top` best are not simulated further
// (DoseSummary::pruned). This needs the metrics to be nondecreasing in the maintenance and
// loading amounts (true for models whose states rise with the dose: Kamke's comparison theorem
// for cooperative systems, e.g. pk1cmt_mm); it is checked at the mode over every candidate and
// on every draw evaluated, and a schedule failing either check is searched exhaustively. Days
// >= 1: the past doses are simulated once per draw and each candidate continues from there
// (not for models that read their past). At steady state a draw with no steady state (a daily
// input above a saturable elimination's capacity) counts as a miss of every target. Nonlinear
// schedules on a day screen each draw at a loose tolerance first (DoseOptions::screen): a draw
// is decided by the screen only when the screen's levels, widened by a margin ten times the
// largest difference measured against the user's tolerance, leave every target's metric on one
// side of each of its bounds; the draws that could hold a reported median are simulated again
// at the user's tolerance, so PTAs, medians and point predictions are those of the user's
// tolerance.
Result<DoseSummary> OptimizeDose(const Model& model, const Dataset& data, size_t subject_index,
                                 const IndividualPosterior& posterior,
                                 const std::vector<Target>& targets, const DoseSearchSpace& space,
                                 const DoseOptions& options);

// The dataset `OptimizeDose` simulates for `regimen`: the subject's records before
// space.start_h plus the new doses, and the window W as {start, end}.
Result<Dataset> RegimenDataset(const Model& model, const Dataset& data, size_t subject_index,
                               const Regimen& regimen, const DoseSearchSpace& space,
                               double* window_start_h, double* window_end_h);

// The metric of `target` for observable levels `level` at sorted times `time_h` covering W
// (the window's ends included); AUC by the trapezoid rule on that grid.
double TargetMetric(const Target& target, const std::vector<double>& time_h,
                    const std::vector<double>& level, double window_start_h, double window_end_h,
                    double last_dose_end_h);

// ---------------------------------------------------------------------------------------------
// What-if: chosen regimens compared over one posterior. Each regimen is a whole dataset (past
// and future doses, any pattern: a pause, a change of interval, different doses on different
// days), simulated for the same posterior draws (common random numbers), and judged on a window
// W = [window_start_h, window_end_h] the caller chooses, the same for every regimen:
//   auc24      24 * AUC(W) / |W|
//   trough     the lowest level in W (a window of whole dosing intervals at steady state:
//              the level just before the next dose, as in the dose search; with regimens of
//              different intervals, each one's lowest level)
//   peak       the highest level in W; peak(h): h after the end of the last infusion in W
//   time_above the fraction of W above the threshold
// AUC by Simpson's rule on a grid of about 0.25 h with a segment end at every dose and
// infusion end in W (the level just before a bolus ends the segment before it).
struct WhatIfOptions {
  double window_start_h = 0.0, window_end_h = 0.0;  // 0 <= start < end
  int draws = 500;                                  // posterior draws, > 0
  uint64_t seed = 1;
  std::vector<double> percentiles = {5, 50, 95};  // of each metric, each in [0, 100], increasing
  SimOptions sim;
  Status Validate() const;
};

struct WhatIfRegimen {
  std::string name;
  const Dataset* data = nullptr;  // the regimen; the subject is found by ID
};

struct RegimenExposure {
  std::string name;
  double dose_in_window = 0.0;  // amount given in W (doses starting in [start, end))
  double pta = 0.0;             // every target met, fraction of draws
  // Per target: the fraction of draws meeting it, and the percentiles of its metric
  // (quantiles[target * num_percentiles + q]).
  std::vector<double> target_pta;
  std::vector<double> quantiles;
};

// The exposure of patient `id` under each regimen over `posterior`. A target with both bounds
// infinite only summarises its metric (it is met in every draw). Errors name the regimen and,
// for a failed simulation, the draw. Targets are read in hours: the model's time unit must be h.
Result<std::vector<RegimenExposure>> CompareRegimens(const Model& model, const std::string& id,
                                                     const std::vector<WhatIfRegimen>& regimens,
                                                     const IndividualPosterior& posterior,
                                                     const std::vector<Target>& targets,
                                                     const WhatIfOptions& options);

}  // namespace medtwin

#endif  // MEDTWIN_DECIDE_H_
