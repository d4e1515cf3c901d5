// ODE propagator on SUNDIALS. CVODES: BDF or Adams with Newton iteration and a dense direct
// linear solver (difference-quotient Jacobian). OdeMethod::kExplicitRk: ARKODE's ERKStep with
// the Dormand-Prince 5(4) pair, for non-stiff models (no Jacobian, no linear algebra; one-step,
// so kinks in the right-hand side cost a few rejected steps, not an order restart). One
// instance owns one solver workspace, reused across segments (ReInit at discontinuities) and
// across subjects. Forward sensitivities
// (SetSensitivities): CVODES's staggered corrector with error control on the sensitivities at
// the state tolerances; the sensitivity right-hand side J s_k + (df/dp) dp_k + dr_k is a central
// directional difference of Model::Rhs (sim/directional.h); CVODES only.
#ifndef MEDTWIN_SIM_CVODES_INTEGRATOR_H_
#define MEDTWIN_SIM_CVODES_INTEGRATOR_H_

#include <memory>
#include <vector>

#include "medtwin/model.h"
#include "sim/propagator.h"

namespace medtwin {

class CvodesIntegrator final : public Propagator {
 public:
  // REQUIRES: options validated; model outlives the integrator.
  CvodesIntegrator(const Model& model, const SimOptions& options);
  ~CvodesIntegrator() override;

  Status Restart(double t_h, const double* x, const double* p, const double* r) override;
  Status Advance(double t_out_h, double t_stop_h, double* x, double* t_reached = nullptr) override;
  void AddCounters(SimSummary* summary) const override;
  void ResetCounters() override;
  const int* RootsFound() const override { return root_found_ ? roots_.data() : nullptr; }
  void SetHistory(StateHistory* history) override { history_ = history; }
  Status SetSensitivities(SensitivityInput* sens) override;

  struct Handles;  // public so the C callback can see it

 private:
  Status Create();
  Status CreateCvodes();
  Status CreateErk();
  // The solver's counters since its last ReInit, added to `s`.
  void AddStats(SimSummary* s) const;
  // Sizes CVODES's sensitivity workspace for sens_->count directions (once per count).
  Status InitSensitivities();
  void HarvestCounters();
  // One explicit Euler step of the sensitivities (the micro-step between near-equal times).
  Status EulerSensitivities(double dt);
  // CVODES's current sensitivities into sens_->s; an error if one is not finite.
  Status CopySensitivities(double t_h);
  // CVode in one-step mode up to t_out, recording each step (and t_out) into history_; returns
  // CVODES's flag with *t_reached as CV_NORMAL would, CV_TOO_MUCH_WORK after max_steps steps.
  int StepRecording(double t_out, double* t_reached);
  // Records (t, y) with dy/dt from CVODES's interpolant (valid inside the last step).
  void RecordFromSolver(double t);

  const Model& model_;
  SimOptions options_;
  std::unique_ptr<Handles> h_;
  StateHistory* history_ = nullptr;   // the run's trajectory, for models reading past states
  SensitivityInput* sens_ = nullptr;  // forward sensitivities to carry, if any
  double t_h_ = 0.0;
  bool started_ = false;
  bool pending_segment_ = false;   // CVODES holds counters not yet added to totals_
  bool segment_has_sens_ = false;  // the current segment integrates sensitivities
  bool restarted_ = false;         // CVodeReInit since the last CVode call
  bool root_found_ = false;        // the last Advance stopped at a root
  std::vector<int> roots_;         // CVodeGetRootInfo of that root
  double t_stop_set_ = 0.0;        // stop time last given to CVODES
  SimSummary totals_;              // counters of finished segments (ReInit zeroes the solver's own)
};

}  // namespace medtwin

#endif  // MEDTWIN_SIM_CVODES_INTEGRATOR_H_
