// Closed-form solution of linear time-invariant compartment systems dx/dt = A x + r.
//
// A = V diag(lambda) V^-1 with real eigenvalues (true for mammillary and catenary compartment
// models: their matrices are similar to symmetric ones). In modal coordinates z = V^-1 x each
// mode evolves independently:
//   z_i(t + dt) = exp(lambda_i dt) z_i(t) + expm1(lambda_i dt)/lambda_i * (V^-1 r)_i,
// which is the superposition of every bolus and infusion's exponential response, evaluated
// exactly. Steady states under periodic dosing are geometric series per mode.
#ifndef MEDTWIN_SIM_LINEAR_KERNEL_H_
#define MEDTWIN_SIM_LINEAR_KERNEL_H_

#include <Eigen/Dense>
#include <string>
#include <vector>

#include "medtwin/status.h"

namespace medtwin {

class LinearKernel {
 public:
  // Decomposes A (row-major n x n). Fails (kUnsupported) if an eigenvalue is complex or the
  // eigenvector basis is ill-conditioned (near-repeated eigenvalues), with the reason.
  Status Decompose(const double* a_row_major, int n);
  int n() const { return static_cast<int>(lambda_.size()); }

  // Sets the current state x and the constant input r (per state, amount/h).
  void Start(const double* x, const double* r);
  // Advances the current state by dt >= 0 (exact) and writes it to x. The modal factors of the
  // last dt are cached: regular output grids cost no transcendental calls after the first step.
  void Step(double dt, double* x);

  // State just before a dose at steady state under doses every tau_h of `amount` into `state`:
  // a bolus when duration_h == 0, else an infusion at amount/duration_h lasting duration_h
  // (may exceed tau: overlapping infusions). Fails if a mode does not decay (lambda >= 0).
  Status PeriodicTrough(int state, double amount, double duration_h, double tau_h, double* x) const;
  // Steady state under a constant input rate into `state`: x = -A^-1 r.
  Status ConstantInfusionSteadyState(int state, double rate, double* x) const;

 private:
  Eigen::VectorXd lambda_;
  Eigen::MatrixXd v_, w_;         // eigenvectors and their inverse
  Eigen::VectorXd z_, zr_;        // modal state and modal input
  Eigen::VectorXd decay_, gain_;  // exp(lambda dt), expm1(lambda dt)/lambda for cached_dt_
  double cached_dt_ = -1.0;
};

}  // namespace medtwin

#endif  // MEDTWIN_SIM_LINEAR_KERNEL_H_
