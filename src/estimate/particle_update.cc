#include "estimate/particle_update.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace medtwin {
namespace {

// A square root of a covariance matrix that may be singular: V sqrt(max(D, 0)) from its
// eigen-decomposition (exact linear relations keep a zero eigenvalue and are not jittered).
Eigen::MatrixXd PsdRoot(const Eigen::MatrixXd& c) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(c);
  return eigen.eigenvectors() * eigen.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal();
}

// The regularisation kernel of the regularised particle filter (Musso, Oudjane & Le Gland 2001)
// with Liu-West (2001) shrinkage, on rows of x = [state, eta, predicted observables] (eta in
// columns [first_eta, first_eta + q)). Its moments come from the weighted particles before
// resampling (a collapse onto a few resampled copies then still jitters by the spread the
// weights say remains), and it is applied to the resampled ones, so that copies separate while
// the ensemble's mean and covariance are kept in expectation:
// - eta: eta' = a eta + (1 - a) mean + sqrt(1 - a^2) e, e ~ N(0, Cov(eta)), a = eta_shrinkage.
//   Each resampling forgets part of what the data said about the parameters (Liu-West's
//   discount delta = 1 / (3 - 2a)); a closer to 1 forgets less but lets a small ensemble's
//   parameters collapse (docs/assimilation.md).
// - the other columns (state, predictions) s = E[s | eta] + r: moved with eta by their
//   regression on it (a particle stays consistent with its new parameters), and the residual r
//   shrunk with a = state_shrinkage plus N(0, (1 - a^2) Cov(r)). Cov(s), Cov(s, eta) are kept
//   exactly for a Gaussian ensemble. The predictions move with the state, so a later stage or
//   observation at the same time is weighed without a new simulation.
// Columns are transformed first: log where every particle is positive (masses, volumes,
// concentrations stay positive), identity where some are negative (flows, reflex changes, eta);
// columns without spread, or non-negative with a particle at exactly 0 (an empty gut before the
// first meal), are left as they are. The kernel works on standardised columns; square roots of
// covariances come from eigen-decompositions (exact linear relations, such as a prediction that
// is a multiple of one state, keep a zero eigenvalue and are not broken).
class Kernel {
 public:
  Kernel(const Eigen::MatrixXd& x, const std::vector<double>& w, int first_eta, int q) {
    const int m = static_cast<int>(x.rows());
    const Eigen::Map<const Eigen::VectorXd> weights(w.data(), m);
    const double norm = 1.0 - weights.squaredNorm();  // unbiased weighted covariance
    for (int j = 0; j < x.cols(); ++j) {
      const double lo = x.col(j).minCoeff(), hi = x.col(j).maxCoeff();
      if (!(lo < hi) || lo == 0.0 || !(norm > 0.0)) continue;
      Column c{j, lo > 0.0, 0.0, 0.0};
      const Eigen::VectorXd t = c.log ? Eigen::VectorXd(x.col(j).array().log()) : x.col(j);
      c.mean = weights.dot(t);
      c.sd = std::sqrt(weights.dot((t.array() - c.mean).square().matrix()) / norm);
      if (!(c.sd > 1e-12 * (1.0 + std::abs(c.mean)))) continue;
      (j >= first_eta && j < first_eta + q ? eta_ : other_).push_back(c);
    }
    const Eigen::MatrixXd p = Standardised(x, eta_), s = Standardised(x, other_);
    const Eigen::MatrixXd c_pp = p.transpose() * weights.asDiagonal() * p / norm;
    const Eigen::MatrixXd c_ps = p.transpose() * weights.asDiagonal() * s / norm;
    const Eigen::MatrixXd c_ss = s.transpose() * weights.asDiagonal() * s / norm;
    // Regression of the other columns on eta (pseudo-inverse: eta may have collapsed).
    beta_t_ = eta_.empty() ? Eigen::MatrixXd::Zero(0, c_ps.cols())
                           : Eigen::MatrixXd(c_pp.completeOrthogonalDecomposition().solve(c_ps));
    root_p_ = PsdRoot(c_pp);
    root_r_ = PsdRoot(c_ss - c_ps.transpose() * beta_t_);
  }

  // Moves every row of x (equally weighted, resampled from the particles above).
  void Apply(double eta_shrinkage, double state_shrinkage, Eigen::MatrixXd* x,
             std::mt19937_64* rng) const {
    const Eigen::MatrixXd p = Standardised(*x, eta_), s = Standardised(*x, other_);
    const Eigen::MatrixXd resid = s - p * beta_t_;
    const int kp = static_cast<int>(eta_.size()), ks = static_cast<int>(other_.size());
    const double spread_p = std::sqrt(1.0 - eta_shrinkage * eta_shrinkage);
    const double spread_s = std::sqrt(1.0 - state_shrinkage * state_shrinkage);
    std::normal_distribution<double> normal;
    Eigen::VectorXd ep(kp), es(ks);
    for (int i = 0; i < x->rows(); ++i) {
      for (int c = 0; c < kp; ++c) ep(c) = normal(*rng);
      for (int c = 0; c < ks; ++c) es(c) = normal(*rng);
      const Eigen::VectorXd eta = eta_shrinkage * p.row(i).transpose() + spread_p * (root_p_ * ep);
      const Eigen::VectorXd other = beta_t_.transpose() * eta +
                                    state_shrinkage * resid.row(i).transpose() +
                                    spread_s * (root_r_ * es);
      Restore(eta, eta_, i, x);
      Restore(other, other_, i, x);
    }
  }

