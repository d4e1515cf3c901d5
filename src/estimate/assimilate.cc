#include "medtwin/assimilate.h"

#include "medtwin/estimate.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <string>

namespace medtwin {
namespace {

double Quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

std::string Line(const Subject& s, int r) {
  return "subject " + s.id + " line " + std::to_string(s.records[r].line);
}

// Phi^-1(p), p in (0, 1): Newton's method on the normal CDF from a start good to ~1e-2 (the
// logistic approximation), to double precision in a few steps.
double NormalQuantile(double p) {
  double x = std::log(p / (1.0 - p)) / 1.702;
  for (int k = 0; k < 50; ++k) {
    const double cdf = 0.5 * std::erfc(-x / std::numbers::sqrt2);
    const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi);
    const double dx = (cdf - p) / pdf;
    x -= dx;
    if (std::abs(dx) < 1e-12 * (1.0 + std::abs(x))) break;
  }
  return x;
}

// Median, 90 % interval and normal score of `dv` from samples of the predictive distribution.
void Summarize(const std::vector<double>& predictive, double dv, AssimilationStep* step) {
  step->pred = Quantile(predictive, 0.5);
  step->pred_lo = Quantile(predictive, 0.05);
  step->pred_hi = Quantile(predictive, 0.95);
  double below = 0.0;
  for (double v : predictive) below += v < dv ? 1.0 : v == dv ? 0.5 : 0.0;
  const double m = static_cast<double>(predictive.size());
  step->z = NormalQuantile((below + 0.5) / (m + 1.0));
}

// An assimilation step for observation record r, its prediction still to be filled in.
AssimilationStep StepFor(const Record& rec, int r) {
  AssimilationStep step;
  step.record = r;
  step.time = rec.time_h;
  step.observable = rec.observable;
  step.dv = rec.dv;
  return step;
}

// Forecasts every row of z ([state (n), eta]) to observation record r of the subject: from the
// start of the run when `previous` < 0 (the state columns are then ignored), else from the row's
// state right after record `previous`. Writes the state at r into z and the prediction into h
// (log scale for an exponential error model). `what` names a row in messages ("member").
Status ForecastRows(Simulator* sim, const Dataset& data, size_t subject_index, int r, int previous,
                    const std::vector<double>& theta, int n, const char* what, Eigen::MatrixXd* z,
                    Eigen::VectorXd* h) {
  const Subject& subject = data.subjects[subject_index];
  const Record& rec = subject.records[r];
  const Model& model = sim->model();
  const int no = model.num_observables(), q = static_cast<int>(z->cols()) - n;
  const bool log_scale =
      model.spec().observables[rec.observable].error.model == ErrorModel::kExponential;
  OutputRequest request;
  request.last_record = r;
  std::vector<double> x(n), eta(q);
  for (int i = 0; i < z->rows(); ++i) {
    for (int j = 0; j < q; ++j) eta[j] = (*z)(i, n + j);
    for (int j = 0; j < n; ++j) x[j] = (*z)(i, j);
    RunStart start{previous >= 0 ? subject.records[previous].time_h : 0.0, x, previous};
    auto out = sim->Run(data, subject_index, request, IndividualInput{theta, eta},
                        previous >= 0 ? &start : nullptr);
    if (!out.ok()) return out.status().WithContext(std::string(what) + " " + std::to_string(i));
    size_t row = out->rows();
    for (size_t k = 0; k < out->rows(); ++k) {
      if (out->record[k] == r) row = k;
    }
    if (row == out->rows()) return Status::Internal(Line(subject, r) + ": no output row");
    for (int j = 0; j < n; ++j) (*z)(i, j) = out->states[row * n + j];
    const double f = out->observables[row * no + rec.observable];
    if (log_scale && !(f > 0.0)) {
      return Status::Invalid(Line(subject, r) + ": " + what + " " + std::to_string(i) +
                             " predicts " + std::to_string(f) +
                             ", which a log-normal error model cannot use");
    }
    (*h)(i) = log_scale ? std::log(f) : f;
  }
  return Status::Ok();
}

// Quantile q of values with weights (summing to 1): the smallest value whose cumulative weight
// reaches q.
double WeightedQuantile(const std::vector<double>& v, const std::vector<double>& w, double q) {
  std::vector<size_t> order(v.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  double cum = 0.0;
  for (size_t i : order) {
    cum += w[i];
    if (cum >= q) return v[i];
  }
  return v[order.back()];
}

// Median individual parameters and weighted mean state of the members after an update.
Status Report(const Model& model, const std::vector<double>& theta, const Record& rec,
              const Eigen::MatrixXd& z, const std::vector<double>& weights, int n,
              AssimilationStep* step) {
  const ModelSpec& spec = model.spec();
  const int m = static_cast<int>(z.rows()), q = static_cast<int>(z.cols()) - n;
  std::vector<double> eta(q), p(model.num_parameters());
  std::vector<std::vector<double>> values(q, std::vector<double>(m));
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < q; ++j) eta[j] = z(i, n + j);
    MEDTWIN_RETURN_IF_ERROR(model.Individualize(theta, eta, rec.covariates, p));
    for (int j = 0; j < q; ++j) {
      values[j][i] = p[spec.ParameterIndex(spec.variability.parameters[j])];
    }
  }
  for (int j = 0; j < q; ++j) step->parameters.push_back(WeightedQuantile(values[j], weights, 0.5));
  step->state_mean.assign(n, 0.0);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) step->state_mean[j] += weights[i] * z(i, j);
  }
  return Status::Ok();
}

