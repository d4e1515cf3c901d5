#include "estimate/assimilate_internal.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>
#include <string>
#include <unsupported/Eigen/MatrixFunctions>
#include <vector>

namespace medtwin::assimilate_internal {

double Quantile(std::vector<double> v, double q, bool plotting_positions) {
  std::sort(v.begin(), v.end());
  const double last = static_cast<double>(v.size() - 1);
  const double pos = plotting_positions
                         ? std::clamp(q * static_cast<double>(v.size() + 1) - 1.0, 0.0, last)
                         : q * last;
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

std::string Line(const Subject& s, int r) {
  return "subject " + s.id + " line " + std::to_string(s.records[r].line);
}

double NormalQuantile(double p) {
  const bool lower = p < 0.5;
  const double tail = lower ? p : 1.0 - p;  // the smaller tail, computed on the lower side
  double x = -std::sqrt(-2.0 * std::log(tail));
  x = x < -1.0 ? x + 0.5 * std::log(-2.0 * std::log(tail)) / -x : -1.0 + 2.0 * tail;
  for (int k = 0; k < 100; ++k) {
    const double cdf = 0.5 * std::erfc(-x / std::numbers::sqrt2);
    const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi);
    if (!(pdf > 0.0)) break;
    const double dx = (cdf - tail) / pdf;
    x -= std::clamp(dx, -1.0, 1.0);
    if (std::abs(dx) < 1e-12 * (1.0 + std::abs(x))) break;
  }
  return lower ? x : -x;
}

double MixtureScore(const Eigen::VectorXd& h, const std::vector<double>& w,
                    const ResidualError& err, double dv) {
  const bool log_scale = err.model == ErrorModel::kExponential;
  if (log_scale && !(dv > 0.0)) return -INFINITY;
  const double y = log_scale ? std::log(dv) : dv;
  double below = 0.0, above = 0.0;
  for (Eigen::Index i = 0; i < h.size(); ++i) {
    const double f = log_scale ? std::exp(h(i)) : h(i);
    const double u = (y - h(i)) / err.Sd(f) / std::numbers::sqrt2;
    const double wi = w.empty() ? 1.0 / static_cast<double>(h.size()) : w[i];
    below += wi * 0.5 * std::erfc(-u);
    above += wi * 0.5 * std::erfc(u);
  }
  constexpr double kFloor = 1e-300;  // |z| <= 37
  return below < above ? NormalQuantile(std::max(below, kFloor))
                       : -NormalQuantile(std::max(above, kFloor));
}

void Summarize(const std::vector<double>& predictive, bool plotting_positions,
               AssimilationStep* step) {
  step->pred = Quantile(predictive, 0.5, plotting_positions);
  step->pred_lo = Quantile(predictive, 0.05, plotting_positions);
  step->pred_hi = Quantile(predictive, 0.95, plotting_positions);
}

AssimilationStep StepFor(const Record& rec, int r) {
  AssimilationStep step;
  step.record = r;
  step.time = rec.time_h;
  step.observable = rec.observable;
  step.dv = rec.dv;
  return step;
}

Status FactoredInitialState(const Model& model, const std::vector<double>& theta,
                            const std::vector<double>& eta, const Subject& subject,
                            std::vector<double>* x) {
  std::vector<double> p(model.num_parameters()), x0(model.num_states());
  MEDTWIN_RETURN_IF_ERROR(model.Individualize(theta, eta, subject.records.front().covariates, p));
  model.InitialState(p.data(), x0.data());
  for (size_t j = 0; j < x0.size(); ++j) (*x)[j] = x0[j] * std::exp((*x)[j]);
  return Status::Ok();
}

Status ForecastRows(Simulator* sim, const Dataset& data, size_t subject_index, int r, int previous,
                    const std::vector<double>& theta, int n, const char* what, Eigen::MatrixXd* z,
                    Eigen::MatrixXd* obs, bool factors, std::vector<RowFailure>* failed) {
  const Subject& subject = data.subjects[subject_index];
  const Record& rec = subject.records[r];
  const Model& model = sim->model();
  const ModelSpec& spec = model.spec();
  const int no = model.num_observables(), q = static_cast<int>(z->cols()) - n;
  OutputRequest request;
  request.last_record = r;
  std::vector<double> x(n), eta(q);
  obs->resize(z->rows(), no);
  for (int i = 0; i < z->rows(); ++i) {
    for (int j = 0; j < q; ++j) eta[j] = (*z)(i, n + j);
    for (int j = 0; j < n; ++j) x[j] = (*z)(i, j);
    RunStart start{previous >= 0 ? subject.records[previous].time_h : 0.0, x, previous};
    const bool factored = previous < 0 && factors;
    if (factored) {
      MEDTWIN_RETURN_IF_ERROR(FactoredInitialState(model, theta, eta, subject, &x));
      start.time = subject.records.front().time_h;
    }
    auto out = sim->Run(data, subject_index, request, IndividualInput{theta, eta},
                        previous >= 0 || factored ? &start : nullptr);
    if (!out.ok()) {
      Status st = out.status().WithContext(std::string(what) + " " + std::to_string(i));
      if (failed == nullptr || st.code() != StatusCode::kNumerical) return st;
      failed->push_back({i, std::move(st)});
      obs->row(i).setConstant(std::numeric_limits<double>::quiet_NaN());
      continue;
    }
    size_t row = out->rows();
    for (size_t k = 0; k < out->rows(); ++k) {
      if (out->record[k] == r) row = k;
    }
    if (row == out->rows()) return Status::Internal(Line(subject, r) + ": no output row");
    for (int j = 0; j < n; ++j) (*z)(i, j) = out->states[row * n + j];
    for (int k = 0; k < no; ++k) {
      const double f = out->observables[row * no + k];
      if (spec.observables[k].error.model != ErrorModel::kExponential) {
        (*obs)(i, k) = f;
      } else if (f > 0.0) {
        (*obs)(i, k) = std::log(f);
      } else if (k == rec.observable) {
        return Status::Invalid(Line(subject, r) + ": " + what + " " + std::to_string(i) +
                               " predicts " + std::to_string(f) +
                               ", which a log-normal error model cannot use");
      } else {
        (*obs)(i, k) = std::numeric_limits<double>::quiet_NaN();
      }
    }
  }
  return Status::Ok();
}

Eigen::MatrixXd UsableObservables(const Eigen::MatrixXd& all, std::vector<int>* which) {
  which->clear();
  for (int k = 0; k < all.cols(); ++k) {
    if (all.col(k).allFinite()) which->push_back(k);
  }
  Eigen::MatrixXd out(all.rows(), static_cast<Eigen::Index>(which->size()));
  for (size_t c = 0; c < which->size(); ++c) out.col(c) = all.col((*which)[c]);
  return out;
}

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

void AddProcessNoise(const AssimilationOptions& o, int n, double dt, bool factors,
                     Eigen::MatrixXd* z, std::mt19937_64* rng,
                     std::normal_distribution<double>* normal) {
  if (!(dt > 0.0)) return;
  for (Eigen::Index i = 0; i < z->rows(); ++i) {
    for (size_t j = 0; j < o.state_noise_sd.size(); ++j) {
      if (o.state_noise_sd[j] == 0.0) continue;
      const double w = o.state_noise_sd[j] * std::sqrt(dt) * (*normal)(*rng);
      (*z)(i, j) = factors ? (*z)(i, j) + w : (*z)(i, j) * std::exp(w);
    }
    for (size_t k = 0; k < o.eta_noise_sd.size(); ++k) {
      if (o.eta_noise_sd[k] > 0.0)
        (*z)(i, n + k) += o.eta_noise_sd[k] * std::sqrt(dt) * (*normal)(*rng);
    }
  }
}

void AddProcessCovariance(const AssimilationOptions& o, int n, double dt, bool factors,
                          const Eigen::VectorXd& mean, Eigen::MatrixXd* cov) {
  if (!(dt > 0.0)) return;
  for (size_t j = 0; j < o.state_noise_sd.size(); ++j) {
    const double v = o.state_noise_sd[j] * o.state_noise_sd[j] * dt;
    (*cov)(j, j) += factors ? v : mean(j) * mean(j) * std::expm1(v);
  }
  for (size_t k = 0; k < o.eta_noise_sd.size(); ++k) {
    (*cov)(n + k, n + k) += o.eta_noise_sd[k] * o.eta_noise_sd[k] * dt;
  }
}

bool AnyPositive(const std::vector<double>& v) {
  return std::any_of(v.begin(), v.end(), [](double x) { return x > 0.0; });
}

SmoothTransition SecondOrderTransition(const CorrelatedError& c, double dt) {
  Eigen::Matrix2d a;
  a << 0.0, 1.0, -1.0, -2.0 * c.damping;
  SmoothTransition t;
  t.phi = (a * (dt / c.tau)).exp();
  t.q = Eigen::Matrix2d::Identity() - t.phi * t.phi.transpose();
  const double l00 = std::sqrt(std::max(t.q(0, 0), 0.0));
  const double l10 = l00 > 0.0 ? t.q(1, 0) / l00 : 0.0;
  t.root << l00, 0.0, l10, std::sqrt(std::max(t.q(1, 1) - l10 * l10, 0.0));
  return t;
}

nlohmann::json SaveSim(const SimOptions& o) {
  return {{"method", ToString(o.method)},
          {"path", ToString(o.path)},
          {"rtol", o.rtol},
          {"atol", o.atol},
          {"max_steps", o.max_steps},
          {"ss_rtol", o.ss_rtol},
          {"ss_atol", o.ss_atol},
          {"ss_max_cycles", o.ss_max_cycles},
          {"covariates", ToString(o.covariates)}};
}

Result<SimOptions> LoadSim(const nlohmann::json& j) {
  SimOptions o;
  auto method = OdeMethodFromString(j.at("method").get<std::string>());
  if (!method.ok()) return method.status();
  auto path = SimPathFromString(j.at("path").get<std::string>());
  if (!path.ok()) return path.status();
  auto cov = CovariateRuleFromString(j.at("covariates").get<std::string>());
  if (!cov.ok()) return cov.status();
  o.method = *method;
  o.path = *path;
  o.covariates = *cov;
  o.rtol = j.at("rtol").get<double>();
  o.atol = j.at("atol").get<double>();
  o.max_steps = j.at("max_steps").get<long>();
  o.ss_rtol = j.at("ss_rtol").get<double>();
  o.ss_atol = j.at("ss_atol").get<double>();
  o.ss_max_cycles = j.at("ss_max_cycles").get<int>();
  return o;
}

nlohmann::json SaveMatrix(const Eigen::MatrixXd& m) {
  std::vector<double> v(static_cast<size_t>(m.size()));
  Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      v.data(), m.rows(), m.cols()) = m;
  return {{"rows", m.rows()}, {"cols", m.cols()}, {"values", v}};
}

