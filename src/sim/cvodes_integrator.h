// CVODES propagator: BDF or Adams with Newton iteration and a dense direct linear solver
// (difference-quotient Jacobian). One instance owns one CVODES workspace, reused across
// segments (CVodeReInit at discontinuities) and across subjects.
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

  struct Handles;  // public so the C callback can see it

 private:
  Status Create();
  void HarvestCounters();
  // CVode in one-step mode up to t_out, recording each step (and t_out) into history_; returns
  // CVODES's flag with *t_reached as CV_NORMAL would.
  int StepRecording(double t_out, double* t_reached);
  // Records (t, y) with dy/dt from CVODES's interpolant (valid inside the last step).
  void RecordFromSolver(double t);

  const Model& model_;
  SimOptions options_;
  std::unique_ptr<Handles> h_;
  StateHistory* history_ = nullptr;  // the run's trajectory, for models reading past states
  double t_h_ = 0.0;
  bool started_ = false;
  bool pending_segment_ = false;  // CVODES holds counters not yet added to totals_
  bool restarted_ = false;        // CVodeReInit since the last CVode call
  bool root_found_ = false;       // the last Advance stopped at a root
  std::vector<int> roots_;        // CVodeGetRootInfo of that root
  double t_stop_set_ = 0.0;       // stop time last given to CVODES
  SimSummary totals_;             // counters of finished segments (CVodeReInit zeroes CVODES's own)
};

}  // namespace medtwin

#endif  // MEDTWIN_SIM_CVODES_INTEGRATOR_H_
