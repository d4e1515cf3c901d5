// Closed-form propagator: exact segment solutions for linear models via LinearKernel.
#ifndef MEDTWIN_SIM_CLOSED_FORM_H_
#define MEDTWIN_SIM_CLOSED_FORM_H_

#include <vector>

#include "medtwin/model.h"
#include "sim/linear_kernel.h"
#include "sim/propagator.h"

namespace medtwin {

class ClosedFormPropagator final : public Propagator {
 public:
  // REQUIRES: model is linear (LinearMatrix returns true); model outlives this object.
  explicit ClosedFormPropagator(const Model& model);

  // Decomposes A(p) (once per distinct p). Fails with kUnsupported when A has complex or
  // near-repeated eigenvalues; the simulator then falls back to the ODE path.
  Status Prepare(const double* p);
  Status Restart(double t_h, const double* x, const double* p, const double* r) override;
  Status Advance(double t_out_h, double t_stop_h, double* x, double* t_reached = nullptr) override;
  void AddCounters(SimSummary* summary) const override;
  void ResetCounters() override { evals_ = 0; }

  const LinearKernel& kernel() const { return kernel_; }

 private:
  const Model& model_;
  LinearKernel kernel_;
  std::vector<double> a_, cached_p_;
  bool cached_ = false;
  double t_h_ = 0.0;  // time of the kernel's current state
  long evals_ = 0;
};

}  // namespace medtwin

#endif  // MEDTWIN_SIM_CLOSED_FORM_H_
