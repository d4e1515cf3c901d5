#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <span>
#include <string>

#include "decide/posterior_runs.h"
#include "medtwin/decide.h"

namespace medtwin {
namespace decide_internal {

double Percentile(const std::vector<double>& sorted, double q) {
  const double pos = q / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace decide_internal

IndividualPosterior IndividualPosterior::FromFit(const SubjectFit& fit, std::vector<double> theta,
                                                 std::vector<ResidualError> error) {
  IndividualPosterior p;
  p.theta = std::move(theta);
  p.error = std::move(error);
  p.mode = fit.eta;
  p.covariance = fit.covariance;
  p.draws = !fit.mcmc_draws.empty() ? fit.mcmc_draws : fit.sir_draws;
  return p;
}

Status ForecastOptions::Validate() const {
  MEDTWIN_RETURN_IF_ERROR(sim.Validate());
  if (percentiles.empty()) return Status::Invalid("percentiles: none given");
  for (size_t i = 0; i < percentiles.size(); ++i) {
    if (!(percentiles[i] >= 0.0 && percentiles[i] <= 100.0)) {
      return Status::Invalid("percentile " + std::to_string(percentiles[i]) +
                             " is outside [0, 100]");
    }
    if (i > 0 && !(percentiles[i] > percentiles[i - 1])) {
      return Status::Invalid("percentiles must increase");
    }
  }
  if (draws <= 0) return Status::Invalid("draws must be > 0");
  return Status::Ok();
}

Result<std::vector<double>> PosteriorDraws(const IndividualPosterior& posterior, int m,
                                           uint64_t seed) {
  const size_t n = posterior.mode.size();
  if (n == 0) return Status::Invalid("the posterior has no random effects");
  std::vector<double> out;
  out.reserve(static_cast<size_t>(m) * n);
  if (!posterior.draws.empty()) {
    const size_t available = posterior.draws.size() / n;
    for (int k = 0; k < m; ++k) {
      const size_t j = static_cast<size_t>(k) % available;
      out.insert(out.end(), posterior.draws.begin() + j * n, posterior.draws.begin() + (j + 1) * n);
    }
    return out;
  }
  if (posterior.covariance.size() != n * n) {
    return Status::Invalid("the posterior has no covariance (expected " + std::to_string(n * n) +
                           " values)");
  }
  const Eigen::Map<const Eigen::MatrixXd> cov(posterior.covariance.data(), n, n);
  Eigen::LLT<Eigen::MatrixXd> llt(cov);
  if (llt.info() != Eigen::Success) {
    return Status::Invalid("the posterior covariance is not positive definite");
  }
  const Eigen::MatrixXd l = llt.matrixL();
  const Eigen::Map<const Eigen::VectorXd> mode(posterior.mode.data(), n);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Eigen::VectorXd z(n);
  for (int k = 0; k < m; ++k) {
    for (size_t i = 0; i < n; ++i) z(i) = normal(rng);
    const Eigen::VectorXd eta = mode + l * z;
    out.insert(out.end(), eta.data(), eta.data() + n);
  }
  return out;
}

namespace decide_internal {

Status ForEachDraw(const Model& model, const Dataset& regimen, size_t subject_index,
                   const IndividualPosterior& posterior, const std::vector<double>& etas, int m,
                   const SimOptions& sim_options, const OutputRequest& request,
                   const std::string& who,
                   const std::function<Status(int k, const SimOutput& out)>& each) {
  if (subject_index >= regimen.subjects.size()) {
    return Status::Invalid("subject index " + std::to_string(subject_index) + " out of range");
  }
  const Subject& subject = regimen.subjects[subject_index];
  const size_t n = posterior.mode.size();
  const size_t ns = static_cast<size_t>(model.num_states());
  const bool from_state = posterior.start_record >= 0;
  if (from_state) {
    const size_t available = posterior.draws.size() / std::max<size_t>(n, 1);
    if (posterior.draws.empty() || posterior.states.size() != available * ns) {
      return Status::Invalid(who + ": a forecast from a state needs one state per draw");
    }
    if (static_cast<size_t>(posterior.start_record) >= subject.records.size()) {
      return Status::Invalid(who + ": the start record is not in the regimen");
    }
  }
  Simulator sim(model, sim_options);
  MEDTWIN_RETURN_IF_ERROR(sim.Init());
  for (int k = 0; k < m; ++k) {
    const std::vector<double> eta(etas.begin() + k * n, etas.begin() + (k + 1) * n);
    // PosteriorDraws cycles the filter's draws in order: draw k is row k mod available.
    const size_t j = from_state ? static_cast<size_t>(k) % (posterior.draws.size() / n) : 0;
    const RunStart start{from_state ? subject.records[posterior.start_record].time_h : 0.0,
                         from_state ? std::span<const double>(posterior.states.data() + j * ns, ns)
                                    : std::span<const double>(),
                         posterior.start_record};
    auto out = sim.Run(regimen, subject_index, request, IndividualInput{posterior.theta, eta},
                       from_state ? &start : nullptr);
    if (!out.ok()) return out.status().WithContext(who + ", posterior draw " + std::to_string(k));
    MEDTWIN_RETURN_IF_ERROR(each(k, *out));
  }
  return Status::Ok();
}

}  // namespace decide_internal

Result<SubjectForecast> ForecastSubject(const Model& model, const Dataset& regimen,
                                        size_t subject_index, const IndividualPosterior& posterior,
                                        const ForecastOptions& options) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  if (subject_index >= regimen.subjects.size()) {
    return Status::Invalid("subject index " + std::to_string(subject_index) + " out of range");
  }
  const std::string who = "subject " + regimen.subjects[subject_index].id;
  const int no = model.num_observables();
  if (posterior.error.size() != static_cast<size_t>(no)) {
    return Status::Invalid(who + ": expected a residual error model per observable");
  }
  auto draws = PosteriorDraws(posterior, options.draws, options.seed);
  if (!draws.ok()) return draws.status().WithContext(who);
  std::mt19937_64 rng(options.seed ^ 0x9E3779B97F4A7C15ULL);
  std::normal_distribution<double> normal;
  SubjectForecast fc;
  fc.id = regimen.subjects[subject_index].id;
  fc.num_percentiles = static_cast<int>(options.percentiles.size());
  std::vector<std::vector<double>> samples;  // per (row, observable): one value per draw
  MEDTWIN_RETURN_IF_ERROR(decide_internal::ForEachDraw(
      model, regimen, subject_index, posterior, *draws, options.draws, options.sim, options.request,
      who, [&](int k, const SimOutput& out) {
        if (k == 0) {
          fc.time = out.time_h;
          fc.record = out.record;
          samples.assign(out.rows() * no, std::vector<double>(options.draws));
        }
        for (size_t r = 0; r < out.rows(); ++r) {
          for (int j = 0; j < no; ++j) {
            double y = out.observables[r * no + j];
            if (options.interval == IntervalKind::kObservation) {
              y = posterior.error[j].Observation(y, normal(rng));
            }
            samples[r * no + j][k] = y;
          }
        }
        return Status::Ok();
      }));
  fc.quantiles.reserve(samples.size() * options.percentiles.size());
  for (auto& s : samples) {
    std::sort(s.begin(), s.end());
    for (double q : options.percentiles) fc.quantiles.push_back(decide_internal::Percentile(s, q));
  }
  return fc;
}

}  // namespace medtwin
