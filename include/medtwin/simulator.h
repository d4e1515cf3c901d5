// Simulator: integrates a Model over a subject's NONMEM event schedule.
//
// Two paths share one event loop (and so one set of NONMEM semantics):
//   - ODE: SUNDIALS CVODES (BDF or Adams), stopping exactly at every discontinuity (doses,
//     lag-shifted doses, infusion starts and ends, resets, parameter changes from covariates);
//   - closed form: for linear time-invariant models (Model::LinearMatrix), the exact solution
//     of dx/dt = A x + r between events, evaluated in A's eigenbasis (superposition of
//     exponential modes). Chosen automatically when the model is linear and A has real,
//     well-separated eigenvalues; otherwise the ODE path runs.
// Steady state (SS=1/2, and SS infusions AMT=0 RATE>0): analytic for linear models (fixed point
// of the dosing-cycle map in the eigenbasis), repeated dosing cycles to a tolerance for
// nonlinear ones; failure to converge is an error with context.
//
// Event semantics (documented in docs/simulation.md):
//   - records are processed in file order; doses implied by ADDL and lag-shifted doses that fall
//     at a record's time are given before that record; infusion ends likewise;
//   - F, ALAG, modelled rate/duration of a dose come from its own record (also for its ADDL
//     doses and the implied steady-state doses);
//   - EVID 3/4 reset the state to the model's initial state and cancel infusions in progress and
//     pending ADDL/lagged doses; SS=1 resets amounts and cancels infusions in progress;
//   - a dose record's output row shows the state after the record (a bolus without lag included);
//   - covariates follow SimOptions::covariates (NONMEM-compatible default: NOCB).
//
// Forward sensitivities (OutputRequest::sensitivities): d(state)/d(eta_k) and
// d(observable)/d(eta_k) at every output row, eta the random effects (Variability order), on
// both paths. On the ODE path CVODES integrates s_k = dx/deta_k with ds_k/dt = J s_k + (df/dp)
// dp/deta_k (+ d rate/deta_k of infusions with modelled rates), staggered corrector, errors of s
// controlled like those of x (rtol, atol); J s_k + (df/dp) dp_k is a central directional
// difference of Model::Rhs (models give no Jacobian). On the closed-form path each segment's
// sensitivities are solved exactly in A's eigenbasis, dA/deta_k a central directional
// difference of Model::LinearMatrix. dp/deta_k, the initial state's, the observables' and the
// dose modifiers' derivatives are central differences of Individualize, InitialState, Observe
// and the dose resolution. Doses whose F, ALAG, R or D depend on eta make s jump by the
// textbook rule for events at parameter-dependent times; EVID 3/4 resets restart s from the
// initial state's; steady-state records of linear models set s to the fixed point of the dosing
// cycle's sensitivity map. Not available (kUnsupported, naming the reason, so callers can fall
// back to finite differences): steady-state dosing (SS=1/2) on nonlinear models, models with
// discrete events (root functions) or delays, and runs continued from a RunStart.
//
// Thread safety: a Simulator owns solver workspace and is not thread-safe; use one per thread.
// Run() may be called many times (workspace is reused).
#ifndef MEDTWIN_SIMULATOR_H_
#define MEDTWIN_SIMULATOR_H_

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/status.h"

