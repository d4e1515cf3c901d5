#include "estimate/assimilate_internal.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "estimate/particle_update.h"

namespace medtwin::assimilate_internal {
namespace {

// Ensemble filters: stochastic EnKF, square-root EnSRF, particle filter. Members are rows of
// z = [state (n), eta (q)], drawn at the start from the population prior.
class EnsembleFilter : public FilterBase {
 public:
  EnsembleFilter(const Model& model, const AssimilationOptions& options, const Eigen::MatrixXd& l)
      : FilterBase(model, options),
        z_(Eigen::MatrixXd::Zero(options.members, n_ + q_ + k_)),
        w_(options.members, 1.0 / options.members),
        cache_(options.members, 0) {
    for (int i = 0; i < options.members; ++i) {
      Eigen::VectorXd e(q_);
      for (int j = 0; j < q_; ++j) e(j) = normal_(rng_);
      z_.block(i, n_, 1, q_) = (l * e).transpose();
    }
    // Initial-state spread: log factors in the state columns (drawn after eta, so a filter
    // without it draws as before).
    for (int i = 0; i < options.members; ++i) {
      for (size_t j = 0; j < options.initial_state_sd.size(); ++j) {
        if (options.initial_state_sd[j] > 0.0)
          z_(i, j) = options.initial_state_sd[j] * normal_(rng_);
      }
    }
    // Correlated errors start from their stationary law N(0, I) (no draws without them).
    for (int i = 0; i < options.members; ++i) {
      for (int j = 0; j < k_; ++j) z_(i, n_ + q_ + j) = normal_(rng_);
    }
  }

  Result<AssimilationStep> Assimilate(const Dataset& data, size_t subject_index, int r,
                                      bool update) override {
    MEDTWIN_RETURN_IF_ERROR(CheckRecord(data, subject_index, r));
    const Subject& subject = data.subjects[subject_index];
    const int m = options_.members, dim = n_ + q_ + k_;
    const Record& rec = subject.records[r];
    const ResidualError err = WhiteError(rec.observable);
    const bool log_scale = err.model == ErrorModel::kExponential;
    // Work on copies; commit only when everything succeeded. x = [state, eta, u, predictions of
    // the carried observables].
    Eigen::MatrixXd x;
    std::vector<RowFailure> failed;
    std::vector<int> carried = cache_observables_;
    std::vector<double> w = w_;
    std::mt19937_64 rng = rng_;
    std::normal_distribution<double> normal = normal_;
    int col = CachedColumn(subject, r);
    if (col >= 0) {
      x.resize(m, dim + cache_.cols());
      x << z_, cache_;
    } else {
      // Forecast: every member from its analysed state (with process noise) to this observation,
      // its correlated errors by their exact transition.
      Eigen::MatrixXd z = z_, all;
      AddProcessNoise(options_, n_, Elapsed(subject, r), previous_ < 0, &z, &rng, &normal);
      PropagateCorrelated(Gap(subject, r), &z, &rng, &normal);
      MEDTWIN_RETURN_IF_ERROR(ForecastMembers(data, subject_index, r, "member", &z, &all, &failed));
      MEDTWIN_RETURN_IF_ERROR(ReplaceFailed(failed, &z, &all, &w, &rng));
      const Eigen::MatrixXd usable = UsableObservables(all, &carried);
      col = static_cast<int>(std::find(carried.begin(), carried.end(), rec.observable) -
                             carried.begin());
      x.resize(m, dim + usable.cols());
      x << z, usable;
    }
    col += dim;
    // One-step-ahead predictive distribution of the observation, before it is used.
    AssimilationStep step = StepFor(rec, r);
    step.lost_members = static_cast<int>(failed.size());
    const bool particle = options_.method == FilterMethod::kPf;
    const Eigen::VectorXd h = x.col(col);
    std::vector<double> predictive(m);
    std::discrete_distribution<int> pick(w.begin(), w.end());
    for (int i = 0; i < m; ++i) {
      const int k = particle ? pick(rng) : i;  // particles: draw by weight
      predictive[i] = err.Observation(log_scale ? std::exp(h(k)) : h(k), normal(rng));
    }
    Summarize(predictive, options_.plotting_positions, &step);
    step.z = MixtureScore(h, particle ? w : std::vector<double>{}, err, rec.dv);
    if (!update) return step;
    step.rejected = Gated(step);
    const double y = log_scale ? std::log(rec.dv) : rec.dv;
    if (step.rejected) {
      // Forecast kept, analysis skipped.
    } else if (particle) {
      MEDTWIN_RETURN_IF_ERROR(ParticleUpdate(err, y, col, options_, n_, q_, &x, &w, &rng)
                                  .WithContext(Line(subject, r)));
    } else {
      MEDTWIN_RETURN_IF_ERROR(KalmanUpdate(subject, r, err, col, &x, &rng, &normal));
    }
    MEDTWIN_RETURN_IF_ERROR(Report(model_, theta_, rec, x.leftCols(n_ + q_), w, n_, &step));
    z_ = x.leftCols(dim);
    cache_ = x.rightCols(x.cols() - dim);
    cache_observables_ = std::move(carried);
    w_ = std::move(w);
    rng_ = rng;
    normal_ = normal;
    previous_ = r;
    return step;
  }