Result<Eigen::MatrixXd> LoadMatrix(const nlohmann::json& j, const char* key, Eigen::Index rows,
                                   Eigen::Index cols) {
  const nlohmann::json& m = j.at(key);
  const auto v = m.at("values").get<std::vector<double>>();
  if (m.at("rows").get<Eigen::Index>() != rows || m.at("cols").get<Eigen::Index>() != cols ||
      v.size() != static_cast<size_t>(rows * cols)) {
    return Status::Invalid(std::string("snapshot: '") + key + "' should be " +
                           std::to_string(rows) + " x " + std::to_string(cols));
  }
  return Eigen::MatrixXd(
      Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          v.data(), rows, cols));
}

FilterSample GaussianSample(const Eigen::VectorXd& mean, const Eigen::MatrixXd& cov, int n,
                            int previous, int count, uint64_t seed) {
  const int dim = static_cast<int>(mean.size()), first = previous < 0 ? n : 0;
  const int len = dim - first;
  Eigen::MatrixXd c = cov.bottomRightCorner(len, len);
  c += 1e-12 * (1.0 + c.trace() / len) * Eigen::MatrixXd::Identity(len, len);
  const Eigen::MatrixXd l = c.llt().matrixL();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  FilterSample out;
  out.count = count;
  out.after_record = previous;
  Eigen::VectorXd e(len);
  for (int k = 0; k < count; ++k) {
    for (int j = 0; j < len; ++j) e(j) = normal(rng);
    Eigen::VectorXd row = mean;
    row.tail(len) += l * e;
    if (previous < 0) row.head(n).setZero();
    out.rows.insert(out.rows.end(), row.data(), row.data() + dim);
  }
  return out;
}

