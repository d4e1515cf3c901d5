#include "sim/linear_kernel.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <unsupported/Eigen/MatrixFunctions>

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
  cached_sens_dt_ = -1.0;
  sens_count_ = 0;
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

void LinearKernel::StartSensitivities(int count, const double* b, const double* s,
                                      const double* dr) {
  const int n = this->n();
  const size_t nn = static_cast<size_t>(n) * n;
  sens_count_ = count;
  c_.resize(count * nn);
  sigma_.resize(static_cast<size_t>(count) * n);
  rho_.resize(static_cast<size_t>(count) * n);
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  for (int k = 0; k < count; ++k) {
    Eigen::Map<const RowMajor> bk(b + k * nn, n, n);
    Eigen::Map<RowMajor>(c_.data() + k * nn, n, n).noalias() = w_ * bk * v_;
    Eigen::Map<Eigen::VectorXd>(sigma_.data() + k * n, n).noalias() =
        w_ * Eigen::Map<const Eigen::VectorXd>(s + k * n, n);
    Eigen::Map<Eigen::VectorXd>(rho_.data() + k * n, n).noalias() =
        w_ * Eigen::Map<const Eigen::VectorXd>(dr + k * n, n);
  }
}

// E_ij from its closed form around the larger exponent (no cancellation, no overflow); F_ij
// from the matrix exponential of the bidiagonal [[a, 1, 0], [0, b, 1], [0, 0, 0]] (a, b =
// lambda dt), whose (0, 2) entry is exp[a, b, 0] (Opitz 1964). Shifted by its largest node, that
// divided difference is at least about 1/spread^2, so Eigen's Pade approximant gives it to a
// relative accuracy near machine precision.
void LinearKernel::CacheSensitivityFactors(double dt) {
  const int n = this->n();
  e_.assign(static_cast<size_t>(n) * n, 0.0);
  f_.assign(static_cast<size_t>(n) * n, 0.0);
  work_.resize(static_cast<size_t>(n) * n);
  cached_sens_dt_ = dt;
  if (dt == 0.0) return;
  for (int i = 0; i < n; ++i) {
    for (int j = i; j < n; ++j) {
      const double hi = std::max(lambda_[i], lambda_[j]), lo = std::min(lambda_[i], lambda_[j]);
      const double e = std::exp(hi * dt) * Phi(lo - hi, dt);
      const double a = lambda_[i] * dt, b = lambda_[j] * dt;
      const double shift = std::max({a, b, 0.0});
      Eigen::Matrix3d t;
      t << a - shift, 1.0, 0.0, 0.0, b - shift, 1.0, 0.0, 0.0, -shift;
      const Eigen::Matrix3d et = t.exp();
      const double f = dt * dt * std::exp(shift) * et(0, 2);
      e_[i * n + j] = e_[j * n + i] = e;  // divided differences are symmetric in their nodes
      f_[i * n + j] = f_[j * n + i] = f;
    }
  }
}

void LinearKernel::Step(double dt, double* x, double* s) {
  const int n = this->n();
  if (dt != cached_dt_) {
    for (int i = 0; i < n; ++i) {
      decay_[i] = std::exp(lambda_[i] * dt);
      gain_[i] = Phi(lambda_[i], dt);
    }
    cached_dt_ = dt;
  }
  if (s != nullptr && sens_count_ > 0) {
    if (dt != cached_sens_dt_) CacheSensitivityFactors(dt);
    // The coupling's response sum_j C_kij (E_ij z_j + F_ij zr_j) uses z at the segment's start.
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) work_[i * n + j] = e_[i * n + j] * z_[j] + f_[i * n + j] * zr_[j];
    }
    for (int k = 0; k < sens_count_; ++k) {
      const double* ck = c_.data() + static_cast<size_t>(k) * n * n;
      double* sigma = sigma_.data() + static_cast<size_t>(k) * n;
      const double* rho = rho_.data() + static_cast<size_t>(k) * n;
      for (int i = 0; i < n; ++i) {
        double coupled = 0.0;
        for (int j = 0; j < n; ++j) coupled += ck[i * n + j] * work_[i * n + j];
        sigma[i] = decay_[i] * sigma[i] + gain_[i] * rho[i] + coupled;
      }
      for (int i = 0; i < n; ++i) {
        double si = 0.0;
        for (int j = 0; j < n; ++j) si += v_(i, j) * sigma[j];
        s[static_cast<size_t>(k) * n + i] = si;
      }
    }
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

Status LinearKernel::PeriodicFixedPoint(double tau_h, int count, const double* c, double* s) const {
  const int n = this->n();
  Eigen::VectorXd z(n);
  for (int k = 0; k < count; ++k) {
    z.noalias() = w_ * Eigen::Map<const Eigen::VectorXd>(c + static_cast<size_t>(k) * n, n);
    for (int i = 0; i < n; ++i) {
      if (!(lambda_[i] < 0.0)) {
        return Status::Numerical(
            "no steady state: the system has a non-decaying mode (eigenvalue " +
            std::to_string(lambda_[i]) + " 1/h)");
      }
      z[i] /= -std::expm1(lambda_[i] * tau_h);  // 1 - exp(lambda tau), accurate for small tau
    }
    Eigen::Map<Eigen::VectorXd>(s + static_cast<size_t>(k) * n, n).noalias() = v_ * z;
  }
  return Status::Ok();
}

}  // namespace medtwin
