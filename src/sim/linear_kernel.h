// Closed-form solution of linear time-invariant compartment systems dx/dt = A x + r.
//
// A = V diag(lambda) V^-1 with real eigenvalues (true for mammillary and catenary compartment
// models: their matrices are similar to symmetric ones). In modal coordinates z = V^-1 x each
// mode evolves independently:
//   z_i(t + dt) = exp(lambda_i dt) z_i(t) + expm1(lambda_i dt)/lambda_i * (V^-1 r)_i,
// which is the superposition of every bolus and infusion's exponential response, evaluated
// exactly. Steady states under periodic dosing are geometric series per mode.
//
// Forward sensitivities s_k = dx/deta_k obey ds_k/dt = A s_k + B_k x + dr_k (B_k = dA/deta_k,
// dr_k = dr/deta_k). In modal coordinates sigma_k = V^-1 s_k, C_k = V^-1 B_k V:
//   sigma_ki(t + dt) = exp(lambda_i dt) sigma_ki + expm1(lambda_i dt)/lambda_i (V^-1 dr_k)_i
//                      + sum_j C_kij (E_ij z_j + F_ij (V^-1 r)_j),
//   E_ij = int_0^dt exp(lambda_i (dt-u)) exp(lambda_j u) du = dt   exp[lambda_i dt, lambda_j dt],
//   F_ij = int_0^dt exp(lambda_i (dt-u)) int_0^u exp(lambda_j v) dv du
//                                                          = dt^2 exp[lambda_i dt, lambda_j dt, 0],
// exp[...] the divided differences of exp (Hermite-Genocchi), so the segment is again exact.
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
  // Starts `count` forward sensitivities (after Start): b holds B_k = dA/deta_k (count row-major
  // n x n matrices), s the sensitivities s_k and dr the input derivatives dr_k (count x n each).
  void StartSensitivities(int count, const double* b, const double* s, const double* dr);
  // Stops carrying sensitivities (Step then writes none).
  void StopSensitivities() { sens_count_ = 0; }
  // Advances the current state by dt >= 0 (exact) and writes it to x, and the sensitivities to s
  // (count x n) when they are started. The modal factors of the last dt are cached: regular
  // output grids cost no transcendental calls after the first step.
  void Step(double dt, double* x, double* s = nullptr);

  // State just before a dose at steady state under doses every tau_h of `amount` into `state`:
  // a bolus when duration_h == 0, else an infusion at amount/duration_h lasting duration_h
  // (may exceed tau: overlapping infusions). Fails if a mode does not decay (lambda >= 0).
  Status PeriodicTrough(int state, double amount, double duration_h, double tau_h, double* x) const;
  // Steady state under a constant input rate into `state`: x = -A^-1 r.
  Status ConstantInfusionSteadyState(int state, double rate, double* x) const;
  // The fixed point s = exp(A tau_h) s + c of a dosing cycle's sensitivity map, for `count`
  // vectors c (count x n) into s: (I - exp(A tau))^-1 c per mode. Fails if a mode does not decay.
  Status PeriodicFixedPoint(double tau_h, int count, const double* c, double* s) const;

 private:
  Eigen::VectorXd lambda_;
  Eigen::MatrixXd v_, w_;         // eigenvectors and their inverse
  Eigen::VectorXd z_, zr_;        // modal state and modal input
  Eigen::VectorXd decay_, gain_;  // exp(lambda dt), expm1(lambda dt)/lambda for cached_dt_
  double cached_dt_ = -1.0;
  // Forward sensitivities: count, modal couplings C_k (count x n x n), modal sensitivities and
  // inputs (count x n), and E, F of cached_sens_dt_ (n x n, row-major).
  void CacheSensitivityFactors(double dt);
  int sens_count_ = 0;
  std::vector<double> c_, sigma_, rho_, e_, f_, work_;
  double cached_sens_dt_ = -1.0;
};

}  // namespace medtwin

#endif  // MEDTWIN_SIM_LINEAR_KERNEL_H_
