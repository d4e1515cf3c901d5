// CVODES propagator: BDF or Adams with Newton iteration and a dense direct linear solver
// (difference-quotient Jacobian). One instance owns one CVODES workspace, reused across
// segments (CVodeReInit at discontinuities) and across subjects.
#ifndef MEDTWIN_SIM_CVODES_INTEGRATOR_H_
#define MEDTWIN_SIM_CVODES_INTEGRATOR_H_

#include <memory>

#include "medtwin/model.h"
#include "sim/propagator.h"

namespace medtwin {

class CvodesIntegrator final : public Propagator {
 public:
  // REQUIRES: options validated; model outlives the integrator.
  CvodesIntegrator(const Model& model, const SimOptions& options);
  ~CvodesIntegrator() override;

  Status Restart(double t_h, const double* x, const double* p, const double* r) override;
  Status Advance(double t_out_h, double t_stop_h, double* x) override;
  void AddCounters(SimSummary* summary) const override;
  void ResetCounters() override;

  struct Handles;  // public so the C callback can see it

 private:
  Status Create();
  void HarvestCounters();

  const Model& model_;
  SimOptions options_;
  std::unique_ptr<Handles> h_;
  double t_h_ = 0.0;
  bool started_ = false;
  bool pending_segment_ = false;
  bool restarted_ = false;  // CVodeReInit since the last CVode call
  double t_stop_set_ =
      0.0;  // stop time last given to CVODES  // CVODES holds counters not yet added to totals_
  SimSummary totals_;  // counters of finished segments (CVodeReInit zeroes CVODES's own)
};

}  // namespace medtwin

#endif  // MEDTWIN_SIM_CVODES_INTEGRATOR_H_
