#include "medtwin/assimilate.h"

#include "estimate/particle_update.h"
#include "medtwin/estimate.h"

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>
#include <sstream>
#include <string>
#include <unsupported/Eigen/MatrixFunctions>

namespace medtwin {
namespace {

// Quantile q of samples: linear interpolation between order statistics at positions q (m - 1)
// (0-based), or, with plotting positions, at q (m + 1) (1-based; "type 6" of Hyndman & Fan
// 1996), clamped to the smallest and largest sample. For m exact draws the 5-95 % interval of
// the former covers 0.9 (m - 1)/(m + 1) in expectation, of the latter 0.9 (E F(x_(k)) =
// k / (m + 1)).
double Quantile(std::vector<double> v, double q, bool plotting_positions = false) {
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

// Phi^-1(p) for p in [1e-300, 1 - 1e-16]: Newton's method on the normal CDF from the tail
// approximation sqrt(-2 ln p), to double precision in a few steps.
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

// The normal score of y under the predictive mixture of the members' predictions h (log scale
// for exponential error) with weights w: z = Phi^-1(sum_i w_i P(Y <= y | h_i)). Each term uses
// the residual error at h_i, so the score stays accurate far into the tails (sample ranks would
// saturate at |z| ~ 2.4 with 64 members). The smaller tail is summed directly (no 1 - F).
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

// Median and 90 % interval from samples of the predictive distribution.
void Summarize(const std::vector<double>& predictive, bool plotting_positions,
               AssimilationStep* step) {
  step->pred = Quantile(predictive, 0.5, plotting_positions);
  step->pred_lo = Quantile(predictive, 0.05, plotting_positions);
  step->pred_hi = Quantile(predictive, 0.95, plotting_positions);
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

// The initial state of a row whose state columns hold log factors u (model error before the
// first observation): the model's initial state at the first record's covariates (as the
// simulator computes it) times exp(u), in place.
Status FactoredInitialState(const Model& model, const std::vector<double>& theta,
                            const std::vector<double>& eta, const Subject& subject,
                            std::vector<double>* x) {
  std::vector<double> p(model.num_parameters()), x0(model.num_states());
  MEDTWIN_RETURN_IF_ERROR(model.Individualize(theta, eta, subject.records.front().covariates, p));
  model.InitialState(p.data(), x0.data());
  for (size_t j = 0; j < x0.size(); ++j) (*x)[j] = x0[j] * std::exp((*x)[j]);
  return Status::Ok();
}

// Forecasts every row of z ([state (n), eta]) to observation record r of the subject: from the
// start of the run when `previous` < 0 (the state columns are then ignored, or with `factors`
// are log factors on the initial state), else from the row's state right after record
// `previous`. Writes the state at r into z and the predictions of every observable at r into
// obs (rows x observables, each on its assimilation scale: log for an exponential error model;
// NaN where a log-scale observable other than r's is not positive). `what` names a row in
// messages ("member").
Status ForecastRows(Simulator* sim, const Dataset& data, size_t subject_index, int r, int previous,
                    const std::vector<double>& theta, int n, const char* what, Eigen::MatrixXd* z,
                    Eigen::MatrixXd* obs, bool factors = false) {
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
    if (!out.ok()) return out.status().WithContext(std::string(what) + " " + std::to_string(i));
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

// The columns of `all` (predictions of every observable) that are finite for every row, and
// their observable indices. The filters carry these predictions along with [state, eta] so that
// further observations at the same time are updated from the same forecast.
Eigen::MatrixXd UsableObservables(const Eigen::MatrixXd& all, std::vector<int>* which) {
  which->clear();
  for (int k = 0; k < all.cols(); ++k) {
    if (all.col(k).allFinite()) which->push_back(k);
  }
  Eigen::MatrixXd out(all.rows(), static_cast<Eigen::Index>(which->size()));
  for (size_t c = 0; c < which->size(); ++c) out.col(c) = all.col((*which)[c]);
  return out;
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

// Model error (AssimilationOptions::state_noise_sd, eta_noise_sd) over dt on the ensemble's
// starting rows [state, eta]: a random walk of each log state (of its log factor while
// `factors`, before the first observation) and of each eta, variance sd^2 dt, applied at the
// start of the forecast so that the observation at its end sees it through the dynamics
// (x_k = M(x_{k-1} exp(w_k)): the stochastic model error of the ensemble forecast, Evensen
// 2003, Ocean Dynamics 53:343, here in log space so positive states stay positive; eta's walk
// is the artificial parameter evolution of Kitagawa 1998 and Liu & West 2001). Draws only for
// positive SDs.
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

// The UKF's counterpart on the covariance of [state, eta] with mean `mean`: eta and log
// factors gain sd^2 dt; a state gains the variance of mean exp(w), mean^2 (exp(sd^2 dt) - 1).
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

// The exact transition over dt >= 0 of a second-order correlated error (CorrelatedError, order
// 2) in its components x = [u, tau u']: x' = phi x + root xi, xi ~ N(0, I). phi = exp(A dt)
// (Eigen's matrix exponential: one formula for under-, critically and overdamped, where closed
// forms differ), and as the stationary covariance is I the transition's covariance is
// q = I - phi phi^T (the Lyapunov equation; Van Loan's 1978 integral gives the same), whose
// lower Cholesky factor `root` is taken with zero pivots allowed (q = 0 at dt = 0).
struct SmoothTransition {
  Eigen::Matrix2d phi, q, root;
};
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

// ---------------------------------------------------------------------------------------------
// Snapshots: JSON with every double written as its shortest round-trip decimal (nlohmann), the
// random generators as their standard stream representation.

template <typename T>
std::string StreamText(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

template <typename T>
Status FromStreamText(const nlohmann::json& j, const char* key, T* v) {
  if (!j.contains(key) || !j[key].is_string()) {
    return Status::Invalid(std::string("snapshot: '") + key + "' is missing or not text");
  }
  std::istringstream is(j[key].get<std::string>());
  is >> *v;
  if (is.fail()) return Status::Invalid(std::string("snapshot: '") + key + "' is malformed");
  return Status::Ok();
}

// The model-error lists of AssimilationOptions (const or not) by field name.
template <typename Options>
auto ModelErrorOptions(Options& o) {
  using List = decltype(&o.initial_state_sd);
  return std::array<std::pair<const char*, List>, 3>{{{"initial_state_sd", &o.initial_state_sd},
                                                      {"state_noise_sd", &o.state_noise_sd},
                                                      {"eta_noise_sd", &o.eta_noise_sd}}};
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

// What every filter shares: the model, options, typical values, a simulator, the generator and
// the last assimilated record.
class FilterBase : public SequentialFilter {
 public:
  FilterBase(const Model& model, const AssimilationOptions& options)
      : model_(model),
        options_(options),
        theta_(options.theta.empty() ? model.spec().TypicalValues() : options.theta),
        n_(model.num_states()),
        q_(static_cast<int>(model.spec().variability.parameters.size())),
        sim_(std::make_unique<Simulator>(model, options.sim)),
        rng_(options.seed) {
    for (const CorrelatedError& c : options.correlated_errors) {
      correlated_.push_back(model.spec().ObservableIndex(c.observable));
      column_.push_back(n_ + q_ + k_);
      k_ += c.order;
    }
  }

  int last_record() const override { return previous_; }
  const AssimilationOptions& options() const override { return options_; }

  std::string Snapshot() const override {
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

  // The state after options: generator, last record, then the method's own.
  Status Load(const nlohmann::json& j) {
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

  Status Init() { return sim_->Init(); }

  // The model time from the start of the forecast to record r (from the first record before
  // the first observation).
  double Elapsed(const Subject& subject, int r) const {
    return subject.records[r].time_h - subject.records[std::max(previous_, 0)].time_h;
  }

  // Whether the innovation gate rejects the observation of `step`.
  bool Gated(const AssimilationStep& step) const {
    return options_.gate_z > 0.0 && std::abs(step.z) > options_.gate_z;
  }

 protected:
  virtual void SaveState(nlohmann::json* j) const = 0;
  virtual Status LoadState(const nlohmann::json& j) = 0;

  // The position of record r's observable among the predictions carried from the last forecast,
  // or -1 when r must be forecast: it is not at the time of the last assimilated record, other
  // records (doses, covariate changes) lie between them, or its observable is not carried.
  int CachedColumn(const Subject& subject, int r) const {
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

  // Checks that record r is an observation this filter can take next.
  Status CheckRecord(const Dataset& data, size_t subject_index, int r) const {
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

  // Correlated residual errors (AssimilationOptions::correlated_errors): their components are
  // the columns [n_ + q_, n_ + q_ + k_) of the members (of the UKF's Gaussian), error j's from
  // column_[j] (u, then tau u' for order 2), each of unit variance when stationary.

  // The residual error left white for observable k: the model's, its SDs scaled by
  // sqrt(1 - fraction) when part of it is correlated (Sd(f) scales with them).
  ResidualError WhiteError(int k) const {
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

  // The gap from the last assimilated record (from time 0 before it) to record r, over which
  // the correlated errors are propagated.
  double Gap(const Subject& subject, int r) const {
    const double t0 = previous_ >= 0 ? subject.records[previous_].time_h : 0.0;
    return subject.records[r].time_h - t0;
  }

  // Forecasts rows z = [state, eta, u] to record r (ForecastRows on [state, eta]) and adds each
  // row's correlated error sqrt(fraction) s(f) u to its prediction of the observable.
  Status ForecastMembers(const Dataset& data, size_t subject_index, int r, const char* what,
                         Eigen::MatrixXd* z, Eigen::MatrixXd* all) const {
    const std::string context = "subject " + data.subjects[subject_index].id;
    if (k_ == 0) {
      return ForecastRows(sim_.get(), data, subject_index, r, previous_, theta_, n_, what, z, all,
                          factors_)
          .WithContext(context);
    }
    Eigen::MatrixXd zs = z->leftCols(n_ + q_);
    MEDTWIN_RETURN_IF_ERROR(ForecastRows(sim_.get(), data, subject_index, r, previous_, theta_, n_,
                                         what, &zs, all, factors_)
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

  const Model& model_;
  AssimilationOptions options_;
  std::vector<double> theta_;
  int n_, q_;
  int k_ = 0;                    // columns of the correlated residual errors
  std::vector<int> correlated_;  // their observables
  std::vector<int> column_;      // their first columns
  std::unique_ptr<Simulator> sim_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_;
  int previous_ = -1;
  // Observables whose predictions at the time of record previous_ (from its forecast, updated
  // by the observations since) the method carries; empty: none.
  std::vector<int> cache_observables_;
  // Before the first observation the state columns hold log factors on the initial state
  // (initial-state spread or process noise), else they are unused.
  bool factors_ = AnyPositive(options_.initial_state_sd) || AnyPositive(options_.state_noise_sd);
};

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
      MEDTWIN_RETURN_IF_ERROR(ForecastMembers(data, subject_index, r, "member", &z, &all));
      const Eigen::MatrixXd usable = UsableObservables(all, &carried);
      col = static_cast<int>(std::find(carried.begin(), carried.end(), rec.observable) -
                             carried.begin());
      x.resize(m, dim + usable.cols());
      x << z, usable;
    }
    col += dim;
    // One-step-ahead predictive distribution of the observation, before it is used.
    AssimilationStep step = StepFor(rec, r);
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

// The Gaussian of [state, eta] drawn as `count` rows (state columns zero before the first level,
// when the state is not yet part of the Gaussian).
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

// Validates options against the model; the Cholesky factor of omega.
Result<Eigen::MatrixXd> PriorFactor(const Model& model, const AssimilationOptions& options) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  const ModelSpec& spec = model.spec();
  const int q = static_cast<int>(spec.variability.parameters.size());
  if (q == 0) {
    return Status::Invalid("model '" + spec.name + "' has no between-subject variability");
  }
  if (!options.theta.empty() && options.theta.size() != spec.parameters.size()) {
    return Status::Invalid("theta: expected " + std::to_string(spec.parameters.size()) +
                           " typical values, got " + std::to_string(options.theta.size()));
  }
  for (size_t j = 0; j < options.correlated_errors.size(); ++j) {
    const CorrelatedError& c = options.correlated_errors[j];
    const std::string field = "correlated_errors[" + std::to_string(j) + "]";
    const int k = spec.ObservableIndex(c.observable);
    if (k < 0) {
      return Status::Invalid(field + ".observable: model '" + spec.name + "' has no observable '" +
                             c.observable + "'");
    }
    const ResidualError& e = spec.observables[k].error;
    if (!(e.additive_sd > 0.0 || e.proportional_sd > 0.0 || e.exponential_sd > 0.0)) {
      return Status::Invalid(field + ".observable: '" + c.observable +
                             "' has no residual error to split");
    }
    if (options.method == FilterMethod::kMap) {
      return Status::Unsupported(field +
                                 ": the map filter refits with white residual error; "
                                 "use enkf, ensrf, ukf or pf");
    }
  }
  for (const auto& [field, list] : ModelErrorOptions(options)) {
    const size_t want = list == &options.eta_noise_sd ? static_cast<size_t>(q) : spec.states.size();
    if (list->empty()) continue;
    if (options.method == FilterMethod::kMap) {
      return Status::Invalid(std::string(field) + ": method map carries no state to perturb");
    }
    if (list->size() != want) {
      return Status::Invalid(std::string(field) + ": expected " + std::to_string(want) +
                             (list == &options.eta_noise_sd ? " values (one per random effect"
                                                            : " values (one per state") +
                             " of model '" + spec.name + "'), got " + std::to_string(list->size()));
    }
  }
  const Eigen::Map<const Eigen::MatrixXd> omega(spec.variability.omega.data(), q, q);
  Eigen::LLT<Eigen::MatrixXd> llt(omega);
  if (llt.info() != Eigen::Success) {
    return Status::Invalid("model '" + spec.name + "': omega is not positive definite");
  }
  return Eigen::MatrixXd(llt.matrixL());
}

Result<std::unique_ptr<FilterBase>> MakeBase(const Model& model,
                                             const AssimilationOptions& options) {
  auto l = PriorFactor(model, options);
  if (!l.ok()) return l.status();
  std::unique_ptr<FilterBase> f;
  switch (options.method) {
    case FilterMethod::kUkf:
      f = std::make_unique<UnscentedFilter>(model, options);
      break;
    case FilterMethod::kMap:
      f = std::make_unique<MapRefitFilter>(model, options);
      break;
    default:
      f = std::make_unique<EnsembleFilter>(model, options, *l);
  }
  MEDTWIN_RETURN_IF_ERROR(f->Init());
  return f;
}

}  // namespace

const char* ToString(FilterMethod m) {
  switch (m) {
    case FilterMethod::kEnkf:
      return "enkf";
    case FilterMethod::kEnsrf:
      return "ensrf";
    case FilterMethod::kPf:
      return "pf";
    case FilterMethod::kUkf:
      return "ukf";
    default:
      return "map";
  }
}

Result<FilterMethod> FilterMethodFromString(const std::string& s) {
  for (FilterMethod m : {FilterMethod::kEnkf, FilterMethod::kEnsrf, FilterMethod::kUkf,
                         FilterMethod::kPf, FilterMethod::kMap}) {
    if (s == ToString(m)) return m;
  }
  return Status::Unsupported("filter method '" + s +
                             "' is not available (available: enkf, ensrf, ukf, pf, map)");
}

Status AssimilationOptions::Validate() const {
  MEDTWIN_RETURN_IF_ERROR(sim.Validate());
  if (members < 2) return Status::Invalid("members must be >= 2");
  if (!(inflation >= 1.0)) return Status::Invalid("inflation must be >= 1");
  if (!(gate_z >= 0.0)) return Status::Invalid("gate_z must be >= 0 (0: no gate)");
  if (!(pf_eta_shrinkage > 0.0 && pf_eta_shrinkage <= 1.0)) {
    return Status::Invalid("pf_eta_shrinkage must be in (0, 1] (1: no jitter of eta)");
  }
  if (!(pf_state_shrinkage > 0.0 && pf_state_shrinkage <= 1.0)) {
    return Status::Invalid("pf_state_shrinkage must be in (0, 1] (1: no jitter of the state)");
  }
  for (size_t j = 0; j < correlated_errors.size(); ++j) {
    const CorrelatedError& c = correlated_errors[j];
    const std::string field = "correlated_errors[" + std::to_string(j) + "]";
    if (!(c.fraction > 0.0 && c.fraction < 1.0)) {
      return Status::Invalid(field + ".fraction = " + StreamText(c.fraction) +
                             ": must be in (0, 1) (the white part keeps a positive SD)");
    }
    if (!(c.tau > 0.0 && std::isfinite(c.tau))) {
      return Status::Invalid(field + ".tau = " + StreamText(c.tau) +
                             ": must be a finite correlation time > 0 (model time unit)");
    }
    if (c.order != 1 && c.order != 2) {
      return Status::Invalid(field + ".order = " + std::to_string(c.order) +
                             ": must be 1 (Ornstein-Uhlenbeck) or 2 (second-order Gauss-Markov)");
    }
    if (c.order == 2 && !(c.damping > 0.0 && std::isfinite(c.damping))) {
      return Status::Invalid(field + ".damping = " + StreamText(c.damping) +
                             ": must be a finite damping ratio > 0 (1: critically damped)");
    }
    if (c.order == 1 && c.damping != 1.0) {
      return Status::Invalid(
          field + ".damping = " + StreamText(c.damping) +
          ": applies to order 2 only (order 1 is an Ornstein-Uhlenbeck process)");
    }
    for (size_t i = 0; i < j; ++i) {
      if (correlated_errors[i].observable == c.observable) {
        return Status::Invalid(field + ".observable: '" + c.observable +
                               "' already has a correlated error (correlated_errors[" +
                               std::to_string(i) + "])");
      }
    }
  }
  for (const auto& [field, list] : ModelErrorOptions(*this)) {
    for (size_t j = 0; j < list->size(); ++j) {
      if (!((*list)[j] >= 0.0 && std::isfinite((*list)[j]))) {
        return Status::Invalid(std::string(field) + "[" + std::to_string(j) + "] is " +
                               std::to_string((*list)[j]) + "; it must be finite and >= 0");
      }
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<SequentialFilter>> SequentialFilter::Make(
    const Model& model, const AssimilationOptions& options) {
  auto f = MakeBase(model, options);
  if (!f.ok()) return f.status();
  return std::unique_ptr<SequentialFilter>(std::move(f).value());
}

Result<std::unique_ptr<SequentialFilter>> SequentialFilter::Restore(const Model& model,
                                                                    std::string_view snapshot) {
  nlohmann::json j = nlohmann::json::parse(snapshot, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Invalid("filter snapshot: not a JSON object");
  }
  try {
    if (j.value("format", "") != "medtwin-filter/1") {
      return Status::Invalid("filter snapshot: format is not medtwin-filter/1");
    }
    if (j.at("model").get<std::string>() != model.spec().name) {
      return Status::Invalid("filter snapshot: made for model '" +
                             j.at("model").get<std::string>() + "', not '" + model.spec().name +
                             "'");
    }
    AssimilationOptions o;
    auto method = FilterMethodFromString(j.at("method").get<std::string>());
    if (!method.ok()) return method.status().WithContext("filter snapshot");
    o.method = *method;
    o.members = j.at("members").get<int>();
    o.seed = j.at("seed").get<uint64_t>();
    o.inflation = j.at("inflation").get<double>();
    o.gate_z = j.at("gate_z").get<double>();
    o.pf_eta_shrinkage = j.value("pf_eta_shrinkage", AssimilationOptions{}.pf_eta_shrinkage);
    o.pf_state_shrinkage = j.value("pf_state_shrinkage", AssimilationOptions{}.pf_state_shrinkage);
    o.plotting_positions = j.value("plotting_positions", false);
    for (const nlohmann::json& c : j.value("correlated_errors", nlohmann::json::array())) {
      o.correlated_errors.push_back({c.at("observable").get<std::string>(),
                                     c.at("fraction").get<double>(), c.at("tau").get<double>(),
                                     c.value("order", 1), c.value("damping", 1.0)});
    }
    for (const auto& [key, list] : ModelErrorOptions(o)) {
      *list = j.value(key, std::vector<double>{});
    }
    o.theta = j.at("theta").get<std::vector<double>>();
    auto sim = LoadSim(j.at("sim"));
    if (!sim.ok()) return sim.status().WithContext("filter snapshot");
    o.sim = *sim;
    auto f = MakeBase(model, o);
    if (!f.ok()) return f.status().WithContext("filter snapshot");
    MEDTWIN_RETURN_IF_ERROR((*f)->Load(j).WithContext("filter snapshot"));
    return std::unique_ptr<SequentialFilter>(std::move(f).value());
  } catch (const nlohmann::json::exception& e) {
    return Status::Invalid(std::string("filter snapshot: ") + e.what());
  }
}

Result<std::vector<int>> AssimilationRecords(const Dataset& data, size_t subject_index) {
  if (subject_index >= data.subjects.size()) {
    return Status::Invalid("subject index " + std::to_string(subject_index) + " out of range");
  }
  const Subject& subject = data.subjects[subject_index];
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
  if (obs.empty())
    return Status::Invalid("subject " + subject.id + " has no observations to assimilate");
  return obs;
}

Result<std::vector<AssimilationStep>> AssimilateSubject(const Model& model, const Dataset& data,
                                                        size_t subject_index,
                                                        const AssimilationOptions& options) {
  auto filter = SequentialFilter::Make(model, options);
  if (!filter.ok()) return filter.status();
  auto obs = AssimilationRecords(data, subject_index);
  if (!obs.ok()) return obs.status();
  std::vector<AssimilationStep> steps;
  for (int r : *obs) {
    auto step = (*filter)->Assimilate(data, subject_index, r);
    if (!step.ok()) return step.status();
    steps.push_back(std::move(step).value());
  }
  return steps;
}

}  // namespace medtwin