// Bootstrap particle filter update (Gordon et al. 1993): weights times the likelihood of the
// observation; systematic resampling when the effective sample size falls below half the
// particles, then a Liu-West (2001) kernel on eta (shrinkage a = 0.98) so parameters do not
// collapse onto a few values.
Status ParticleUpdate(const Record& rec, const ResidualError& err, const Eigen::VectorXd& h, int n,
                      Eigen::MatrixXd* z, std::vector<double>* w, std::mt19937_64* rng) {
  const int m = static_cast<int>(z->rows()), q = static_cast<int>(z->cols()) - n;
  const bool log_scale = err.model == ErrorModel::kExponential;
  const double y = log_scale ? std::log(rec.dv) : rec.dv;
  std::vector<double> loglik(m);
  double best = -INFINITY;
  for (int i = 0; i < m; ++i) {
    const double f = log_scale ? std::exp(h(i)) : h(i);
    const double sd = err.Sd(f);
    if (!(sd > 0.0)) return Status::Invalid("the residual SD at a particle's prediction is 0");
    const double r = (y - h(i)) / sd;
    loglik[i] = -0.5 * r * r - std::log(sd);
    best = std::max(best, loglik[i]);
  }
  double sum = 0.0;
  for (int i = 0; i < m; ++i) sum += (*w)[i] *= std::exp(loglik[i] - best);
  if (!(sum > 0.0) || !std::isfinite(sum)) {
    return Status::Numerical("no particle explains the observation (all weights are 0)");
  }
  double sum2 = 0.0;
  for (double& x : *w) {
    x /= sum;
    sum2 += x * x;
  }
  if (1.0 / sum2 >= 0.5 * m) return Status::Ok();
  // Systematic resampling.
  std::uniform_real_distribution<double> unif(0.0, 1.0 / m);
  const double u0 = unif(*rng);
  Eigen::MatrixXd resampled(m, z->cols());
  double cum = (*w)[0];
  for (int i = 0, k = 0; i < m; ++i) {
    const double u = u0 + static_cast<double>(i) / m;
    while (u > cum && k < m - 1) cum += (*w)[++k];
    resampled.row(i) = z->row(k);
  }
  *z = resampled;
  std::fill(w->begin(), w->end(), 1.0 / m);
  constexpr double a = 0.98;
  const Eigen::MatrixXd eta = z->rightCols(q);
  const Eigen::RowVectorXd mean = eta.colwise().mean();
  const Eigen::MatrixXd centred = eta.rowwise() - mean;
  Eigen::MatrixXd cov = centred.transpose() * centred / (m - 1);
  cov += 1e-12 * Eigen::MatrixXd::Identity(q, q);
  const Eigen::MatrixXd l = cov.llt().matrixL();
  std::normal_distribution<double> normal;
  Eigen::VectorXd e(q);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < q; ++j) e(j) = normal(*rng);
    const Eigen::RowVectorXd kernel = (std::sqrt(1.0 - a * a) * (l * e)).transpose();
    z->block(i, n, 1, q) = a * eta.row(i) + (1.0 - a) * mean + kernel;
  }
  return Status::Ok();
}

}  // namespace

const char* ToString(FilterMethod m) {
  switch (m) {
    case FilterMethod::kEnkf:
      return "enkf";
    case FilterMethod::kPf:
      return "pf";
    case FilterMethod::kUkf:
      return "ukf";
    default:
      return "map";
  }
}

Result<FilterMethod> FilterMethodFromString(const std::string& s) {
  if (s == "enkf") return FilterMethod::kEnkf;
  if (s == "map") return FilterMethod::kMap;
  if (s == "pf") return FilterMethod::kPf;
  if (s == "ukf") return FilterMethod::kUkf;
  return Status::Unsupported("filter method '" + s +
                             "' is not available (available: enkf, ukf, pf, map)");
}

