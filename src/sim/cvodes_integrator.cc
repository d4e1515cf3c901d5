#include "sim/cvodes_integrator.h"

#include <arkode/arkode_erkstep.h>
#include <cvodes/cvodes.h>
#include <nvector/nvector_serial.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "sim/directional.h"

namespace medtwin {

// RAII owner of every SUNDIALS handle; destroyed in reverse order of creation.
struct CvodesIntegrator::Handles {
  SUNContext ctx = nullptr;
  N_Vector y = nullptr;
  N_Vector tmp = nullptr;  // derivative scratch (history records, micro-steps)
  SUNMatrix a = nullptr;
  SUNLinearSolver ls = nullptr;
  void* mem = nullptr;  // CVODES (kBdf, kAdams)
  void* erk = nullptr;  // ARKODE ERKStep (kExplicitRk); then mem, a and ls stay null
  // What the right-hand side callback sees.
  const Model* model = nullptr;
  const double* p = nullptr;
  const double* r = nullptr;
  int n = 0;
  std::string last_error;  // CVODES's own message of the last failure (not printed)
  // Forward sensitivities: CVODES's vectors, what their right-hand side sees, its scratch.
  N_Vector* ys = nullptr;
  int ns = 0;
  bool sens_ready = false;  // CVodeSensInit1 done for ns directions
  const double* dp = nullptr;
  const double* dr = nullptr;
  int np = 0;
  double atol = 0.0;
  std::vector<double> xp, xm, pp, pm, fp, fm, sdot;