std::string FilterBase::Snapshot() const {
  nlohmann::json j = {{"format", "medtwin-filter/1"},
                      {"model", model_.spec().name},
                      {"method", ToString(options_.method)},
                      {"members", options_.members},
                      {"seed", options_.seed},
                      {"inflation", options_.inflation},
                      {"gate_z", options_.gate_z},
                      {"pf_eta_shrinkage", options_.pf_eta_shrinkage},
                      {"pf_state_shrinkage", options_.pf_state_shrinkage},
                      {"plotting_positions", options_.plotting_positions},
                      {"theta", theta_},
                      {"sim", SaveSim(options_.sim)},
                      {"previous", previous_},
                      {"rng", StreamText(rng_)},
                      {"normal", StreamText(normal_)},
                      {"cache_observables", cache_observables_}};
  for (const CorrelatedError& c : options_.correlated_errors) {
    nlohmann::json e = {{"observable", c.observable}, {"fraction", c.fraction}, {"tau", c.tau}};
    if (c.order != 1) {  // absent for first order: snapshots as before
      e["order"] = c.order;
      e["damping"] = c.damping;
    }
    j["correlated_errors"].push_back(e);
  }
  for (const auto& [key, v] : ModelErrorOptions(options_)) {
    if (!v->empty()) j[key] = *v;  // absent when off: snapshots as before
  }
  SaveState(&j);
  return j.dump();
}