  Result<FilterSample> Sample(int count, uint64_t seed) const override {
    FilterSample out;
    out.count = count;
    out.after_record = previous_;
    const int cols = n_ + q_;
    // Systematic resampling by weight (equal weights: each member in turn).
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> unif(0.0, 1.0 / count);
    for (int k : SystematicIndices(w_, count, unif(rng))) {
      for (int j = 0; j < cols; ++j) out.rows.push_back(z_(k, j));
    }
    return out;
  }

 private:
  // Members whose forecast failed numerically (AssimilationStep::lost_members): particles get
  // weight 0 and the rows of the best-weighted survivor (placeholders that no draw or update
  // uses); EnKF and EnSRF members become copies of survivors drawn uniformly, so the ensemble
  // keeps its size (the copies separate again through the perturbed observations of the EnKF;
  // the EnSRF's stay together). The error of the first failure is returned when fewer than two
  // members (particles of positive weight) are left.
  Status ReplaceFailed(const std::vector<RowFailure>& failed, Eigen::MatrixXd* z,
                       Eigen::MatrixXd* all, std::vector<double>* w, std::mt19937_64* rng) const {
    if (failed.empty()) return Status::Ok();
    const int m = static_cast<int>(z->rows());
    std::vector<bool> lost(m, false);
    for (const RowFailure& f : failed) lost[f.row] = true;
    std::vector<int> survivors;
    for (int i = 0; i < m; ++i) {
      if (!lost[i] && (*w)[i] > 0.0) survivors.push_back(i);
    }
    if (survivors.size() < 2) {
      return Status(StatusCode::kNumerical,
                    std::to_string(failed.size()) + " of " + std::to_string(m) +
                        " members could not be simulated, too few left; the first: " +
                        failed.front().status.message());
    }
    if (options_.method == FilterMethod::kPf) {
      const int best = *std::max_element(survivors.begin(), survivors.end(),
                                         [&](int a, int b) { return (*w)[a] < (*w)[b]; });
      double total = 0.0;
      for (int i = 0; i < m; ++i) total += lost[i] ? 0.0 : (*w)[i];
      for (int i = 0; i < m; ++i) {
        if (lost[i]) {
          (*w)[i] = 0.0;
          z->row(i) = z->row(best);
          all->row(i) = all->row(best);
        } else {
          (*w)[i] /= total;
        }
      }
      return Status::Ok();
    }
    std::uniform_int_distribution<size_t> pick(0, survivors.size() - 1);
    for (const RowFailure& f : failed) {
      const int k = survivors[pick(*rng)];
      z->row(f.row) = z->row(k);
      all->row(f.row) = all->row(k);
    }
    return Status::Ok();
  }

