#include "sim/linear_kernel.h"

#include <Eigen/Eigenvalues>
#include <cmath>

namespace medtwin {
namespace {

// expm1(l*t)/l, continuous at l = 0 (where it equals t).
double Phi(double lambda, double t) {
  if (lambda == 0.0) return t;
  return std::expm1(lambda * t) / lambda;
}

// Above this condition number of the eigenvector basis, rounding in V^-1 would cost more than
// the 1e-6 agreement the closed form promises; the ODE path is used instead.
constexpr double kMaxCondition = 1e7;

}  // namespace

Status LinearKernel::Decompose(const double* a_row_major, int n) {
  Eigen::MatrixXd a(n, n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) a(i, j) = a_row_major[i * n + j];
  }
  if (!a.allFinite()) return Status::Numerical("linear kernel: system matrix is not finite");
  Eigen::EigenSolver<Eigen::MatrixXd> es(a, /*computeEigenvectors=*/true);
  if (es.info() != Eigen::Success) {
    return Status::Unsupported("eigen-decomposition of the system matrix failed");
  }
  const double scale = std::max(1.0, a.cwiseAbs().maxCoeff());
  if (es.eigenvalues().imag().cwiseAbs().maxCoeff() > 1e-12 * scale) {
    return Status::Unsupported("system matrix has complex eigenvalues");
  }
  lambda_ = es.eigenvalues().real();
  v_ = es.eigenvectors().real();
  Eigen::FullPivLU<Eigen::MatrixXd> lu(v_);
  if (!lu.isInvertible()) return Status::Unsupported("system matrix is defective");
  w_ = lu.inverse();
  const double cond =
      v_.cwiseAbs().rowwise().sum().maxCoeff() * w_.cwiseAbs().rowwise().sum().maxCoeff();
  if (!(cond < kMaxCondition)) {
    return Status::Unsupported("near-repeated eigenvalues (eigenvector condition " +
                               std::to_string(cond) + ")");
  }
  z_.setZero(n);
  zr_.setZero(n);
  decay_.setZero(n);
  gain_.setZero(n);
  cached_dt_ = -1.0;
  return Status::Ok();
}

// Small dense products by hand: for the 2-4 states of compartment models Eigen's dynamic-size
// GEMV dispatch costs more than the arithmetic.
void LinearKernel::Start(const double* x, const double* r) {
  const int n = this->n();
  for (int i = 0; i < n; ++i) {
    double zi = 0.0, ri = 0.0;
    for (int j = 0; j < n; ++j) {
      zi += w_(i, j) * x[j];
      ri += w_(i, j) * r[j];
    }
    z_[i] = zi;
    zr_[i] = ri;
  }
}

void LinearKernel::Step(double dt, double* x) {
  const int n = this->n();
  if (dt != cached_dt_) {
    for (int i = 0; i < n; ++i) {
      decay_[i] = std::exp(lambda_[i] * dt);
      gain_[i] = Phi(lambda_[i], dt);
    }
    cached_dt_ = dt;
  }
  for (int i = 0; i < n; ++i) z_[i] = decay_[i] * z_[i] + gain_[i] * zr_[i];
  for (int i = 0; i < n; ++i) {
    double xi = 0.0;
    for (int j = 0; j < n; ++j) xi += v_(i, j) * z_[j];
    x[i] = xi;
  }
}

Status LinearKernel::PeriodicTrough(int state, double amount, double duration_h, double tau_h,
                                    double* x) const {
  const int n = this->n();
  Eigen::VectorXd z(n);
  for (int i = 0; i < n; ++i) {
    const double l = lambda_[i];
    if (!(l < 0.0)) {
      return Status::Numerical("no steady state: the system has a non-decaying mode (eigenvalue " +
                               std::to_string(l) + " 1/h)");
    }
    const double u = w_(i, state);  // modal weight of a unit input into `state`
    const double q = std::exp(l * tau_h);
    if (duration_h == 0.0) {
      // Doses at -k*tau, k >= 1: sum of exp(l*k*tau).
      z[i] = amount * u * q / (1.0 - q);
      continue;
    }
    const double rate = amount / duration_h;
    // Infusions started k*tau ago: still running while k*tau < duration (overlap), else done.
    double sum = 0.0;
    int k = 1;
    for (; k * tau_h < duration_h; ++k) sum += Phi(l, k * tau_h);
    sum += Phi(l, duration_h) * std::exp(l * (k * tau_h - duration_h)) / (1.0 - q);
    z[i] = rate * u * sum;
  }
  Eigen::Map<Eigen::VectorXd>(x, n).noalias() = v_ * z;
  return Status::Ok();
}

Status LinearKernel::ConstantInfusionSteadyState(int state, double rate, double* x) const {
  const int n = this->n();
  Eigen::VectorXd z(n);
  for (int i = 0; i < n; ++i) {
    if (!(lambda_[i] < 0.0)) {
      return Status::Numerical("no steady state for a constant infusion: non-decaying mode");
    }
    z[i] = -rate * w_(i, state) / lambda_[i];
  }
  Eigen::Map<Eigen::VectorXd>(x, n).noalias() = v_ * z;
  return Status::Ok();
}

}  // namespace medtwin
