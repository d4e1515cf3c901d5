// Model: what a medtwin model declares and how the simulator evaluates it.
//
// A model is a set of ODEs dx/dt = f(t, x, p) over named states (amounts), with named parameters
// (typical value, unit, bounds, between-subject variability), covariates that shape the individual
// parameters, observables computed from states, and a citation. Built-in models implement the
// callbacks in compiled C++; models defined at run time (SBML) implement the same interface.
//
// Units: every model states its units in its spec (time in h, amounts in mg, volumes in L for the
// PK library); conversions happen at the data boundary, never inside a right-hand side.
//
// Thread safety: a Model is immutable after construction; all const methods may be called
// concurrently from several threads.
#ifndef MEDTWIN_MODEL_H_
#define MEDTWIN_MODEL_H_

#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "medtwin/status.h"

namespace medtwin {

inline constexpr double kInf = std::numeric_limits<double>::infinity();

// Residual error model of an observable. With f the model prediction and e ~ N(0, 1):
//   kAdditive:     y = f + a*e
//   kProportional: y = f * (1 + b*e)
//   kCombined:     y = f + sqrt(a^2 + (b*f)^2) * e     (variances add; the convention of
//                  Goti 2018 / NONMEM's usual "additive + proportional" code)
//   kExponential:  y = f * exp(s*e)                   (log-additive)
enum class ErrorModel { kAdditive, kProportional, kCombined, kExponential };
const char* ToString(ErrorModel m);
Result<ErrorModel> ErrorModelFromString(const std::string& s);

struct ResidualError {
  ErrorModel model = ErrorModel::kAdditive;
  double additive_sd = 0.0;      // in the observable's unit (kAdditive, kCombined)
  double proportional_sd = 0.0;  // fraction, 0.227 = 22.7 % (kProportional, kCombined)
  double exponential_sd = 0.0;   // SD on the log scale (kExponential)
  // Standard deviation of y around prediction f (for kExponential: on the log scale).
  double Sd(double f) const;
  // The observation at prediction f for a standard normal draw z.
  double Observation(double f, double z) const;
};

struct StateSpec {
  std::string name;  // e.g. "central"; usable as CMT in datasets
  std::string unit;  // e.g. "mg"
  std::string description;
  bool dosable = true;  // may receive doses (CMT)
};

struct ParameterSpec {
  std::string name;      // e.g. "CL"
  std::string unit;      // e.g. "L/h"
  double typical = 0.0;  // population typical value at the reference covariates
  double lower = 0.0;    // bounds on the individual value (inclusive)
  double upper = kInf;
  std::string description;
  std::string source;  // where the typical value comes from
};

struct CovariateSpec {
  std::string name;  // dataset column, e.g. "WT"
  std::string unit;  // e.g. "kg"
  std::string description;
  double reference = 0.0;       // typical value, used by `medtwin model` and population defaults;
                                // NaN ("missing") is allowed only when may_be_missing
  bool required = true;         // a dataset for this model must have the column (no silent default)
  bool may_be_missing = false;  // "." allowed in the column (passed to the model as NaN)
  double lower = -kInf;         // plausible range; values outside are rejected by the reader
  double upper = kInf;
};

struct ObservableSpec {
  std::string name;  // e.g. "CP"
  std::string unit;  // e.g. "mg/L"
  std::string description;
  ResidualError error;
};

// Between-subject variability: individual value P_i = g(typical, covariates) * exp(eta_i) for each
// parameter listed, eta ~ N(0, omega). omega is row-major (n x n) over `parameters`; a diagonal
// model sets only the diagonal. Percent CV is converted with omega^2 = ln(CV^2 + 1) unless the
// source states otherwise (see the model's methodology page).
struct Variability {
  std::vector<std::string> parameters;
  std::vector<double> omega;
};

struct ModelSpec {
  std::string name;         // registry name, e.g. "pk2cmt"
  std::string title;        // one line
  std::string description;  // a paragraph: structure, numbering, intended use
  std::string citation;     // paper(s) with DOI, or "illustrative" for generic structural models
  std::string time_unit = "h";
  std::vector<StateSpec> states;
  std::vector<ParameterSpec> parameters;
  std::vector<CovariateSpec> covariates;
  std::vector<ObservableSpec> observables;
  Variability variability;
  std::vector<std::string> covariate_formulas;  // human-readable, for `medtwin model NAME`
  int default_dose_state = 0;  // 0-based state receiving doses when a dataset has no CMT column
  // Per-compartment dose modifiers (NONMEM names F1, ALAG1, R1, D1, ... with 1-based state
  // numbers) may be parameters of the model; datasets may also supply them as columns.