  // Stochastic EnKF (perturbed observations) or the square-root EnSRF, after inflation, of the
  // augmented members x whose column `col` is the observation's prediction (a scalar update of
  // [state, eta, predictions]: further observations at the same time see the updated ones).
  Status KalmanUpdate(const Subject& subject, int r, const ResidualError& err, int col,
                      Eigen::MatrixXd* x, std::mt19937_64* rng,
                      std::normal_distribution<double>* normal) const {
    const Record& rec = subject.records[r];
    const ModelSpec& spec = model_.spec();
    const int m = options_.members;
    const bool log_scale = err.model == ErrorModel::kExponential;
    const Eigen::RowVectorXd x_mean = x->colwise().mean();
    *x = (x->rowwise() - x_mean) * options_.inflation;
    x->rowwise() += x_mean;
    const double h_mean = x_mean(col);
    const double f_mean = log_scale ? std::exp(h_mean) : h_mean;
    const double sd = err.Sd(f_mean);
    const double r_var = sd * sd;
    if (!(r_var > 0.0)) {
      return Status::Invalid(Line(subject, r) + ": the residual SD at the predicted " +
                             spec.observables[rec.observable].name + " (" + std::to_string(f_mean) +
                             ") is 0; the update needs a positive one");
    }
    const Eigen::MatrixXd xa = x->rowwise() - x_mean;
    const Eigen::VectorXd ha = xa.col(col);
    const Eigen::VectorXd c_xh = xa.transpose() * ha / (m - 1);
    const double c_hh = ha.squaredNorm() / (m - 1);
    const Eigen::VectorXd gain = c_xh / (c_hh + r_var);
    const double y = log_scale ? std::log(rec.dv) : rec.dv;
    if (options_.method == FilterMethod::kEnsrf) {
      // Mean with the gain, anomalies with the reduced gain alpha K (Whitaker & Hamill eq. 13).
      const double alpha = 1.0 / (1.0 + std::sqrt(r_var / (c_hh + r_var)));
      const Eigen::RowVectorXd mean = x_mean + (gain * (y - h_mean)).transpose();
      for (int i = 0; i < m; ++i) {
        x->row(i) = mean + xa.row(i) - (alpha * gain * ha(i)).transpose();
      }
      return Status::Ok();
    }
    for (int i = 0; i < m; ++i) {
      const double innovation = y + std::sqrt(r_var) * (*normal)(*rng) - (*x)(i, col);
      x->row(i) += (gain * innovation).transpose();
    }
    return Status::Ok();
  }

  // Each member's correlated errors over the gap dt: the exact OU transition (order 1) or
  // SecondOrderTransition (order 2), with fresh draws.
  void PropagateCorrelated(double dt, Eigen::MatrixXd* z, std::mt19937_64* rng,
                           std::normal_distribution<double>* normal) const {
    for (size_t j = 0; j < column_.size(); ++j) {
      const CorrelatedError& c = options_.correlated_errors[j];
      const int u = column_[j];
      if (c.order == 1) {
        const double a = std::exp(-dt / c.tau), b = std::sqrt(1.0 - a * a);
        for (Eigen::Index i = 0; i < z->rows(); ++i)
          (*z)(i, u) = a * (*z)(i, u) + b * (*normal)(*rng);
        continue;
      }
      const SmoothTransition t = SecondOrderTransition(c, dt);
      for (Eigen::Index i = 0; i < z->rows(); ++i) {
        Eigen::Vector2d xi;
        xi(0) = (*normal)(*rng);
        xi(1) = (*normal)(*rng);
        const Eigen::Vector2d x = z->block<1, 2>(i, u).transpose();
        z->block<1, 2>(i, u) = (t.phi * x + t.root * xi).transpose();
      }
    }
  }

  void SaveState(nlohmann::json* j) const override {
    (*j)["z"] = SaveMatrix(z_);
    (*j)["weights"] = w_;
    (*j)["cache"] = SaveMatrix(cache_);
  }
  Status LoadState(const nlohmann::json& j) override {
    auto z = LoadMatrix(j, "z", options_.members, n_ + q_ + k_);
    if (!z.ok()) return z.status();
    z_ = *z;
    w_ = j.at("weights").get<std::vector<double>>();
    if (w_.size() != static_cast<size_t>(options_.members)) {
      return Status::Invalid("snapshot: 'weights' should have one value per member");
    }
    cache_.resize(options_.members, 0);
    if (j.contains("cache") || !cache_observables_.empty()) {
      auto cache = LoadMatrix(j, "cache", options_.members,
                              static_cast<Eigen::Index>(cache_observables_.size()));
      if (!cache.ok()) return cache.status();
      cache_ = *cache;
    }
    return Status::Ok();
  }

  Eigen::MatrixXd z_;
  std::vector<double> w_;
  // Each member's predictions of the carried observables (cache_observables_) at the time of
  // the last assimilated record.
  Eigen::MatrixXd cache_;
};

}  // namespace

std::unique_ptr<FilterBase> MakeEnsembleFilter(const Model& model,
                                               const AssimilationOptions& options,
                                               const Eigen::MatrixXd& prior_factor) {
  return std::make_unique<EnsembleFilter>(model, options, prior_factor);
}

}  // namespace medtwin::assimilate_internal
