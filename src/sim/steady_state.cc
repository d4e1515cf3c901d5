// Steady state for SS=1/2 dose records and SS infusions (NONMEM semantics, DOMAIN.md 1.2).
//
// The periodic solution is first found at the trough (just before a dose). Linear models get it
// analytically from the eigenbasis (a geometric series per mode); nonlinear models by repeating
// the dosing cycle until successive troughs agree to ss_atol + ss_rtol*|x|. With a lag ALAG the
// dose of the record enters at t + ALAG, so the state at the record's time t is the periodic
// solution II - ALAG after the previous (virtual) dose. Infusions of virtual doses that are still
// running at t (II < duration, or a lag) continue after t.
#include <algorithm>
#include <cmath>
#include <string>

#include "sim/subject_run.h"

namespace medtwin {
namespace {

// Length of one convergence window for a nonlinear constant-infusion steady state (h).
constexpr double kInfusionWindowH = 24.0;

// Successive troughs are compared no more finely than kSolverNoise times the integrator's
// tolerances (rtol, atol): below that, the change from one cycle to the next is the solver's own
// error, which moves with the step sequence and need not shrink (CVODES bounds a weighted RMS
// of each step's local error, so one component, e.g. a nearly empty depot, may be off by more,
// and errors add up over a cycle's steps). Measured on pk1cmt_mm, 80 posterior draws x 5 amounts
// q24h at the default rtol 1e-8: with the factor at 1, 11 of 400 steady states never
// "converged" in 300 cycles; at 3 and 10, 1; at 100, none.
constexpr double kSolverNoise = 100.0;

bool Converged(const std::vector<double>& prev, const std::vector<double>& x, const SimOptions& o) {
  const double atol = std::max(o.ss_atol, kSolverNoise * o.atol);
  const double rtol = std::max(o.ss_rtol, kSolverNoise * o.rtol);
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::fabs(x[i] - prev[i]) > atol + rtol * std::fabs(x[i])) return false;
  }
  return true;
}

// The start of every "no steady state" error (IsNoSteadyState).
constexpr char kNoSteadyState[] = "steady state not reached";

}  // namespace

bool IsNoSteadyState(const Status& status) {
  return status.code() == StatusCode::kNumerical &&
         status.message().find(kNoSteadyState) != std::string::npos;
}

void SubjectRun::AddDoseAtZero(const ResolvedDose& d, int derivs, std::vector<double>* x,
                               std::vector<ActiveInfusion>* active) {
  if (d.IsInfusion()) {
    active->push_back({0, d.state, d.rate, d.duration_h, derivs});
  } else {
    (*x)[d.state] += d.amount;
  }
}

Status SubjectRun::RunWindow(int row, double duration_h, std::vector<double>* x,
                             std::vector<ActiveInfusion>* active, CycleSensitivity* cs) {
  const double* p = Params(row);
  if (cs != nullptr) {  // the propagator reads sens_in_ at each Restart
    sens_in_.s = cs->s.data();
    sens_in_.dr = cs->dr.data();
    sens_in_.dp = DParams(row);
  }
  Status st;
  double s = 0.0;
  while (st.ok() && s < duration_h) {
    double next = duration_h;
    for (const auto& a : *active) {
      if (a.end_h > s && a.end_h < next) next = a.end_h;
    }
    UpdateRates(&ss_rate_, *active);
    if (cs != nullptr) CycleRateDerivatives(*active, cs);
    st = ctx_.propagator->Restart(s, x->data(), p, ss_rate_.data());
    if (st.ok()) st = ctx_.propagator->Advance(next, next, x->data());
    for (const auto& a : *active) {
      if (cs != nullptr && a.end_h <= next) CycleInfusionEnd(a, cs);
    }
    std::erase_if(*active, [&](const ActiveInfusion& a) { return a.end_h <= next; });
    s = next;
  }
  if (sens_on_) {
    sens_in_.s = s_.data();
    sens_in_.dr = dr_.data();
  }
  MEDTWIN_RETURN_IF_ERROR(st);
  for (auto& a : *active) a.end_h -= duration_h;
  ++out_.summary.ss_cycles;
  return Status::Ok();
}

Status SubjectRun::PeriodicTrough(const ResolvedDose& d, int row, int derivs,
                                  std::vector<double>* x, std::vector<ActiveInfusion>* active) {
  const double* p = Params(row);
  active->clear();
  if (ctx_.linear != nullptr && ctx_.linear->Prepare(p).ok()) {
    MEDTWIN_RETURN_IF_ERROR(ctx_.linear->kernel().PeriodicTrough(
        d.state, d.amount, d.IsInfusion() ? d.duration_h : 0.0, d.ii_h, x->data()));
    // Infusions of earlier doses still running at the trough (overlap when duration > II).
    for (int k = 1; d.IsInfusion() && k * d.ii_h < d.duration_h; ++k) {
      active->push_back({0, d.state, d.rate, d.duration_h - k * d.ii_h, derivs});
    }
    return Status::Ok();
  }
  model_.InitialState(p, x->data());
  const int overlap = d.IsInfusion() ? static_cast<int>(std::ceil(d.duration_h / d.ii_h)) : 0;
  std::vector<double> prev(x->size());
  for (int cycle = 1; cycle <= ctx_.options->ss_max_cycles; ++cycle) {
    prev = *x;
    AddDoseAtZero(d, derivs, x, active);
    MEDTWIN_RETURN_IF_ERROR(RunWindow(row, d.ii_h, x, active));
    if (cycle > overlap + 1 && Converged(prev, *x, *ctx_.options)) return Status::Ok();
  }
  return Status::Numerical(std::string(kNoSteadyState) + " after " +
                           std::to_string(ctx_.options->ss_max_cycles) +
                           " dosing cycles (raise ss_max_cycles or loosen ss_rtol)");
}

