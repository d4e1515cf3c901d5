#include "estimate/assimilate_internal.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "medtwin/estimate.h"

namespace medtwin::assimilate_internal {
namespace {

// The MAP comparator: refit on the levels so far at every observation.
class MapRefitFilter : public FilterBase {
 public:
  MapRefitFilter(const Model& model, const AssimilationOptions& options)
      : FilterBase(model, options),
        mode_(Eigen::VectorXd::Zero(q_)),
        cov_(Eigen::Map<const Eigen::MatrixXd>(model.spec().variability.omega.data(), q_, q_)) {}

  Result<AssimilationStep> Assimilate(const Dataset& data, size_t subject_index, int r,
                                      bool update) override {
    MEDTWIN_RETURN_IF_ERROR(CheckRecord(data, subject_index, r));
    const Subject& subject = data.subjects[subject_index];
    const Record& rec = subject.records[r];
    const ResidualError& err = model_.spec().observables[rec.observable].error;
    // Levels not yet seen are hidden (MDV=1).
    Dataset seen = data;
    Subject& s = seen.subjects[subject_index];
    for (size_t k = 0; k < s.records.size(); ++k) {
      if (s.records[k].evid == Evid::kObservation &&
          !std::binary_search(seen_.begin(), seen_.end(), static_cast<int>(k))) {
        s.records[k].mdv = true;
      }
    }
    std::mt19937_64 rng = rng_;
    std::normal_distribution<double> normal = normal_;
    Eigen::MatrixXd draws(options_.members, q_);
    const Eigen::MatrixXd l = cov_.llt().matrixL();
    for (int i = 0; i < options_.members; ++i) {
      Eigen::VectorXd e(q_);
      for (int j = 0; j < q_; ++j) e(j) = normal(rng);
      draws.row(i) = (mode_ + l * e).transpose();
    }
    Eigen::MatrixXd all;  // no state columns: runs from the start
    MEDTWIN_RETURN_IF_ERROR(
        ForecastRows(sim_.get(), seen, subject_index, r, -1, theta_, 0, "draw", &draws, &all));
    const Eigen::VectorXd h = all.col(rec.observable);
    std::vector<double> predictive(options_.members);
    for (int i = 0; i < options_.members; ++i) {
      const double f = err.model == ErrorModel::kExponential ? std::exp(h(i)) : h(i);
      predictive[i] = err.Observation(f, normal(rng));
    }
    AssimilationStep step = StepFor(rec, r);
    Summarize(predictive, options_.plotting_positions, &step);
    step.z = MixtureScore(h, {}, err, rec.dv);
    if (!update) return step;
    step.rejected = Gated(step);
    Eigen::VectorXd mode = mode_;
    Eigen::MatrixXd cov = cov_;
    if (!step.rejected) {
      s.records[r].mdv = false;  // now seen
      FitOptions fo;
      fo.theta = theta_;
      fo.sim = options_.sim;
      auto fit = FitSubject(model_, seen, subject_index, fo);
      if (!fit.ok()) return fit.status();
      mode = Eigen::Map<const Eigen::VectorXd>(fit->eta.data(), q_);
      cov = Eigen::Map<const Eigen::MatrixXd>(fit->covariance.data(), q_, q_);
    }
    std::vector<double> eta(mode.data(), mode.data() + q_), p(model_.num_parameters());
    MEDTWIN_RETURN_IF_ERROR(model_.Individualize(theta_, eta, rec.covariates, p));
    const ModelSpec& spec = model_.spec();
    for (int j = 0; j < q_; ++j) {
      step.parameters.push_back(p[spec.ParameterIndex(spec.variability.parameters[j])]);
    }
    mode_ = mode;
    cov_ = cov;
    if (!step.rejected) seen_.push_back(r);
    rng_ = rng;
    normal_ = normal;
    previous_ = r;
    return step;
  }

  Result<FilterSample> Sample(int count, uint64_t seed) const override {
    FilterSample out = GaussianSample(mode_, cov_, 0, 0, count, seed);
    // Rows of [state (n, unused), eta]: from the start.
    FilterSample full;
    full.count = count;
    full.after_record = -1;
    for (int k = 0; k < count; ++k) {
      full.rows.insert(full.rows.end(), n_, 0.0);
      full.rows.insert(full.rows.end(), out.rows.begin() + k * q_, out.rows.begin() + (k + 1) * q_);
    }
    return full;
  }

 private:
  void SaveState(nlohmann::json* j) const override {
    (*j)["mode"] = SaveMatrix(mode_);
    (*j)["cov"] = SaveMatrix(cov_);
    (*j)["seen"] = seen_;
  }
  Status LoadState(const nlohmann::json& j) override {
    auto mode = LoadMatrix(j, "mode", q_, 1);
    if (!mode.ok()) return mode.status();
    auto cov = LoadMatrix(j, "cov", q_, q_);
    if (!cov.ok()) return cov.status();
    mode_ = *mode;
    cov_ = *cov;
    seen_ = j.at("seen").get<std::vector<int>>();
    return Status::Ok();
  }

  Eigen::VectorXd mode_;
  Eigen::MatrixXd cov_;
  std::vector<int> seen_;  // assimilated observation records, increasing
};

}  // namespace

std::unique_ptr<FilterBase> MakeMapRefitFilter(const Model& model,
                                               const AssimilationOptions& options) {
  return std::make_unique<MapRefitFilter>(model, options);
}

}  // namespace medtwin::assimilate_internal
