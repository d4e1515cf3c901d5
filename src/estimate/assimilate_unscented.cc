#include "estimate/assimilate_internal.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

namespace medtwin::assimilate_internal {
namespace {

// Unscented Kalman filter (Julier & Uhlmann 2004; scaled sigma points, alpha 1, beta 2,
// kappa 0) on the Gaussian of [state, eta]. Before the first level the state is a function of
// eta: the sigma points span eta only and the state's mean and covariance come from their
// forecasts. The predictive distribution of a level is Normal(h mean, S) (on the log scale for
// exponential error), S the innovation variance.
class UnscentedFilter : public FilterBase {
 public:
  UnscentedFilter(const Model& model, const AssimilationOptions& options)
      : FilterBase(model, options),
        mean_(Eigen::VectorXd::Zero(n_ + q_ + k_)),
        cov_(Eigen::MatrixXd::Zero(n_ + q_ + k_, n_ + q_ + k_)) {
    cov_.block(n_, n_, q_, q_) =
        Eigen::Map<const Eigen::MatrixXd>(model.spec().variability.omega.data(), q_, q_);
    cov_.bottomRightCorner(k_, k_).setIdentity();  // correlated errors: stationary N(0, I)
    // Initial-state spread: the variance of each state's log factor.
    for (size_t j = 0; j < options.initial_state_sd.size(); ++j) {
      cov_(j, j) = options.initial_state_sd[j] * options.initial_state_sd[j];
    }
  }

  Result<AssimilationStep> Assimilate(const Dataset& data, size_t subject_index, int r,
                                      bool update) override {
    MEDTWIN_RETURN_IF_ERROR(CheckRecord(data, subject_index, r));
    const Subject& subject = data.subjects[subject_index];
    const Record& rec = subject.records[r];
    const ResidualError err = WhiteError(rec.observable);
    const bool log_scale = err.model == ErrorModel::kExponential;
    const int dim = n_ + q_ + k_;
    // The Gaussian of [state, eta, u, predictions of the carried observables]: from the last
    // forecast when r is at its time, else from a new one.
    Eigen::VectorXd mean;
    Eigen::MatrixXd cov;
    std::vector<int> carried = cache_observables_;
    int col = CachedColumn(subject, r);
    if (col >= 0) {
      mean = cache_mean_;
      cov = cache_cov_;
    } else {
      MEDTWIN_RETURN_IF_ERROR(Forecast(data, subject_index, r, &mean, &cov, &carried));
      col = static_cast<int>(std::find(carried.begin(), carried.end(), rec.observable) -
                             carried.begin());
    }
    col += dim;
    const double h_mean = mean(col);
    const double f_mean = log_scale ? std::exp(h_mean) : h_mean;
    const double sd = err.Sd(f_mean);
    if (!(sd > 0.0)) {
      return Status::Invalid(Line(subject, r) + ": the residual SD at the predicted level is 0");
    }
    const double s = cov(col, col) + sd * sd;
    AssimilationStep step = StepFor(rec, r);
    const double z90 = 1.6448536269514722, spread = std::sqrt(s);
    auto back = [&](double v) { return log_scale ? std::exp(v) : v; };
    step.pred = back(h_mean);
    step.pred_lo = back(h_mean - z90 * spread);
    step.pred_hi = back(h_mean + z90 * spread);
    const double y = log_scale ? std::log(rec.dv) : rec.dv;
    step.z = (y - h_mean) / spread;
    if (!update) return step;
    step.rejected = Gated(step);
    if (!step.rejected) {
      // The observation selects one component of the augmented Gaussian: an exact Kalman update.
      const Eigen::VectorXd gain = cov.col(col) / s;
      mean += gain * (y - h_mean);
      cov -= gain * s * gain.transpose();
      cov = 0.5 * (cov + cov.transpose());
    }
    std::vector<double> eta(mean.data() + n_, mean.data() + n_ + q_), p(model_.num_parameters());
    MEDTWIN_RETURN_IF_ERROR(model_.Individualize(theta_, eta, rec.covariates, p));
    const ModelSpec& spec = model_.spec();
    for (int j = 0; j < q_; ++j) {
      step.parameters.push_back(p[spec.ParameterIndex(spec.variability.parameters[j])]);
    }
    step.state_mean.assign(mean.data(), mean.data() + n_);
    mean_ = mean.head(dim);
    cov_ = cov.topLeftCorner(dim, dim);
    cache_mean_ = std::move(mean);
    cache_cov_ = std::move(cov);
    cache_observables_ = std::move(carried);
    previous_ = r;
    return step;
  }

  Result<FilterSample> Sample(int count, uint64_t seed) const override {
    return GaussianSample(mean_.head(n_ + q_), cov_.topLeftCorner(n_ + q_, n_ + q_), n_, previous_,
                          count, seed);
  }