Status AssimilationOptions::Validate() const {
  MEDTWIN_RETURN_IF_ERROR(sim.Validate());
  if (members < 2) return Status::Invalid("members must be >= 2");
  if (!(inflation >= 1.0)) return Status::Invalid("inflation must be >= 1");
  return Status::Ok();
}

namespace {

// The MAP comparator: refit on the levels so far at every observation.
Result<std::vector<AssimilationStep>> RefitMap(const Model& model, const Dataset& data,
                                               size_t subject_index, const std::vector<int>& obs,
                                               const std::vector<double>& theta,
                                               const AssimilationOptions& options) {
  const ModelSpec& spec = model.spec();
  const int q = static_cast<int>(spec.variability.parameters.size());
  Dataset seen = data;  // levels not yet seen are hidden (MDV=1)
  Subject& s = seen.subjects[subject_index];
  for (int r : obs) s.records[r].mdv = true;
  std::vector<double> mode(q, 0.0), cov = spec.variability.omega;
  FitOptions fo;
  fo.theta = theta;
  fo.sim = options.sim;
  Simulator sim(model, options.sim);
  MEDTWIN_RETURN_IF_ERROR(sim.Init());
  std::mt19937_64 rng(options.seed);
  std::normal_distribution<double> normal;
  std::vector<AssimilationStep> steps;
  std::vector<double> p(model.num_parameters());
  for (int r : obs) {
    const Record& rec = data.subjects[subject_index].records[r];
    const ResidualError& err = spec.observables[rec.observable].error;
    const Eigen::Map<const Eigen::MatrixXd> c(cov.data(), q, q);
    const Eigen::MatrixXd l = c.llt().matrixL();
    Eigen::MatrixXd draws(options.members, q);  // no state columns: runs from the start
    for (int i = 0; i < options.members; ++i) {
      Eigen::VectorXd z(q);
      for (int j = 0; j < q; ++j) z(j) = normal(rng);
      draws.row(i) = (Eigen::Map<const Eigen::VectorXd>(mode.data(), q) + l * z).transpose();
    }
    Eigen::VectorXd h(options.members);
    MEDTWIN_RETURN_IF_ERROR(
        ForecastRows(&sim, seen, subject_index, r, -1, theta, 0, "draw", &draws, &h));
    std::vector<double> predictive(options.members);
    for (int i = 0; i < options.members; ++i) {
      const double f = err.model == ErrorModel::kExponential ? std::exp(h(i)) : h(i);
      predictive[i] = err.Observation(f, normal(rng));
    }
    AssimilationStep step = StepFor(rec, r);
    Summarize(predictive, rec.dv, &step);
    s.records[r].mdv = false;  // now seen
    auto fit = FitSubject(model, seen, subject_index, fo);
    if (!fit.ok()) return fit.status();
    mode = fit->eta;
    cov = fit->covariance;
    MEDTWIN_RETURN_IF_ERROR(model.Individualize(theta, mode, rec.covariates, p));
    for (int j = 0; j < q; ++j) {
      step.parameters.push_back(p[spec.ParameterIndex(spec.variability.parameters[j])]);
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

// Unscented Kalman filter (Julier & Uhlmann 2004; scaled sigma points, alpha 1, beta 2,
// kappa 0) on the Gaussian of [state, eta]. Before the first level the state is a function of
// eta: the sigma points span eta only and the state's mean and covariance come from their
// forecasts. The predictive distribution of a level is Normal(h mean, S) (on the log scale for
// exponential error), S the innovation variance.
Result<std::vector<AssimilationStep>> Unscented(const Model& model, const Dataset& data,
                                                size_t subject_index, const std::vector<int>& obs,
                                                const std::vector<double>& theta,
                                                const AssimilationOptions& options) {
  const ModelSpec& spec = model.spec();
  const Subject& subject = data.subjects[subject_index];
  const int n = model.num_states(), q = static_cast<int>(spec.variability.parameters.size());
  const int dim = n + q;
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(dim);
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(dim, dim);
  cov.bottomRightCorner(q, q) =
      Eigen::Map<const Eigen::MatrixXd>(spec.variability.omega.data(), q, q);
  Simulator sim(model, options.sim);
  MEDTWIN_RETURN_IF_ERROR(sim.Init());
  std::vector<AssimilationStep> steps;
  std::vector<double> eta(q), p(model.num_parameters());
  int previous = -1;
  for (int r : obs) {
    const Record& rec = subject.records[r];
    const ResidualError& err = spec.observables[rec.observable].error;
    const bool log_scale = err.model == ErrorModel::kExponential;
    // Sigma points over eta only before the first level, over [state, eta] after.
    const int first = previous < 0 ? n : 0, len = dim - first;
    const double alpha = 1.0, beta = 2.0, kappa = 0.0;
    const double lambda = alpha * alpha * (len + kappa) - len;
    Eigen::MatrixXd c = (len + lambda) * cov.bottomRightCorner(len, len);
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
      Eigen::VectorXd sigma = mean;
      if (k > 0) {
        const int col = (k - 1) % len;
        sigma.tail(len) += (k <= len ? 1.0 : -1.0) * root.col(col);
      }
      z.row(k) = sigma.transpose();
    }
    std::vector<double> wm(points, 1.0 / (2.0 * (len + lambda))), wc = wm;
    wm[0] = lambda / (len + lambda);
    wc[0] = wm[0] + (1.0 - alpha * alpha + beta);
    Eigen::VectorXd h(points);
    MEDTWIN_RETURN_IF_ERROR(
        ForecastRows(&sim, data, subject_index, r, previous, theta, n, "sigma point", &z, &h));
    mean.setZero();
    double h_mean = 0.0;
    for (int k = 0; k < points; ++k) {
      mean += wm[k] * z.row(k).transpose();
      h_mean += wm[k] * h(k);
    }
    cov.setZero();
    Eigen::VectorXd c_zh = Eigen::VectorXd::Zero(dim);
    double s = 0.0;
    for (int k = 0; k < points; ++k) {
      const Eigen::VectorXd d = z.row(k).transpose() - mean;
      cov += wc[k] * d * d.transpose();
      c_zh += wc[k] * d * (h(k) - h_mean);
      s += wc[k] * (h(k) - h_mean) * (h(k) - h_mean);
    }
    const double f_mean = log_scale ? std::exp(h_mean) : h_mean;
    const double sd = err.Sd(f_mean);
    if (!(sd > 0.0)) {
      return Status::Invalid(Line(subject, r) + ": the residual SD at the predicted level is 0");
    }
    s += sd * sd;
    AssimilationStep step = StepFor(rec, r);
    const double z90 = 1.6448536269514722, spread = std::sqrt(s);
    auto back = [&](double v) { return log_scale ? std::exp(v) : v; };
    step.pred = back(h_mean);
    step.pred_lo = back(h_mean - z90 * spread);
    step.pred_hi = back(h_mean + z90 * spread);
    const double y = log_scale ? std::log(rec.dv) : rec.dv;
    step.z = (y - h_mean) / spread;
    const Eigen::VectorXd gain = c_zh / s;
    mean += gain * (y - h_mean);
    cov -= gain * s * gain.transpose();
    cov = 0.5 * (cov + cov.transpose());
    for (int j = 0; j < q; ++j) eta[j] = mean(n + j);
    MEDTWIN_RETURN_IF_ERROR(model.Individualize(theta, eta, rec.covariates, p));
    for (int j = 0; j < q; ++j) {
      step.parameters.push_back(p[spec.ParameterIndex(spec.variability.parameters[j])]);
    }
    step.state_mean.assign(mean.data(), mean.data() + n);
    steps.push_back(std::move(step));
    previous = r;
  }
  return steps;
}

}  // namespace

Result<std::vector<AssimilationStep>> AssimilateSubject(const Model& model, const Dataset& data,
                                                        size_t subject_index,
                                                        const AssimilationOptions& options) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  if (subject_index >= data.subjects.size()) {
    return Status::Invalid("subject index " + std::to_string(subject_index) + " out of range");
  }
  const Subject& subject = data.subjects[subject_index];
  const std::string who = "subject " + subject.id;
  const ModelSpec& spec = model.spec();
  const int n = model.num_states(), q = static_cast<int>(spec.variability.parameters.size());
  const int m = options.members;
  if (q == 0) {
    return Status::Invalid("model '" + spec.name + "' has no between-subject variability");
  }
  std::vector<double> theta = options.theta;
  if (theta.empty()) {
    theta = spec.TypicalValues();
  }
  const Eigen::Map<const Eigen::MatrixXd> omega(spec.variability.omega.data(), q, q);
  Eigen::LLT<Eigen::MatrixXd> llt(omega);
  if (llt.info() != Eigen::Success) {
    return Status::Invalid("model '" + spec.name + "': omega is not positive definite");
  }
  const Eigen::MatrixXd l = llt.matrixL();
  std::vector<int> obs;
  for (size_t r = 0; r < subject.records.size(); ++r) {
    const Record& rec = subject.records[r];
    if (rec.evid != Evid::kObservation || rec.mdv) continue;
    if (rec.censored) {
      return Status::Unsupported(Line(subject, static_cast<int>(r)) +
                                 ": a level below the quantification limit (CENS=1) cannot be "
                                 "assimilated by the Kalman update; use medtwin fit");
    }
    obs.push_back(static_cast<int>(r));
  }
  if (obs.empty()) return Status::Invalid(who + " has no observations to assimilate");
  if (options.method == FilterMethod::kMap) {
    return RefitMap(model, data, subject_index, obs, theta, options);
  }
  if (options.method == FilterMethod::kUkf) {
    auto steps = Unscented(model, data, subject_index, obs, theta, options);
    if (!steps.ok()) return steps.status().WithContext(who);
    return steps;
  }

  std::mt19937_64 rng(options.seed);
  std::normal_distribution<double> normal;
  // Members: rows of z = [state (n), eta (q)].
  Eigen::MatrixXd z(m, n + q);
  for (int i = 0; i < m; ++i) {
    Eigen::VectorXd e(q);
    for (int j = 0; j < q; ++j) e(j) = normal(rng);
    z.block(i, n, 1, q) = (l * e).transpose();
  }
  Simulator sim(model, options.sim);
  MEDTWIN_RETURN_IF_ERROR(sim.Init());
  const bool particle = options.method == FilterMethod::kPf;
  std::vector<double> weights(m, 1.0 / m);
  std::vector<AssimilationStep> steps;
  Eigen::VectorXd h(m);
  int previous = -1;
  for (int r : obs) {
    const Record& rec = subject.records[r];
    const ResidualError& err = spec.observables[rec.observable].error;
    const bool log_scale = err.model == ErrorModel::kExponential;
    // Forecast: every member from its analysed state to this observation.
    MEDTWIN_RETURN_IF_ERROR(
        ForecastRows(&sim, data, subject_index, r, previous, theta, n, "member", &z, &h)
            .WithContext(who));
    // One-step-ahead predictive distribution of the observation, before it is used.
    AssimilationStep step = StepFor(rec, r);
    std::vector<double> predictive(m);
    std::discrete_distribution<int> pick(weights.begin(), weights.end());
    for (int i = 0; i < m; ++i) {
      const int k = particle ? pick(rng) : i;  // particles: draw by weight
      predictive[i] = err.Observation(log_scale ? std::exp(h(k)) : h(k), normal(rng));
    }
    Summarize(predictive, rec.dv, &step);
    if (particle) {
      MEDTWIN_RETURN_IF_ERROR(
          ParticleUpdate(rec, err, h, n, &z, &weights, &rng).WithContext(Line(subject, r)));
      MEDTWIN_RETURN_IF_ERROR(Report(model, theta, rec, z, weights, n, &step));
      steps.push_back(std::move(step));
      previous = r;
      continue;
    }
    // Analysis: inflate, then update [state, eta] with perturbed observations.
    const Eigen::RowVectorXd z_mean = z.colwise().mean();
    z = (z.rowwise() - z_mean) * options.inflation;
    z.rowwise() += z_mean;
    const double h_mean = h.mean();
    h = (h.array() - h_mean) * options.inflation + h_mean;
    const double f_mean = log_scale ? std::exp(h_mean) : h_mean;
    const double sd = err.Sd(f_mean);
    const double r_var = sd * sd;
    if (!(r_var > 0.0)) {
      return Status::Invalid(Line(subject, r) + ": the residual SD at the predicted " +
                             spec.observables[rec.observable].name + " (" + std::to_string(f_mean) +
                             ") is 0; the update needs a positive one");
    }
    const Eigen::MatrixXd za = z.rowwise() - z.colwise().mean();
    const Eigen::VectorXd ha = h.array() - h.mean();
    const Eigen::VectorXd c_zh = za.transpose() * ha / (m - 1);
    const double c_hh = ha.squaredNorm() / (m - 1);
    const Eigen::VectorXd gain = c_zh / (c_hh + r_var);
    const double y = log_scale ? std::log(rec.dv) : rec.dv;
    for (int i = 0; i < m; ++i) {
      const double innovation = y + std::sqrt(r_var) * normal(rng) - h(i);
      z.row(i) += (gain * innovation).transpose();
    }
    MEDTWIN_RETURN_IF_ERROR(Report(model, theta, rec, z, weights, n, &step));
    steps.push_back(std::move(step));
    previous = r;
  }
  return steps;
}

}  // namespace medtwin