namespace medtwin {

// kBdf, kAdams: CVODES linear multistep families (stiff / non-stiff). kExplicitRk: ARKODE
// explicit Runge-Kutta, Dormand-Prince 5(4), for non-stiff models whose right-hand side has
// kinks (cvs_ursino1998: valves, onset and end of systole); no forward sensitivities.
enum class OdeMethod { kBdf, kAdams, kExplicitRk };
const char* ToString(OdeMethod m);
Result<OdeMethod> OdeMethodFromString(const std::string& s);

enum class SimPath { kAuto, kOde, kClosedForm };
const char* ToString(SimPath p);
Result<SimPath> SimPathFromString(const std::string& s);

struct SimOptions {
  OdeMethod method = OdeMethod::kBdf;  // ODE solver (see OdeMethod)
  SimPath path = SimPath::kAuto;       // kClosedForm fails for nonlinear models
  double rtol = 1e-8;                  // relative tolerance, (0, 1)
  double atol = 1e-10;                 // absolute tolerance, state units (mg), > 0
  long max_steps = 100'000;            // solver steps between two outputs/events, > 0
  // Nonlinear steady state: cycle-to-cycle change <= max(ss_atol, 100 atol) +
  // max(ss_rtol, 100 rtol) * |x|: never finer than the integrator's error over a cycle.
  double ss_rtol = 1e-10;
  double ss_atol = 1e-10;    // state units
  int ss_max_cycles = 2000;  // nonlinear steady state: dosing cycles before giving up
  CovariateRule covariates = CovariateRule::kNocb;
  // Forward sensitivities (OutputRequest::sensitivities) take part in CVODES's local error test
  // at rtol/atol. false: they ride on the states' steps (about a third fewer steps; accuracy
  // unchecked: in src/sim/sensitivity_test.cc's cases the worst error relative to the largest
  // sensitivity grows from 3e-6 to 3e-5).
  bool sensitivity_error_control = true;
  Status Validate() const;
};

// Which rows a simulation reports.
struct OutputRequest {
  bool observation_records = true;  // EVID 0 rows (and EVID 2 rows)
  bool dose_records = false;        // EVID 1/3/4 rows (NONMEM tables print every row)
  std::vector<double> times_h;      // extra output times (sorted, >= 0), e.g. --times grid
  // Extra values per output row, f(t, x, p) with p the individual parameters, evaluated during
  // the run (so they may read the run's StateHistory), e.g. SBML probes of assigned symbols.
  std::vector<std::function<double(double t, const double* x, const double* p)>> probes;
  // >= 0: the run stops once this record has been handled (filters advance one observation at a
  // time); -1: the whole subject.
  int last_record = -1;
  // Also return forward sensitivities with respect to the random effects (see above).
  bool sensitivities = false;
};

// Population-level inputs for one run: typical values (spec order; empty = spec typical) and
// random effects (Variability order; empty = zero).
struct IndividualInput {
  std::span<const double> theta;
  std::span<const double> eta;
};

// Continue a run from a known state (data assimilation, twins): the state at `time` is `state`
// (num_states values). Records before `time` only set up what is still running then (infusions,
// additional and lagged doses still due); records at `time` and later act as usual, and output
// rows start at `time`. Models reading their past see `state` held constant before `time`.
struct RunStart {
  double time = 0.0;
  std::span<const double> state;
  // >= 0: `state` is the state right after this record (e.g. the output row of an observation
  // at `time`): records up to and including it are replayed, those after it at the same time
  // act. -1: every record at `time` acts.
  int after_record = -1;
};

struct SimSummary {
  SimPath path = SimPath::kAuto;  // path actually taken (kOde or kClosedForm)
  std::string path_reason;        // why (e.g. "model is nonlinear")
  long steps = 0;                 // CVODES internal steps
  long rhs_evals = 0;             // right-hand-side evaluations (CVODES, incl. Jacobian DQ)
  long jac_evals = 0;
  long error_test_failures = 0;
  long nonlinear_failures = 0;
  long reinits = 0;         // restarts at discontinuities
  long kernel_evals = 0;    // closed-form segment evaluations
  long ss_cycles = 0;       // dosing cycles spent finding steady states
  long sens_rhs_evals = 0;  // sensitivity right-hand sides (one direction each, 2 Rhs calls)
  double wall_time_s = 0.0;
  std::string Brief() const;  // one line
};

struct SimOutput {
  std::vector<double> time_h;       // one per output row
  std::vector<int> record;          // source record index in the subject, -1 for extra times
  std::vector<double> states;       // row-major (rows x num_states)
  std::vector<double> observables;  // row-major (rows x num_observables)
  std::vector<double> probes;       // row-major (rows x request.probes.size())
  // With OutputRequest::sensitivities: the number of random effects (else 0), and per row
  // d(state i)/d(eta_k) at [(row * num_sensitivities + k) * num_states + i] and
  // d(observable j)/d(eta_k) at [(row * num_sensitivities + k) * num_observables + j].
  int num_sensitivities = 0;
  std::vector<double> state_sensitivities;
  std::vector<double> observable_sensitivities;
  SimSummary summary;
  size_t rows() const { return time_h.size(); }
};

class Simulator {
 public:
  // REQUIRES: model outlives the simulator.
  Simulator(const Model& model, SimOptions options);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Validates options and resolves the path; call before Run (Run calls it if needed).
  Status Init();

  // Simulates subject `subject_index` of `data` (read for this model). Errors carry the
  // subject id and time.
  Result<SimOutput> Run(const Dataset& data, size_t subject_index, const OutputRequest& request,
                        const IndividualInput& individual = {}, const RunStart* start = nullptr);

  const SimOptions& options() const { return options_; }
  const Model& model() const { return model_; }

 private:
  class Impl;
  const Model& model_;
  SimOptions options_;
  std::unique_ptr<Impl> impl_;
  bool initialized_ = false;
};

// True for the error of a nonlinear steady-state dose (SS=1) whose dosing cycles did not settle
// within SimOptions::ss_max_cycles: e.g. an input above a saturable elimination's capacity,
// where the amount in the body grows without bound. Context added by WithContext is allowed.
bool IsNoSteadyState(const Status& status);

}  // namespace medtwin

#endif  // MEDTWIN_SIMULATOR_H_