 private:
  struct Column {
    int index;
    bool log;  // transformed by log (every particle positive), else identity
    double mean, sd;
  };

  static Eigen::MatrixXd Standardised(const Eigen::MatrixXd& x, const std::vector<Column>& cols) {
    Eigen::MatrixXd u(x.rows(), static_cast<Eigen::Index>(cols.size()));
    for (size_t c = 0; c < cols.size(); ++c) {
      const Eigen::VectorXd t =
          cols[c].log ? Eigen::VectorXd(x.col(cols[c].index).array().log()) : x.col(cols[c].index);
      u.col(static_cast<Eigen::Index>(c)) = (t.array() - cols[c].mean) / cols[c].sd;
    }
    return u;
  }

  static void Restore(const Eigen::VectorXd& u, const std::vector<Column>& cols, int i,
                      Eigen::MatrixXd* x) {
    for (size_t c = 0; c < cols.size(); ++c) {
      const double t = cols[c].mean + cols[c].sd * u(static_cast<Eigen::Index>(c));
      (*x)(i, cols[c].index) = cols[c].log ? std::exp(t) : t;
    }
  }

  std::vector<Column> eta_, other_;
  Eigen::MatrixXd beta_t_, root_p_, root_r_;
};

// Systematic resampling of the rows of x by weight w (then equal).
void Resample(Eigen::MatrixXd* x, std::vector<double>* w, std::mt19937_64* rng) {
  const int m = static_cast<int>(x->rows());
  std::uniform_real_distribution<double> unif(0.0, 1.0 / m);
  const std::vector<int> pick = SystematicIndices(*w, m, unif(*rng));
  Eigen::MatrixXd resampled(m, x->cols());
  for (int i = 0; i < m; ++i) resampled.row(i) = x->row(pick[i]);
  *x = std::move(resampled);
  std::fill(w->begin(), w->end(), 1.0 / m);
}

// Weights w times exp(gamma loglik), normalised; returns the effective sample size, or 0 when
// every weight underflowed.
double Reweight(const std::vector<double>& loglik, double gamma, std::vector<double>* w) {
  const double best = *std::max_element(loglik.begin(), loglik.end());
  double sum = 0.0;
  for (size_t i = 0; i < w->size(); ++i) sum += (*w)[i] *= std::exp(gamma * (loglik[i] - best));
  if (!(sum > 0.0) || !std::isfinite(sum)) return 0.0;
  double sum2 = 0.0;
  for (double& v : *w) {
    v /= sum;
    sum2 += v * v;
  }
  return 1.0 / sum2;
}

}  // namespace

Status ParticleUpdate(const ResidualError& err, double y, int col, const AssimilationOptions& o,
                      int n, int q, Eigen::MatrixXd* x, std::vector<double>* w,
                      std::mt19937_64* rng) {
  const int m = static_cast<int>(x->rows());
  const bool log_scale = err.model == ErrorModel::kExponential;
  // Enough for a likelihood 2^20 times sharper than the prior predictive (each stage at least
  // halves the remaining information when the ensemble is near Gaussian); the last stage takes
  // what is left.
  constexpr int kMaxStages = 20;
  std::vector<double> loglik(m);
  double remaining = 1.0;
  for (int stage = 0; remaining > 0.0; ++stage) {
    for (int i = 0; i < m; ++i) {
      const double h = (*x)(i, col);
      const double sd = err.Sd(log_scale ? std::exp(h) : h);
      if (!(sd > 0.0)) return Status::Invalid("the residual SD at a particle's prediction is 0");
      const double r = (y - h) / sd;
      loglik[i] = -0.5 * r * r - std::log(sd);
    }
    double gamma = remaining;
    std::vector<double> trial = *w;
    if (stage + 1 < kMaxStages && Reweight(loglik, gamma, &trial) < 0.5 * m) {
      double lo = 0.0, hi = remaining;
      for (int it = 0; it < 50; ++it) {
        const double mid = 0.5 * (lo + hi);
        trial = *w;
        (Reweight(loglik, mid, &trial) >= 0.5 * m ? lo : hi) = mid;
      }
      gamma = std::max(lo, 1e-6 * remaining);
    }
    const double ess = Reweight(loglik, gamma, w);
    if (!(ess > 0.0)) {
      return Status::Numerical("no particle explains the observation (all weights are 0)");
    }
    remaining = gamma < remaining ? remaining - gamma : 0.0;
    if (remaining > 0.0 || ess < 0.5 * m) {
      const Kernel kernel(*x, *w, n, q);
      Resample(x, w, rng);
      kernel.Apply(o.pf_eta_shrinkage, o.pf_state_shrinkage, x, rng);
    }
  }
  return Status::Ok();
}

std::vector<int> SystematicIndices(const std::vector<double>& w, int count, double u0) {
  const int m = static_cast<int>(w.size());
  std::vector<int> pick(count);
  double cum = w[0];
  for (int i = 0, k = 0; i < count; ++i) {
    const double u = u0 + static_cast<double>(i) / count;
    while (u > cum && k < m - 1) cum += w[++k];
    pick[i] = k;
  }
  return pick;
}

}  // namespace medtwin