  ~Handles() {
    if (mem) CVodeFree(&mem);
    if (erk) ERKStepFree(&erk);
    if (ys) N_VDestroyVectorArray(ys, ns);
    if (ls) SUNLinSolFree(ls);
    if (a) SUNMatDestroy(a);
    if (tmp) N_VDestroy(tmp);
    if (y) N_VDestroy(y);
    if (ctx) SUNContext_Free(&ctx);
  }
};

namespace {

constexpr double kFarFutureH = 1e300;
// Relative gap below which two event times are the same instant up to rounding.
constexpr double kMicroStep = 1e-10;

int RhsCallback(realtype t, N_Vector y, N_Vector ydot, void* user_data) {
  auto* h = static_cast<CvodesIntegrator::Handles*>(user_data);
  const double* x = N_VGetArrayPointer(y);
  double* dx = N_VGetArrayPointer(ydot);
  h->model->Rhs(t, x, h->p, dx);
  for (int i = 0; i < h->n; ++i) dx[i] += h->r[i];
  for (int i = 0; i < h->n; ++i) {
    if (!std::isfinite(dx[i])) return 1;  // recoverable: CVODES retries with a smaller step
  }
  return 0;
}

// ds_k/dt = J s_k + (df/dp) dp_k + dr_k at (t, x) as a central directional difference of the
// model's right-hand side along (s_k, dp_k). False if the result is not finite.
bool SensitivityRhs(CvodesIntegrator::Handles* h, double t, const double* x, const double* s, int k,
                    double* out) {
  const double* dp = h->np > 0 ? h->dp + static_cast<size_t>(k) * h->np : nullptr;
  const double* dr = h->dr + static_cast<size_t>(k) * h->n;
  DirectionalStep step;
  step.AddStates(h->n, x, s, h->atol);
  step.AddValues(h->np, h->p, dp);
  const double e = step.Step();
  if (e == 0.0) {
    std::copy(dr, dr + h->n, out);
    return true;
  }
  Perturb(h->n, x, s, e, h->xp.data(), h->xm.data());
  Perturb(h->np, h->p, dp, e, h->pp.data(), h->pm.data());
  h->model->Rhs(t, h->xp.data(), h->pp.data(), h->fp.data());
  h->model->Rhs(t, h->xm.data(), h->pm.data(), h->fm.data());
  for (int i = 0; i < h->n; ++i) {
    out[i] = (h->fp[i] - h->fm[i]) / (2.0 * e) + dr[i];
    if (!std::isfinite(out[i])) return false;
  }
  return true;
}

int SensRhsCallback(int ns, realtype t, N_Vector y, N_Vector ydot, int is, N_Vector ys,
                    N_Vector ysdot, void* user_data, N_Vector tmp1, N_Vector tmp2) {
  auto* h = static_cast<CvodesIntegrator::Handles*>(user_data);
  const bool ok = SensitivityRhs(h, t, N_VGetArrayPointer(y), N_VGetArrayPointer(ys), is,
                                 N_VGetArrayPointer(ysdot));
  return ok ? 0 : 1;  // recoverable: CVODES retries with a smaller step
}

// CVODES's counters since its last (Re)Init, added to `s`.
void AddCvodeStats(void* mem, bool with_sens, SimSummary* s) {
  long v = 0;
  if (CVodeGetNumSteps(mem, &v) == CV_SUCCESS) s->steps += v;
  if (CVodeGetNumRhsEvals(mem, &v) == CV_SUCCESS) s->rhs_evals += v;
  if (CVodeGetNumLinRhsEvals(mem, &v) == CV_SUCCESS) s->rhs_evals += v;
  if (CVodeGetNumJacEvals(mem, &v) == CV_SUCCESS) s->jac_evals += v;
  if (CVodeGetNumErrTestFails(mem, &v) == CV_SUCCESS) s->error_test_failures += v;
  if (CVodeGetNumNonlinSolvConvFails(mem, &v) == CV_SUCCESS) s->nonlinear_failures += v;
  if (with_sens && CVodeGetSensNumRhsEvals(mem, &v) == CV_SUCCESS) s->sens_rhs_evals += v;
}

// ERKStep's counters since its last ReInit, added to `s`.
void AddErkStats(void* erk, SimSummary* s) {
  long v = 0;
  if (ERKStepGetNumSteps(erk, &v) == ARK_SUCCESS) s->steps += v;
  if (ERKStepGetNumRhsEvals(erk, &v) == ARK_SUCCESS) s->rhs_evals += v;
  if (ERKStepGetNumErrTestFails(erk, &v) == ARK_SUCCESS) s->error_test_failures += v;
}

// The library does no I/O: the solver's messages are kept for the Status instead of printed.
void KeepErrorMessage(int code, const char* module, const char* function, char* msg,
                      void* user_data) {
  auto* h = static_cast<CvodesIntegrator::Handles*>(user_data);
  h->last_error = std::string(function) + ": " + msg;
}

int RootCallback(realtype t, N_Vector y, realtype* g, void* user_data) {
  auto* h = static_cast<CvodesIntegrator::Handles*>(user_data);
  h->model->Roots(t, N_VGetArrayPointer(y), h->p, g);
  return 0;
}

std::string FlagName(int flag, bool erk) {
  char* name = erk ? ERKStepGetReturnFlagName(flag) : CVodeGetReturnFlagName(flag);
  std::string s = name ? name : std::to_string(flag);
  free(name);  // allocated by SUNDIALS with malloc
  return s;
}

// The calls both solvers offer, on whichever this integrator runs. Their return flags share
// values (CV_SUCCESS = ARK_SUCCESS, CV_TSTOP_RETURN = ARK_TSTOP_RETURN, CV_ROOT_RETURN =
// ARK_ROOT_RETURN, failures negative).
int SolverReInit(CvodesIntegrator::Handles* h, double t) {
  return h->erk ? ERKStepReInit(h->erk, RhsCallback, t, h->y) : CVodeReInit(h->mem, t, h->y);
}
int SolverSetStopTime(CvodesIntegrator::Handles* h, double t) {
  return h->erk ? ERKStepSetStopTime(h->erk, t) : CVodeSetStopTime(h->mem, t);
}
double SolverCurrentTime(CvodesIntegrator::Handles* h, double fallback) {
  double t = fallback;
  if (h->erk) {
    ERKStepGetCurrentTime(h->erk, &t);
  } else {
    CVodeGetCurrentTime(h->mem, &t);
  }
  return t;
}
int SolverEvolve(CvodesIntegrator::Handles* h, double t_out, double* t_reached, bool one_step) {
  if (h->erk) {
    return ERKStepEvolve(h->erk, t_out, h->y, t_reached, one_step ? ARK_ONE_STEP : ARK_NORMAL);
  }
  return CVode(h->mem, t_out, h->y, t_reached, one_step ? CV_ONE_STEP : CV_NORMAL);
}
int SolverDky(CvodesIntegrator::Handles* h, double t, int k, N_Vector out) {
  return h->erk ? ERKStepGetDky(h->erk, t, k, out) : CVodeGetDky(h->mem, t, k, out);
}
int SolverRootInfo(CvodesIntegrator::Handles* h, int* roots) {
  return h->erk ? ERKStepGetRootInfo(h->erk, roots) : CVodeGetRootInfo(h->mem, roots);
}

}  // namespace

CvodesIntegrator::CvodesIntegrator(const Model& model, const SimOptions& options)
    : model_(model), options_(options) {}

CvodesIntegrator::~CvodesIntegrator() = default;

Status CvodesIntegrator::Create() {
  h_ = std::make_unique<Handles>();
  h_->model = &model_;
  h_->n = model_.num_states();
  if (SUNContext_Create(nullptr, &h_->ctx) != 0) return Status::Internal("SUNContext_Create");
  h_->y = N_VNew_Serial(h_->n, h_->ctx);
  h_->tmp = N_VNew_Serial(h_->n, h_->ctx);
  if (!h_->y || !h_->tmp) return Status::Internal("SUNDIALS vector allocation failed");
  N_VConst(0.0, h_->y);
  return options_.method == OdeMethod::kExplicitRk ? CreateErk() : CreateCvodes();
}

Status CvodesIntegrator::CreateCvodes() {
  h_->a = SUNDenseMatrix(h_->n, h_->n, h_->ctx);
  h_->ls = SUNLinSol_Dense(h_->y, h_->a, h_->ctx);
  const int lmm = options_.method == OdeMethod::kBdf ? CV_BDF : CV_ADAMS;
  h_->mem = CVodeCreate(lmm, h_->ctx);
  if (!h_->a || !h_->ls || !h_->mem) return Status::Internal("CVODES allocation failed");
  int flag = CVodeInit(h_->mem, RhsCallback, 0.0, h_->y);
  if (flag == CV_SUCCESS) flag = CVodeSetUserData(h_->mem, h_.get());
  if (flag == CV_SUCCESS) flag = CVodeSetErrHandlerFn(h_->mem, KeepErrorMessage, h_.get());
  if (flag == CV_SUCCESS) flag = CVodeSStolerances(h_->mem, options_.rtol, options_.atol);
  if (flag == CV_SUCCESS) flag = CVodeSetMaxNumSteps(h_->mem, options_.max_steps);
  if (flag == CV_SUCCESS) flag = CVodeSetLinearSolver(h_->mem, h_->ls, h_->a);
  if (flag == CV_SUCCESS && model_.num_roots() > 0) {
    flag = CVodeRootInit(h_->mem, model_.num_roots(), RootCallback);
    // A root exactly at a restart point is the event just handled, not a new crossing.
    if (flag == CV_SUCCESS) flag = CVodeSetNoInactiveRootWarn(h_->mem);
  }
  if (flag != CV_SUCCESS) return Status::Internal("CVODES setup: " + FlagName(flag, false));
  return Status::Ok();
}

// Dormand-Prince 5(4): FSAL, so about six right-hand sides per step. ARKODE's dense output gives
// the outputs between steps and the derivatives recorded into a history.
Status CvodesIntegrator::CreateErk() {
  h_->erk = ERKStepCreate(RhsCallback, 0.0, h_->y, h_->ctx);
  if (!h_->erk) return Status::Internal("ARKODE allocation failed");
  int flag = ERKStepSetUserData(h_->erk, h_.get());
  if (flag == ARK_SUCCESS) flag = ERKStepSetErrHandlerFn(h_->erk, KeepErrorMessage, h_.get());
  if (flag == ARK_SUCCESS) flag = ERKStepSetTableNum(h_->erk, ARKODE_DORMAND_PRINCE_7_4_5);
  if (flag == ARK_SUCCESS) flag = ERKStepSStolerances(h_->erk, options_.rtol, options_.atol);
  if (flag == ARK_SUCCESS) flag = ERKStepSetMaxNumSteps(h_->erk, options_.max_steps);
  if (flag == ARK_SUCCESS && model_.num_roots() > 0) {
    flag = ERKStepRootInit(h_->erk, model_.num_roots(), RootCallback);
    if (flag == ARK_SUCCESS) flag = ERKStepSetNoInactiveRootWarn(h_->erk);
  }
  if (flag != ARK_SUCCESS) return Status::Internal("ARKODE setup: " + FlagName(flag, true));
  return Status::Ok();
}

Status CvodesIntegrator::SetSensitivities(SensitivityInput* sens) {
  if (sens != nullptr && options_.method == OdeMethod::kExplicitRk) {
    return Status::Unsupported("forward sensitivities with the explicit Runge-Kutta method (erk)");
  }
  if (sens != nullptr && (history_ != nullptr || model_.num_roots() > 0)) {
    return Status::Unsupported("forward sensitivities with model events or delays");
  }
  sens_ = sens;
  return Status::Ok();
}

Status CvodesIntegrator::InitSensitivities() {
  const int ns = sens_->count;
  if (h_->sens_ready && h_->ns == ns) return Status::Ok();
  if (h_->sens_ready) CVodeSensFree(h_->mem);
  h_->sens_ready = false;
  if (h_->ys) N_VDestroyVectorArray(h_->ys, h_->ns);
  h_->ys = N_VCloneVectorArray(ns, h_->y);
  h_->ns = ns;
  if (h_->ys == nullptr) return Status::Internal("CVODES sensitivity allocation failed");
  for (int k = 0; k < ns; ++k) N_VConst(0.0, h_->ys[k]);
  h_->np = model_.num_parameters();
  h_->atol = options_.atol;
  for (auto* v : {&h_->xp, &h_->xm, &h_->fp, &h_->fm, &h_->sdot}) v->assign(h_->n, 0.0);
  for (auto* v : {&h_->pp, &h_->pm}) v->assign(h_->np, 0.0);
  // Sensitivities to log-scale random effects have the scale of the states themselves: the
  // state tolerances apply to them unchanged.
  std::vector<double> atol_s(ns, options_.atol);
  int flag = CVodeSensInit1(h_->mem, ns, CV_STAGGERED, SensRhsCallback, h_->ys);
  if (flag == CV_SUCCESS) flag = CVodeSensSStolerances(h_->mem, options_.rtol, atol_s.data());
  if (flag == CV_SUCCESS) {
    flag = CVodeSetSensErrCon(h_->mem, options_.sensitivity_error_control ? SUNTRUE : SUNFALSE);
  }
  if (flag != CV_SUCCESS)
    return Status::Internal("CVODES sensitivity setup: " + FlagName(flag, false));
  h_->sens_ready = true;
  return Status::Ok();
}

void CvodesIntegrator::AddStats(SimSummary* s) const {
  if (h_->erk) {
    AddErkStats(h_->erk, s);
  } else {
    AddCvodeStats(h_->mem, segment_has_sens_, s);
  }
}

void CvodesIntegrator::HarvestCounters() {
  if (pending_segment_) AddStats(&totals_);
  pending_segment_ = false;
}

void CvodesIntegrator::ResetCounters() {
  HarvestCounters();
  totals_ = SimSummary();
}

Status CvodesIntegrator::Restart(double t_h, const double* x, const double* p, const double* r) {
  if (!h_) MEDTWIN_RETURN_IF_ERROR(Create());
  HarvestCounters();
  h_->p = p;
  h_->r = r;
  double* y = N_VGetArrayPointer(h_->y);
  for (int i = 0; i < h_->n; ++i) y[i] = x[i];
  int flag = SolverReInit(h_.get(), t_h);
  if (flag != CV_SUCCESS) return Status::Internal("solver ReInit: " + FlagName(flag, h_->erk));
  segment_has_sens_ = sens_ != nullptr;
  if (sens_ != nullptr) {
    MEDTWIN_RETURN_IF_ERROR(InitSensitivities());
    h_->dp = sens_->dp;
    h_->dr = sens_->dr;
    for (int k = 0; k < h_->ns; ++k) {
      std::copy(sens_->s + static_cast<size_t>(k) * h_->n,
                sens_->s + static_cast<size_t>(k + 1) * h_->n, N_VGetArrayPointer(h_->ys[k]));
    }
    flag = CVodeSensReInit(h_->mem, CV_STAGGERED, h_->ys);
    if (flag != CV_SUCCESS) return Status::Internal("CVodeSensReInit: " + FlagName(flag, false));
  } else if (h_->sens_ready) {
    CVodeSensToggleOff(h_->mem);
  }
  if (history_ != nullptr) {
    // The state jumps here: what the solver recorded beyond t_h never happened. The derivative
    // is evaluated after the record exists (the right-hand side may read the history at t_h).
    history_->TruncateAfter(t_h);
    N_VConst(0.0, h_->tmp);
    history_->Record(t_h, y, N_VGetArrayPointer(h_->tmp));
    RhsCallback(t_h, h_->y, h_->tmp, h_.get());
    history_->SetLastDerivative(N_VGetArrayPointer(h_->tmp));
  }
  t_h_ = t_h;
  started_ = true;
  pending_segment_ = true;
  restarted_ = true;
  ++totals_.reinits;
  return Status::Ok();
}

Status CvodesIntegrator::Advance(double t_out_h, double t_stop_h, double* x,
                                 double* t_reached_out) {
  if (!started_) return Status::Internal("CvodesIntegrator::Advance before Restart");
  double* y = N_VGetArrayPointer(h_->y);
  root_found_ = false;
  const double dt = t_out_h - t_h_;
  if (dt > 0.0 && dt <= kMicroStep * std::max(1.0, std::fabs(t_out_h))) {
    // Event times a rounding error apart (an infusion of duration F*AMT/RATE ending "at" the
    // next dose): CVODES refuses such a step (CV_TOO_CLOSE); one Euler step is exact to
    // O(dt^2), far below any tolerance.
    RhsCallback(t_h_, h_->y, h_->tmp, h_.get());
    if (segment_has_sens_) MEDTWIN_RETURN_IF_ERROR(EulerSensitivities(dt));
    N_VLinearSum(1.0, h_->y, dt, h_->tmp, h_->y);
    if (history_ != nullptr) history_->Record(t_out_h, y, N_VGetArrayPointer(h_->tmp));
    t_h_ = t_out_h;
  } else if (dt > 0.0) {
    // A stop time survives CVodeReInit, and after a restart CVODES rejects a stale one equal to
    // the new initial time; SUNDIALS 6.4 cannot clear it, so "no discontinuity ahead" is a stop
    // time far beyond any simulation. CVODES may also already stand on the stop time (a step
    // landed there while serving an earlier output); it is then left as is.
    // When recording a history the solver stops at each output too: in one-step mode CVODES
    // would otherwise report roots beyond the output time.
    const double t_stop = history_ != nullptr       ? t_out_h
                          : std::isfinite(t_stop_h) ? t_stop_h
                                                    : kFarFutureH;
    const double t_internal = SolverCurrentTime(h_.get(), t_h_);
    if ((restarted_ || t_stop != t_stop_set_) && t_stop > t_internal) {
      SolverSetStopTime(h_.get(), t_stop);
      t_stop_set_ = t_stop;
    }
    restarted_ = false;
    double t_reached = t_h_;
    const int flag = history_ == nullptr ? SolverEvolve(h_.get(), t_out_h, &t_reached, false)
                                         : StepRecording(t_out_h, &t_reached);
    if (flag == CV_ROOT_RETURN) {
      t_out_h = t_reached;  // stopped at an event trigger
      roots_.resize(model_.num_roots());
      SolverRootInfo(h_.get(), roots_.data());
      root_found_ = true;
    } else if (flag < 0 || t_reached != t_out_h) {
      return Status::Numerical("CVODES failed between " + model_.spec().TimeText(t_h_) + " and " +
                               model_.spec().TimeText(t_out_h) + ": " + FlagName(flag, h_->erk));
    }
    if (segment_has_sens_) {
      double t_sens = t_reached;
      const int sflag = CVodeGetSens(h_->mem, &t_sens, h_->ys);
      if (sflag != CV_SUCCESS) return Status::Internal("CVodeGetSens: " + FlagName(sflag, false));
    }
    t_h_ = t_out_h;
  }
  if (segment_has_sens_ && sens_ != nullptr) MEDTWIN_RETURN_IF_ERROR(CopySensitivities(t_out_h));
  if (t_reached_out != nullptr) *t_reached_out = t_out_h;
  for (int i = 0; i < h_->n; ++i) {
    if (!std::isfinite(y[i])) {
      return Status::Numerical("state '" + model_.spec().states[i].name + "' is not finite at " +
                               model_.spec().TimeText(t_out_h));
    }
    x[i] = y[i];
  }
  return Status::Ok();
}

Status CvodesIntegrator::EulerSensitivities(double dt) {
  const double* x = N_VGetArrayPointer(h_->y);
  std::vector<double>& rate = h_->sdot;
  for (int k = 0; k < h_->ns; ++k) {
    double* s = N_VGetArrayPointer(h_->ys[k]);
    if (!SensitivityRhs(h_.get(), t_h_, x, s, k, rate.data())) {
      return Status::Numerical("sensitivity right-hand side not finite at " +
                               model_.spec().TimeText(t_h_));
    }
    for (int i = 0; i < h_->n; ++i) s[i] += dt * rate[i];
  }
  return Status::Ok();
}

Status CvodesIntegrator::CopySensitivities(double t_h) {
  for (int k = 0; k < h_->ns; ++k) {
    const double* s = N_VGetArrayPointer(h_->ys[k]);
    double* out = sens_->s + static_cast<size_t>(k) * h_->n;
    for (int i = 0; i < h_->n; ++i) {
      if (!std::isfinite(s[i])) {
        return Status::Numerical("the sensitivity of state '" + model_.spec().states[i].name +
                                 "' to random effect " + std::to_string(k + 1) +
                                 " is not finite at " + model_.spec().TimeText(t_h));
      }
      out[i] = s[i];
    }
  }
  return Status::Ok();
}

void CvodesIntegrator::RecordFromSolver(double t) {
  SolverDky(h_.get(), t, 1, h_->tmp);
  history_->Record(t, N_VGetArrayPointer(h_->y), N_VGetArrayPointer(h_->tmp));
}

int CvodesIntegrator::StepRecording(double t_out, double* t_reached) {
  // One-step mode resets the solver's own step limit at every call: the limit of
  // SimOptions::max_steps is counted here (else a model the solver can only creep through, e.g.
  // a circulation at an optimiser's trial parameters, fills the history without end).
  for (long steps = 0;; ++steps) {  // the stop time is t_out: no step passes it
    if (steps >= options_.max_steps) return CV_TOO_MUCH_WORK;  // == ARK_TOO_MUCH_WORK
    double t = 0.0;
    const int flag = SolverEvolve(h_.get(), t_out, &t, true);
    if (flag < 0) return flag;
    RecordFromSolver(t);  // an accepted step, the stop time, or a root (y interpolated there)
    if (flag == CV_ROOT_RETURN || t >= t_out) {
      *t_reached = t;
      return flag == CV_ROOT_RETURN ? flag : CV_SUCCESS;
    }
  }
}

void CvodesIntegrator::AddCounters(SimSummary* summary) const {
  SimSummary s = totals_;
  if (pending_segment_) AddStats(&s);
  summary->steps += s.steps;
  summary->rhs_evals += s.rhs_evals;
  summary->jac_evals += s.jac_evals;
  summary->error_test_failures += s.error_test_failures;
  summary->nonlinear_failures += s.nonlinear_failures;
  summary->reinits += s.reinits;
  summary->sens_rhs_evals += s.sens_rhs_evals;
}

}  // namespace medtwin
