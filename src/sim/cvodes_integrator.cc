#include "sim/cvodes_integrator.h"

#include <cvodes/cvodes.h>
#include <nvector/nvector_serial.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace medtwin {

// RAII owner of every SUNDIALS handle; destroyed in reverse order of creation.
struct CvodesIntegrator::Handles {
  SUNContext ctx = nullptr;
  N_Vector y = nullptr;
  N_Vector tmp = nullptr;  // derivative scratch (history records, micro-steps)
  SUNMatrix a = nullptr;
  SUNLinearSolver ls = nullptr;
  void* mem = nullptr;
  // What the right-hand side callback sees.
  const Model* model = nullptr;
  const double* p = nullptr;
  const double* r = nullptr;
  int n = 0;
  std::string last_error;  // CVODES's own message of the last failure (not printed)

  ~Handles() {
    if (mem) CVodeFree(&mem);
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

// CVODES's counters since its last (Re)Init, added to `s`.
void AddCvodeStats(void* mem, SimSummary* s) {
  long v = 0;
  if (CVodeGetNumSteps(mem, &v) == CV_SUCCESS) s->steps += v;
  if (CVodeGetNumRhsEvals(mem, &v) == CV_SUCCESS) s->rhs_evals += v;
  if (CVodeGetNumLinRhsEvals(mem, &v) == CV_SUCCESS) s->rhs_evals += v;
  if (CVodeGetNumJacEvals(mem, &v) == CV_SUCCESS) s->jac_evals += v;
  if (CVodeGetNumErrTestFails(mem, &v) == CV_SUCCESS) s->error_test_failures += v;
  if (CVodeGetNumNonlinSolvConvFails(mem, &v) == CV_SUCCESS) s->nonlinear_failures += v;
}

// The library does no I/O: CVODES's messages are kept for the Status instead of printed.
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

std::string FlagName(int flag) {
  char* name = CVodeGetReturnFlagName(flag);
  std::string s = name ? name : std::to_string(flag);
  free(name);  // allocated by SUNDIALS with malloc
  return s;
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
  h_->a = SUNDenseMatrix(h_->n, h_->n, h_->ctx);
  h_->ls = SUNLinSol_Dense(h_->y, h_->a, h_->ctx);
  const int lmm = options_.method == OdeMethod::kBdf ? CV_BDF : CV_ADAMS;
  h_->mem = CVodeCreate(lmm, h_->ctx);
  if (!h_->y || !h_->tmp || !h_->a || !h_->ls || !h_->mem)
    return Status::Internal("CVODES allocation failed");
  N_VConst(0.0, h_->y);
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
  if (flag != CV_SUCCESS) return Status::Internal("CVODES setup: " + FlagName(flag));
  return Status::Ok();
}

void CvodesIntegrator::HarvestCounters() {
  if (pending_segment_) AddCvodeStats(h_->mem, &totals_);
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
  const int flag = CVodeReInit(h_->mem, t_h, h_->y);
  if (flag != CV_SUCCESS) return Status::Internal("CVodeReInit: " + FlagName(flag));
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
    double t_internal = t_h_;
    CVodeGetCurrentTime(h_->mem, &t_internal);
    if ((restarted_ || t_stop != t_stop_set_) && t_stop > t_internal) {
      CVodeSetStopTime(h_->mem, t_stop);
      t_stop_set_ = t_stop;
    }
    restarted_ = false;
    double t_reached = t_h_;
    const int flag = history_ == nullptr ? CVode(h_->mem, t_out_h, h_->y, &t_reached, CV_NORMAL)
                                         : StepRecording(t_out_h, &t_reached);
    if (flag == CV_ROOT_RETURN) {
      t_out_h = t_reached;  // stopped at an event trigger
      roots_.resize(model_.num_roots());
      CVodeGetRootInfo(h_->mem, roots_.data());
      root_found_ = true;
    } else if (flag < 0 || t_reached != t_out_h) {
      return Status::Numerical("CVODES failed between t=" + std::to_string(t_h_) +
                               " h and t=" + std::to_string(t_out_h) + " h: " + FlagName(flag));
    }
    t_h_ = t_out_h;
  }
  if (t_reached_out != nullptr) *t_reached_out = t_out_h;
  for (int i = 0; i < h_->n; ++i) {
    if (!std::isfinite(y[i])) {
      return Status::Numerical("state '" + model_.spec().states[i].name +
                               "' is not finite at t=" + std::to_string(t_out_h) + " h");
    }
    x[i] = y[i];
  }
  return Status::Ok();
}

void CvodesIntegrator::RecordFromSolver(double t) {
  CVodeGetDky(h_->mem, t, 1, h_->tmp);
  history_->Record(t, N_VGetArrayPointer(h_->y), N_VGetArrayPointer(h_->tmp));
}

int CvodesIntegrator::StepRecording(double t_out, double* t_reached) {
  while (true) {  // the stop time is t_out: no step passes it
    double t = 0.0;
    const int flag = CVode(h_->mem, t_out, h_->y, &t, CV_ONE_STEP);
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
  if (pending_segment_) AddCvodeStats(h_->mem, &s);
  summary->steps += s.steps;
  summary->rhs_evals += s.rhs_evals;
  summary->jac_evals += s.jac_evals;
  summary->error_test_failures += s.error_test_failures;
  summary->nonlinear_failures += s.nonlinear_failures;
  summary->reinits += s.reinits;
}

}  // namespace medtwin