  // Index of a state by name or 1-based number string ("2", "central"); -1 if none.
  // "t=12.500000 min": a time on the model's clock, for messages.
  std::string TimeText(double t) const;
  int StateIndex(const std::string& name_or_number) const;
  int ParameterIndex(const std::string& name) const;   // -1 if none
  int CovariateIndex(const std::string& name) const;   // -1 if none
  int ObservableIndex(const std::string& name) const;  // -1 if none
  // Checks names are unique, omega is square and positive semi-definite, bounds hold.
  Status Validate() const;
  // The typical value of every parameter (spec order) and the residual error model of every
  // observable (spec order).
  std::vector<double> TypicalValues() const;
  std::vector<ResidualError> ResidualErrors() const;
};

// Discrete events of one simulation run (SBML events): which trigger fired, what is pending.
// Created per run by Model::NewEventState; not shared between threads.
class EventState {
 public:
  virtual ~EventState() = default;
  // At the start time t0 with the initial state x: sets the triggers' previous values and
  // fires events whose triggers are true at t0 where the model says so. *changed tells
  // whether x was modified.
  virtual Status Initialize(double t0, double* x, const double* p, bool* changed) = 0;
  // At time t (after each integration step to an output, a located root of Model::Roots, a
  // scheduled time, or a jump of the state by a dose): evaluates triggers, schedules and executes
  // events. root_directions (null unless CVODES stopped at a root) holds per root function +1
  // (rising through zero: its trigger turned true), -1 (falling) or 0, so a trigger located a
  // rounding error before its crossing still fires. Errors name the event (for example events
  // that keep firing at one instant).
  virtual Status Update(double t, double* x, const double* p, const int* root_directions,
                        bool* changed) = 0;
  // Time of the next delayed event (kInf if none).
  virtual double NextScheduledTime() const = 0;
};

// The right-hand side's view of time-varying inputs: zero-order infusion rates per state are
// added by the simulator, so models see only their own dynamics.
class Model {
 public:
  explicit Model(ModelSpec spec) : spec_(std::move(spec)) {}
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelSpec& spec() const { return spec_; }
  int num_states() const { return static_cast<int>(spec_.states.size()); }
  int num_parameters() const { return static_cast<int>(spec_.parameters.size()); }
  int num_covariates() const { return static_cast<int>(spec_.covariates.size()); }
  int num_observables() const { return static_cast<int>(spec_.observables.size()); }

  // Individual parameters from population values `theta` (spec order), random effects `eta`
  // (Variability order; empty = all zero) and covariates (spec order). The default applies
  // P = theta * exp(eta) to the parameters listed in the variability. Models with covariate
  // effects override it. Errors name the covariate or parameter that is out of range.
  virtual Status Individualize(std::span<const double> theta, std::span<const double> eta,
                               std::span<const double> covariates, std::span<double> out) const;

  // Initial state (also the state after an EVID 3/4 reset). Default: all zero.
  virtual void InitialState(const double* p, double* x) const;

  // dx/dt at time t (h) for state x and individual parameters p. Must not allocate.
  virtual void Rhs(double t, const double* x, const double* p, double* dxdt) const = 0;

  // Observables y (spec order) from state x and individual parameters p.
  virtual void Observe(double t, const double* x, const double* p, double* y) const = 0;

  // Called by the simulator when a dose into `state` begins, before it takes effect: a bolus just
  // before its amount is added, an infusion as it starts. `amount` is the dose's total (AMT*F, in
  // the state's unit), `rate` its infusion rate (amount per time unit; 0 for a bolus), p the
  // parameters in force. Models whose dynamics depend on a dose as a whole (in t1d_uvapadova the
  // size of the meal being eaten sets gastric emptying) update bookkeeping states in x here; the
  // simulator restarts the integrator after every dose anyway. Not called for the virtual doses
  // of a steady-state (SS) record. Default: nothing.
  virtual void OnDoseStart(double t, int state, double amount, double rate, const double* p,
                           double* x) const {}

  // For linear time-invariant models (dx/dt = A x with A depending only on p): writes A
  // (row-major, n x n) and returns true. Returns false for nonlinear models. Linear models get
  // analytic steady states and the closed-form path.
  virtual bool LinearMatrix(const double* p, double* a) const { return false; }

  // Discrete events: root functions whose sign changes CVODES locates, and the per-run state
  // that decides what happens there. Models without events keep the defaults.
  virtual int num_roots() const { return 0; }
  virtual void Roots(double t, const double* x, const double* p, double* g) const {}
  virtual std::unique_ptr<EventState> NewEventState() const { return nullptr; }

  // True if Rhs, Observe, Roots or the events read past states (SBML delay()) through
  // StateHistory::Current(): the simulator then records the run's trajectory.
  virtual bool reads_history() const { return false; }
  // How far back (model time units) such a model ever reads, for parameters p; older records
  // are discarded so long runs keep bounded memory. Default: everything is kept.
  virtual double HistoryHorizon(const double* p) const { return kInf; }

 private:
  ModelSpec spec_;
};

// Registry of built-in models. Names: see ListModels(); PD links are written MODEL+PD,
// e.g. "pk2cmt+emax", "vancomycin_goti2018+irm3".
std::vector<std::string> ListModels();
std::vector<std::string> ListPdLinks();
Result<std::unique_ptr<Model>> MakeModel(const std::string& name);

// The model with its random effects moved to `variability.parameters`: P = P(eta = 0) *
// exp(eta_j) for each one listed, after the model's own covariate effects, eta ~ N(0, omega).
// Everything else (name, dynamics, linearity, events) is the model's. For estimating other
// parameters than the model declares variable (`medtwin fit --estimate`). Fails, naming the
// parameter, when one is unknown, listed twice, or has a typical value that is not positive
// (exp(eta) scales it), or when omega is not n x n and positive semi-definite.
Result<std::unique_ptr<Model>> WithVariability(std::unique_ptr<Model> model,
                                               Variability variability);

}  // namespace medtwin

#endif  // MEDTWIN_MODEL_H_