Status FilterBase::Load(const nlohmann::json& j) {
  previous_ = j.at("previous").get<int>();
  MEDTWIN_RETURN_IF_ERROR(FromStreamText(j, "rng", &rng_));
  MEDTWIN_RETURN_IF_ERROR(FromStreamText(j, "normal", &normal_));
  cache_observables_ = j.value("cache_observables", std::vector<int>{});
  for (int k : cache_observables_) {
    if (k < 0 || k >= model_.num_observables()) {
      return Status::Invalid("snapshot: 'cache_observables' holds " + std::to_string(k) +
                             ", not an observable of the model");
    }
  }
  return LoadState(j);
}

int FilterBase::CachedColumn(const Subject& subject, int r) const {
  if (previous_ < 0 || cache_observables_.empty()) return -1;
  const double t = subject.records[previous_].time_h;
  for (int k = previous_ + 1; k <= r; ++k) {
    const Record& rec = subject.records[k];
    if (rec.evid != Evid::kObservation || rec.time_h != t) return -1;
  }
  const auto it = std::find(cache_observables_.begin(), cache_observables_.end(),
                            subject.records[r].observable);
  return it == cache_observables_.end() ? -1 : static_cast<int>(it - cache_observables_.begin());
}

Status FilterBase::CheckRecord(const Dataset& data, size_t subject_index, int r) const {
  if (subject_index >= data.subjects.size()) {
    return Status::Invalid("subject index " + std::to_string(subject_index) + " out of range");
  }
  const Subject& subject = data.subjects[subject_index];
  if (r < 0 || static_cast<size_t>(r) >= subject.records.size()) {
    return Status::Invalid("subject " + subject.id + ": record " + std::to_string(r) +
                           " out of range");
  }
  const Record& rec = subject.records[r];
  if (rec.evid != Evid::kObservation || rec.mdv) {
    return Status::Invalid(Line(subject, r) + ": not an observation with a value");
  }
  if (rec.censored) {
    return Status::Unsupported(Line(subject, r) +
                               ": a level below the quantification limit (CENS=1) cannot be "
                               "assimilated by the Kalman update; use medtwin fit");
  }
  if (r <= previous_) {
    return Status::Invalid(Line(subject, r) + ": comes before the last assimilated record");
  }
  return Status::Ok();
}

ResidualError FilterBase::WhiteError(int k) const {
  ResidualError e = model_.spec().observables[k].error;
  for (size_t j = 0; j < correlated_.size(); ++j) {
    if (correlated_[j] != k) continue;
    const double scale = std::sqrt(1.0 - options_.correlated_errors[j].fraction);
    e.additive_sd *= scale;
    e.proportional_sd *= scale;
    e.exponential_sd *= scale;
  }
  return e;
}

Status FilterBase::ForecastMembers(const Dataset& data, size_t subject_index, int r,
                                   const char* what, Eigen::MatrixXd* z, Eigen::MatrixXd* all,
                                   std::vector<RowFailure>* failed) const {
  const std::string context = "subject " + data.subjects[subject_index].id;
  if (k_ == 0) {
    return ForecastRows(sim_.get(), data, subject_index, r, previous_, theta_, n_, what, z, all,
                        factors_, failed)
        .WithContext(context);
  }
  Eigen::MatrixXd zs = z->leftCols(n_ + q_);
  MEDTWIN_RETURN_IF_ERROR(ForecastRows(sim_.get(), data, subject_index, r, previous_, theta_, n_,
                                       what, &zs, all, factors_, failed)
                              .WithContext(context));
  z->leftCols(n_ + q_) = zs;
  for (size_t j = 0; j < correlated_.size(); ++j) {
    const int k = correlated_[j];
    const ResidualError& err = model_.spec().observables[k].error;
    const double share = std::sqrt(options_.correlated_errors[j].fraction);
    for (Eigen::Index i = 0; i < all->rows(); ++i) {
      const double h = (*all)(i, k);
      const double f = err.model == ErrorModel::kExponential ? std::exp(h) : h;
      if (std::isfinite(h)) (*all)(i, k) += share * err.Sd(f) * (*z)(i, column_[j]);
    }
  }
  return Status::Ok();
}

}  // namespace medtwin::assimilate_internal
