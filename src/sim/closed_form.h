// Closed-form propagator: exact segment solutions for linear models via LinearKernel, with
// forward sensitivities (exact too: see linear_kernel.h) when the run asks for them.
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
  Status SetSensitivities(SensitivityInput* sens) override;

  const LinearKernel& kernel() const { return kernel_; }

 private:
  const Model& model_;
  LinearKernel kernel_;
  // B_k = dA/deta_k = sum_j dA/dp_j dp_kj for the current p and sens_->dp, into b_.
  void CouplingMatrices();

  std::vector<double> a_, cached_p_;
  SensitivityInput* sens_ = nullptr;
  std::vector<double> b_, a_plus_, a_minus_, p_plus_, p_minus_;  // B_k and their differences
  bool cached_ = false;
  double t_h_ = 0.0;  // time of the kernel's current state
  long evals_ = 0;
};

}  // namespace medtwin

#endif  // MEDTWIN_SIM_CLOSED_FORM_H_
