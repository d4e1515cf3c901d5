#include "estimate/posterior.h"

#include <cmath>
#include <numbers>
#include <string>

namespace medtwin {
namespace {

constexpr double kLn2Pi = 1.8378770664093453;

// ln Phi(z), accurate far into the lower tail (where Phi underflows).
double LogNormalCdf(double z) {
  if (z > -30.0) return std::log(0.5 * std::erfc(-z / std::numbers::sqrt2));
  // Mills ratio asymptotics: Phi(z) ~ phi(z) / -z * (1 - 1/z^2).
  return -0.5 * z * z - std::log(-z) - 0.5 * kLn2Pi + std::log1p(-1.0 / (z * z));
}

// phi(z) / Phi(z) (inverse Mills ratio), from the logarithms so it stays finite in the tail.
double NormalPdfOverCdf(double z) {
  return std::exp(-0.5 * z * z - 0.5 * kLn2Pi - LogNormalCdf(z));
}

// d Sd(f)/df of a residual error model.
double SdDerivative(const ResidualError& e, double f, double sd) {
  switch (e.model) {
    case ErrorModel::kProportional:
      return e.proportional_sd * (f < 0.0 ? -1.0 : 1.0);
    case ErrorModel::kCombined:
      return e.proportional_sd * e.proportional_sd * f / sd;
    case ErrorModel::kAdditive:
    case ErrorModel::kExponential:
      return 0.0;
  }
  return 0.0;
}

std::string Line(const Subject& s, int record) {
  return "subject " + s.id + " line " + std::to_string(s.records[record].line);
}

}  // namespace

Posterior::Posterior(const Model& model, const Dataset& data, size_t subject,
                     const FitOptions& options)
    : model_(model), data_(data), subject_(subject), options_(options) {}

Result<std::unique_ptr<Posterior>> Posterior::Make(const Model& model, const Dataset& data,
                                                   size_t subject_index,
                                                   const FitOptions& options) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  if (subject_index >= data.subjects.size()) {
    return Status::Invalid("subject index " + std::to_string(subject_index) + " out of range");
  }
  std::unique_ptr<Posterior> post(new Posterior(model, data, subject_index, options));
  const ModelSpec& spec = model.spec();
  const Subject& subject = data.subjects[subject_index];
  post->n_ = static_cast<int>(spec.variability.parameters.size());
  if (post->n_ == 0) {
    return Status::Invalid("model '" + spec.name +
                           "' has no between-subject variability: no individual parameters to "
                           "estimate");
  }
  post->theta_ = options.theta;
  if (post->theta_.empty()) {
    post->theta_ = spec.TypicalValues();
  }
  if (post->theta_.size() != spec.parameters.size()) {
    return Status::Invalid("expected " + std::to_string(spec.parameters.size()) +
                           " typical values, got " + std::to_string(post->theta_.size()));
  }
  if (options.error.empty()) {
    post->error_ = spec.ResidualErrors();
  } else if (options.error.size() != spec.observables.size()) {
    return Status::Invalid("expected a residual error model for each of the " +
                           std::to_string(spec.observables.size()) + " observables");
  } else {
    post->error_ = options.error;
  }
  const int n = post->n_;
  post->omega_ = Eigen::Map<const Eigen::MatrixXd>(spec.variability.omega.data(), n, n);
  if (options.prior == PriorKind::kPopulation) {
    Eigen::LLT<Eigen::MatrixXd> llt(post->omega_);
    if (llt.info() != Eigen::Success) {
      return Status::Invalid("model '" + spec.name +
                             "': omega is not positive definite; fit with --prior none");
    }
    post->omega_inv_ = llt.solve(Eigen::MatrixXd::Identity(n, n));
    const Eigen::MatrixXd l = llt.matrixL();
    post->prior_constant_ = n * kLn2Pi + 2.0 * l.diagonal().array().log().sum();
  }
  // The observations: EVID 0 records with a DV.
  post->obs_of_record_.assign(subject.records.size(), -1);
  int censored = 0;
  for (size_t r = 0; r < subject.records.size(); ++r) {
    const Record& rec = subject.records[r];
    if (rec.evid != Evid::kObservation || rec.mdv) continue;
    FittedObservation o;
    o.record = static_cast<int>(r);
    o.time = rec.time_h;
    o.observable = rec.observable;
    o.dv = rec.dv;
    o.censored = rec.censored;
    censored += o.censored;
    const ResidualError& e = post->error_[o.observable];
    if (e.model == ErrorModel::kExponential && !(o.dv > 0.0)) {
      return Status::Invalid(Line(subject, o.record) + ": DV=" + std::to_string(o.dv) +
                             " must be > 0 under the exponential (log-normal) error model of " +
                             spec.observables[o.observable].name);
    }
    post->obs_of_record_[r] = static_cast<int>(post->obs_.size());
    post->obs_.push_back(o);
  }
  if (post->obs_.empty()) {
    return Status::Invalid("subject " + subject.id +
                           " has no observations (EVID 0 records with a DV) to fit; its a "
                           "priori prediction needs no fit");
  }
  if (censored == static_cast<int>(post->obs_.size()) && options.prior == PriorKind::kNone) {
    return Status::Invalid("subject " + subject.id + ": all " + std::to_string(censored) +
                           " observations are below the quantification limit; without a prior "
                           "they cannot determine the parameters (fit with --prior population)");
  }
  post->request_.observation_records = true;
  post->request_.dose_records = false;
  post->sens_request_ = post->request_;
  post->sens_request_.sensitivities = true;
  post->sim_ = std::make_unique<Simulator>(model, options.sim);
  MEDTWIN_RETURN_IF_ERROR(post->sim_->Init());
  return post;
}