Status SubjectRun::ConstantInfusionState(const ResolvedDose& d, int row, std::vector<double>* x) {
  const double* p = Params(row);
  if (ctx_.linear != nullptr && ctx_.linear->Prepare(p).ok()) {
    return ctx_.linear->kernel().ConstantInfusionSteadyState(d.state, d.rate, x->data());
  }
  model_.InitialState(p, x->data());
  std::vector<ActiveInfusion> active{{0, d.state, d.rate, kInf}};
  std::vector<double> prev(x->size());
  for (int window = 1; window <= ctx_.options->ss_max_cycles; ++window) {
    prev = *x;
    MEDTWIN_RETURN_IF_ERROR(RunWindow(row, kInfusionWindowH, x, &active));
    if (Converged(prev, *x, *ctx_.options)) return Status::Ok();
  }
  return Status::Numerical(std::string(kNoSteadyState) + " for the constant infusion after " +
                           std::to_string(ctx_.options->ss_max_cycles) + " windows of " +
                           std::to_string(kInfusionWindowH) + " " + model_.spec().time_unit);
}

Status SubjectRun::ApplySteadyState(const ResolvedDose& d, int row, double t_h, int derivs) {
  const double* p = Params(row);
  if (d.ss == 2 && !ctx_.model_linear) {
    return Status::Unsupported(Where(t_h) +
                               ": SS=2 adds steady-state amounts by superposition, "
                               "which needs a linear model; '" +
                               model_.spec().name + "' is not (use SS=1)");
  }
  if (history_) {
    // Cycles before t would need the past states the cycles themselves produce.
    return Status::Unsupported(Where(t_h) + ": steady-state dosing with '" + model_.spec().name +
                               "', whose dynamics read past states (delay), is not supported");
  }
  if (sens_on_ && !(ctx_.linear != nullptr && ctx_.linear->Prepare(p).ok())) {
    // The periodic state of a nonlinear model is found by repeating cycles to a tolerance; its
    // sensitivity would need the same iteration (not implemented).
    return Status::Unsupported(
        Where(t_h) + ": forward sensitivities through steady-state dosing (SS=" +
        std::to_string(d.ss) + ") need a linear model; '" + model_.spec().name + "' is not");
  }
  std::vector<double> xs(n_, 0.0);
  std::vector<ActiveInfusion> active;
  CycleSensitivity cycle;
  CycleSensitivity* cs = nullptr;
  if (sens_on_) {
    cycle = {std::vector<double>(s_.size(), 0.0), std::vector<double>(dr_.size(), 0.0), derivs};
    cs = &cycle;
  }
  Status st;
  if (d.IsSteadyStateInfusion()) {
    st = ConstantInfusionState(d, row, &xs);
    if (st.ok() && cs != nullptr) st = ConstantInfusionSensitivity(d, row, xs, cs);
  } else if (d.lag_h >= d.ii_h) {
    st = Status::Unsupported("a steady-state dose with ALAG >= II is not supported");
  } else {
    st = PeriodicTrough(d, row, derivs, &xs, &active);
    if (st.ok() && cs != nullptr) st = PeriodicSensitivity(d, row, xs, active, cs);
    if (st.ok() && d.lag_h > 0.0) {
      AddDoseAtZero(d, derivs, &xs, &active);
      if (cs != nullptr) CycleDoseJump(d, cs);
      st = RunWindow(row, d.ii_h - d.lag_h, &xs, &active, cs);
      if (st.ok() && cs != nullptr) LagPhaseShift(t_h, xs, p, cs);
    }
  }
  if (!st.ok()) return st.WithContext(Where(t_h));
  if (d.ss == 1) {
    x_ = xs;
    if (cs != nullptr) s_ = cs->s;
    active_.clear();  // SS=1 replaces the state: infusions in progress stop
  } else {
    for (int i = 0; i < n_; ++i) x_[i] += xs[i];
    for (size_t i = 0; cs != nullptr && i < s_.size(); ++i) s_[i] += cs->s[i];
  }
  for (const auto& a : active) StartInfusion(a.state, a.rate, t_h + a.end_h, a.derivs);
  UpdateRates(&rate_, active_);
  if (sens_on_) UpdateRateDerivatives();
  dirty_ = true;
  return Status::Ok();
}

}  // namespace medtwin