 private:
  // Sigma points of the current Gaussian (over [eta, u] only before the first level, over
  // [state, eta, u] after), forecast to record r: the weighted mean and covariance of [state,
  // eta, u, predictions of the observables that every point can use] and those observables.
  // The correlated errors evolve independently of the rest and linearly, so their transition
  // is applied to the Gaussian exactly before the sigma points are drawn.
  Status Forecast(const Dataset& data, size_t subject_index, int r, Eigen::VectorXd* mean,
                  Eigen::MatrixXd* cov, std::vector<int>* carried) {
    const Subject& subject = data.subjects[subject_index];
    const int dim = n_ + q_ + k_;
    const int first = previous_ < 0 && !factors_ ? n_ : 0, len = dim - first;
    const double alpha = 1.0, beta = 2.0, kappa = 0.0;
    const double lambda = alpha * alpha * (len + kappa) - len;
    Eigen::VectorXd prior_mean = mean_;
    Eigen::MatrixXd prior_cov = cov_;
    AddProcessCovariance(options_, n_, Elapsed(subject, r), previous_ < 0, mean_, &prior_cov);
    const double gap = Gap(subject, r);
    for (size_t j = 0; j < column_.size(); ++j) {
      const CorrelatedError& ce = options_.correlated_errors[j];
      const int u = column_[j];
      if (ce.order == 1) {
        const double a = std::exp(-gap / ce.tau);
        prior_mean(u) *= a;
        prior_cov.row(u) *= a;
        prior_cov.col(u) *= a;
        prior_cov(u, u) += 1.0 - a * a;
        continue;
      }
      // x -> phi x + noise: mean phi m, covariance rows and columns by phi, + q on the block.
      const SmoothTransition t = SecondOrderTransition(ce, gap);
      prior_mean.segment<2>(u) = t.phi * prior_mean.segment<2>(u);
      prior_cov.middleRows<2>(u) = t.phi * prior_cov.middleRows<2>(u);
      prior_cov.middleCols<2>(u) = prior_cov.middleCols<2>(u) * t.phi.transpose();
      prior_cov.block<2, 2>(u, u) += t.q;
    }
    Eigen::MatrixXd c = (len + lambda) * prior_cov.bottomRightCorner(len, len);
    c += 1e-12 * (1.0 + c.trace() / len) * Eigen::MatrixXd::Identity(len, len);
    Eigen::LLT<Eigen::MatrixXd> llt(c);
    if (llt.info() != Eigen::Success) {
      return Status::Numerical(Line(subject, r) +
                               ": the UKF covariance lost positive definiteness");
    }
    const Eigen::MatrixXd root = llt.matrixL();
    const int points = 2 * len + 1;
    Eigen::MatrixXd z(points, dim);
    for (int k = 0; k < points; ++k) {
      Eigen::VectorXd sigma = prior_mean;
      if (k > 0) {
        const int col = (k - 1) % len;
        sigma.tail(len) += (k <= len ? 1.0 : -1.0) * root.col(col);
      }
      z.row(k) = sigma.transpose();
    }
    std::vector<double> wm(points, 1.0 / (2.0 * (len + lambda))), wc = wm;
    wm[0] = lambda / (len + lambda);
    wc[0] = wm[0] + (1.0 - alpha * alpha + beta);
    Eigen::MatrixXd all;
    MEDTWIN_RETURN_IF_ERROR(ForecastMembers(data, subject_index, r, "sigma point", &z, &all));
    const Eigen::MatrixXd usable = UsableObservables(all, carried);
    Eigen::MatrixXd x(points, dim + usable.cols());
    x << z, usable;
    *mean = Eigen::VectorXd::Zero(x.cols());
    for (int k = 0; k < points; ++k) *mean += wm[k] * x.row(k).transpose();
    *cov = Eigen::MatrixXd::Zero(x.cols(), x.cols());
    for (int k = 0; k < points; ++k) {
      const Eigen::VectorXd d = x.row(k).transpose() - *mean;
      *cov += wc[k] * d * d.transpose();
    }
    return Status::Ok();
  }

  void SaveState(nlohmann::json* j) const override {
    (*j)["mean"] = SaveMatrix(mean_);
    (*j)["cov"] = SaveMatrix(cov_);
    (*j)["cache_mean"] = SaveMatrix(cache_mean_);
    (*j)["cache_cov"] = SaveMatrix(cache_cov_);
  }
  Status LoadState(const nlohmann::json& j) override {
    auto mean = LoadMatrix(j, "mean", n_ + q_ + k_, 1);
    if (!mean.ok()) return mean.status();
    auto cov = LoadMatrix(j, "cov", n_ + q_ + k_, n_ + q_ + k_);
    if (!cov.ok()) return cov.status();
    mean_ = *mean;
    cov_ = *cov;
    if (cache_observables_.empty() && !j.contains("cache_mean")) return Status::Ok();
    const Eigen::Index aug = n_ + q_ + k_ + static_cast<Eigen::Index>(cache_observables_.size());
    auto cache_mean = LoadMatrix(j, "cache_mean", cache_observables_.empty() ? 0 : aug, 1);
    if (!cache_mean.ok()) return cache_mean.status();
    auto cache_cov = LoadMatrix(j, "cache_cov", cache_observables_.empty() ? 0 : aug,
                                cache_observables_.empty() ? 0 : aug);
    if (!cache_cov.ok()) return cache_cov.status();
    cache_mean_ = *cache_mean;
    cache_cov_ = *cache_cov;
    return Status::Ok();
  }

  Eigen::VectorXd mean_;
  Eigen::MatrixXd cov_;
  // The Gaussian of [state, eta, carried predictions] after the last assimilated record (empty
  // before the first).
  Eigen::VectorXd cache_mean_;
  Eigen::MatrixXd cache_cov_;
};

}  // namespace

std::unique_ptr<FilterBase> MakeUnscentedFilter(const Model& model,
                                                const AssimilationOptions& options) {
  return std::make_unique<UnscentedFilter>(model, options);
}

}  // namespace medtwin::assimilate_internal