Status Posterior::Predict(const double* eta, std::vector<double>* f) {
  return PredictWithSensitivities(eta, f, nullptr);
}

Status Posterior::PredictWithSensitivities(const double* eta, std::vector<double>* f,
                                           std::vector<double>* df) {
  const std::vector<double> e(eta, eta + n_);
  auto out = sim_->Run(data_, subject_, df != nullptr ? sens_request_ : request_,
                       IndividualInput{theta_, e});
  if (!out.ok()) return out.status();
  last_path_ = out->summary.path;
  if (df != nullptr && out->num_sensitivities != n_) {
    return Status::Internal("expected sensitivities to " + std::to_string(n_) +
                            " random effects, got " + std::to_string(out->num_sensitivities));
  }
  const int no = model_.num_observables();
  f->assign(obs_.size(), std::nan(""));
  if (df != nullptr) df->assign(obs_.size() * n_, std::nan(""));
  for (size_t row = 0; row < out->rows(); ++row) {
    const int r = out->record[row];
    if (r < 0 || obs_of_record_[r] < 0) continue;
    const int k = obs_of_record_[r];
    const int j = obs_[k].observable;
    (*f)[k] = out->observables[row * no + j];
    for (int i = 0; df != nullptr && i < n_; ++i) {
      (*df)[k * n_ + i] = out->observable_sensitivities[(row * n_ + i) * no + j];
    }
  }
  return Status::Ok();
}

Status Posterior::Parameters(const double* eta, std::vector<double>* p) const {
  const Subject& subject = data_.subjects[subject_];
  p->assign(model_.num_parameters(), 0.0);
  const std::vector<double> e(eta, eta + n_);
  return model_.Individualize(theta_, e, subject.records.front().covariates, *p);
}

Result<double> Posterior::Contribution(const FittedObservation& o, double f, double* dc_df) const {
  const ResidualError& e = error_[o.observable];
  const Subject& subject = data_.subjects[subject_];
  const std::string& name = model_.spec().observables[o.observable].name;
  if (!std::isfinite(f)) {
    return Status::Numerical(Line(subject, o.record) + ": the prediction of " + name +
                             " is not finite");
  }
  double y = o.dv, mean = f, dmean_df = 1.0;
  if (e.model == ErrorModel::kExponential) {
    if (!(f > 0.0)) {
      return Status::Invalid(Line(subject, o.record) + ": the model predicts " + name + "=" +
                             std::to_string(f) +
                             " there, which a log-normal error model cannot explain (an "
                             "observation before the first dose?)");
    }
    y = std::log(y);
    mean = std::log(f);
    dmean_df = 1.0 / f;
  }
  const double sd = e.Sd(f);
  if (!(sd > 0.0) || !std::isfinite(sd)) {
    return Status::Invalid(Line(subject, o.record) + ": the residual SD of " + name + " at the " +
                           "prediction " + std::to_string(f) + " is " + std::to_string(sd) +
                           " (a proportional error model and a prediction of 0: an observation "
                           "before the first dose?)");
  }
  const double z = (y - mean) / sd;
  // z = (y - mean(f)) / sd(f): dz/df = -(mean' + z sd') / sd.
  const double dsd_df = SdDerivative(e, f, sd);
  const double dz_df = -(dmean_df + z * dsd_df) / sd;
  if (o.censored) {
    if (dc_df != nullptr) *dc_df = -2.0 * NormalPdfOverCdf(z) * dz_df;
    return -2.0 * LogNormalCdf(z);
  }
  if (dc_df != nullptr) *dc_df = 2.0 * z * dz_df + 2.0 * dsd_df / sd;
  return z * z + kLn2Pi + 2.0 * std::log(sd);
}

double Posterior::Prior(const double* eta) const {
  if (!has_prior()) return 0.0;
  const Eigen::Map<const Eigen::VectorXd> e(eta, n_);
  return e.dot(omega_inv_ * e) + prior_constant_;
}

Result<double> Posterior::Objective(const double* eta) {
  std::vector<double> f;
  MEDTWIN_RETURN_IF_ERROR(Predict(eta, &f));
  double ofv = 0.0;
  for (size_t k = 0; k < obs_.size(); ++k) {
    auto c = Contribution(obs_[k], f[k]);
    if (!c.ok()) return c.status();
    ofv += *c;
  }
  return ofv + Prior(eta);
}

Result<double> Posterior::ObjectiveAndGradient(const double* eta, double* grad) {
  std::vector<double> f, df;
  MEDTWIN_RETURN_IF_ERROR(PredictWithSensitivities(eta, &f, &df));
  double ofv = 0.0;
  Eigen::Map<Eigen::VectorXd> g(grad, n_);
  g.setZero();
  for (size_t k = 0; k < obs_.size(); ++k) {
    double dc_df = 0.0;
    auto c = Contribution(obs_[k], f[k], &dc_df);
    if (!c.ok()) return c.status();
    ofv += *c;
    for (int i = 0; i < n_; ++i) g(i) += dc_df * df[k * n_ + i];
  }
  if (has_prior()) {
    const Eigen::Map<const Eigen::VectorXd> e(eta, n_);
    g += 2.0 * (omega_inv_ * e);  // omega_inv_ is symmetric
  }
  for (int i = 0; i < n_; ++i) {
    if (!std::isfinite(grad[i])) {
      return Status::Numerical("subject " + subject_id() + ": the gradient of the objective " +
                               "with respect to eta " + std::to_string(i + 1) + " is not finite");
    }
  }
  return ofv + Prior(eta);
}

}  // namespace medtwin
