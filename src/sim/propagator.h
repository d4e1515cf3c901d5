// Propagator: advances a model's state across one smooth segment of the event schedule.
// Implemented by CVODES (any model) and by the closed-form kernel (linear models).
#ifndef MEDTWIN_SIM_PROPAGATOR_H_
#define MEDTWIN_SIM_PROPAGATOR_H_

#include "medtwin/simulator.h"
#include "medtwin/state_history.h"
#include "medtwin/status.h"

namespace medtwin {

// Forward sensitivities carried through a propagator's segments: s_k = dx/deta_k for `count`
// directions obeys ds_k/dt = J s_k + (df/dp) dp_k + dr_k between discontinuities.
struct SensitivityInput {
  int count = 0;
  const double* dp = nullptr;  // count x num_parameters: dp/deta_k; read at Restart
  const double* dr = nullptr;  // count x num_states: d(infusion rate)/deta_k; read at Restart
  double* s = nullptr;         // count x num_states: read at Restart, written by Advance
};

class Propagator {
 public:
  virtual ~Propagator() = default;
  // Starts a smooth segment at t_h with state x, individual parameters p and infusion rates r
  // (per state, amount/h). REQUIRES: p and r stay valid and unchanged until the next Restart.
  virtual Status Restart(double t_h, const double* x, const double* p, const double* r) = 0;
  // Advances to t_out_h (>= current time) and writes the state there to x. t_stop_h >= t_out_h
  // is the next discontinuity (kInf if none): the solver must not step past it. If the model has
  // root functions, integration stops early at a located root: *t_reached (when non-null)
  // tells where it stopped (t_out_h when no root was found).
  virtual Status Advance(double t_out_h, double t_stop_h, double* x,
                         double* t_reached = nullptr) = 0;
  // Adds this propagator's counters since the last ResetCounters to `summary`.
  virtual void AddCounters(SimSummary* summary) const = 0;
  // Directions of the roots found by the last Advance (one per Model root function), or null if
  // it did not stop at a root.
  virtual const int* RootsFound() const { return nullptr; }
  // Zeroes the counters (called at the start of each subject).
  virtual void ResetCounters() = 0;
  // Records every accepted step, output and restart into `history` (null: stop recording).
  // Only propagators that can serve models reading past states implement it.
  virtual void SetHistory(StateHistory* history) {}
  // Carries `sens` (null: none) through every later Restart and Advance; the pointers in it are
  // read at each Restart. kUnsupported by propagators that cannot.
  virtual Status SetSensitivities(SensitivityInput* sens) {
    return sens == nullptr
               ? Status::Ok()
               : Status::Unsupported("this propagator carries no forward sensitivities");
  }
};

}  // namespace medtwin

#endif  // MEDTWIN_SIM_PROPAGATOR_H_
