#include "medtwin/model.h"

#include <Eigen/Dense>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <string_view>

#include "model/model_internal.h"

namespace medtwin {

namespace internal {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

std::string FormatNumber(double value) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, res.ptr);
}

double OmegaSquaredFromCv(double cv_fraction) { return std::log(cv_fraction * cv_fraction + 1.0); }

std::vector<double> DiagonalOmega(const std::vector<double>& diagonal) {
  const size_t n = diagonal.size();
  std::vector<double> omega(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) omega[i * n + i] = diagonal[i];
  return omega;
}

namespace {

Status SizeError(const char* what, size_t got, const std::string& expected) {
  return Status::Invalid(std::string(what) + " has " + std::to_string(got) + " values, expected " +
                         expected);
}

// The range as text, "[0.5, 400]" or "[0, inf]".
std::string RangeText(double lower, double upper) {
  // Appends rather than "[" + ...: GCC 12 -O3 issues a false -Wrestrict on the latter.
  std::string text = "[";
  text += FormatNumber(lower);
  text += ", ";
  text += FormatNumber(upper);
  text += "]";
  return text;
}

}  // namespace

Status CheckIndividualizeSizes(const ModelSpec& spec, std::span<const double> theta,
                               std::span<const double> eta, std::span<const double> covariates,
                               std::span<const double> out) {
  const size_t n_par = spec.parameters.size();
  const size_t n_eta = spec.variability.parameters.size();
  const size_t n_cov = spec.covariates.size();
  if (theta.size() != n_par) return SizeError("theta", theta.size(), std::to_string(n_par));
  if (out.size() != n_par) return SizeError("output parameters", out.size(), std::to_string(n_par));
  if (!eta.empty() && eta.size() != n_eta) {
    return SizeError("eta", eta.size(), "0 or " + std::to_string(n_eta));
  }
  if (covariates.size() != n_cov) {
    return SizeError("covariates", covariates.size(), std::to_string(n_cov));
  }
  return Status::Ok();
}

Status CheckCovariates(const ModelSpec& spec, std::span<const double> covariates) {
  for (size_t i = 0; i < spec.covariates.size() && i < covariates.size(); ++i) {
    const CovariateSpec& c = spec.covariates[i];
    const double v = covariates[i];
    if (std::isnan(v) && c.may_be_missing) continue;
    if (!std::isfinite(v) || v < c.lower || v > c.upper) {
      return Status::Invalid("model '" + spec.name + "': covariate " + c.name + "=" +
                             FormatNumber(v) + " " + c.unit + " is outside its range " +
                             RangeText(c.lower, c.upper));
    }
  }
  return Status::Ok();
}

Status CheckIndividualParameters(const ModelSpec& spec, std::span<const double> p) {
  for (size_t k = 0; k < spec.parameters.size() && k < p.size(); ++k) {
    const ParameterSpec& ps = spec.parameters[k];
    if (!std::isfinite(p[k]) || p[k] < ps.lower || p[k] > ps.upper) {
      return Status::Invalid("model '" + spec.name + "': individual parameter " + ps.name + "=" +
                             FormatNumber(p[k]) + " " + ps.unit + " is outside its bounds " +
                             RangeText(ps.lower, ps.upper));
    }
  }
  return Status::Ok();
}

}  // namespace internal

using internal::EqualsIgnoreCase;
using internal::FormatNumber;

const char* ToString(ErrorModel m) {
  switch (m) {
    case ErrorModel::kAdditive:
      return "additive";
    case ErrorModel::kProportional:
      return "proportional";
    case ErrorModel::kCombined:
      return "combined";
    case ErrorModel::kExponential:
      return "exponential";
  }
  return "unknown";
}

Result<ErrorModel> ErrorModelFromString(const std::string& s) {
  for (ErrorModel m : {ErrorModel::kAdditive, ErrorModel::kProportional, ErrorModel::kCombined,
                       ErrorModel::kExponential}) {
    if (EqualsIgnoreCase(s, ToString(m))) return m;
  }
  return Status::Invalid("error model '" + s +
                         "' is unknown; expected additive, proportional, combined or exponential");
}

double ResidualError::Observation(double f, double z) const {
  return model == ErrorModel::kExponential ? f * std::exp(Sd(f) * z) : f + Sd(f) * z;
}

double ResidualError::Sd(double f) const {
  switch (model) {
    case ErrorModel::kAdditive:
      return additive_sd;
    case ErrorModel::kProportional:
      return proportional_sd * std::abs(f);
    case ErrorModel::kCombined:
      return std::hypot(additive_sd, proportional_sd * f);
    case ErrorModel::kExponential:
      return exponential_sd;
  }
  return 0.0;
}

namespace {

// An exact match wins; otherwise a case-insensitive match if it is the only one ("cl" finds
// "CL", but in an SBML model with both "Param" and "param" only the exact spelling does).
template <typename T>
int FindByName(const std::vector<T>& items, const std::string& name) {
  int found = -1;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].name == name) return static_cast<int>(i);
    if (EqualsIgnoreCase(items[i].name, name)) found = found == -1 ? static_cast<int>(i) : -2;
  }
  return found >= 0 ? found : -1;
}

bool IsAllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string ModelSpec::TimeText(double t) const {
  return "t=" + std::to_string(t) + " " + time_unit;
}

int ModelSpec::StateIndex(const std::string& name_or_number) const {
  if (IsAllDigits(name_or_number)) {
    int number = 0;
    const char* end = name_or_number.data() + name_or_number.size();
    const auto res = std::from_chars(name_or_number.data(), end, number);
    const bool in_range = res.ec == std::errc() && number >= 1 && number <= int(states.size());
    return in_range ? number - 1 : -1;
  }
  return FindByName(states, name_or_number);
}

int ModelSpec::ParameterIndex(const std::string& name) const {
  return FindByName(parameters, name);
}
int ModelSpec::CovariateIndex(const std::string& name) const {
  return FindByName(covariates, name);
}
int ModelSpec::ObservableIndex(const std::string& name) const {
  return FindByName(observables, name);
}

namespace {

// Names of one kind (states, parameters, ...) must be non-empty and unique (case-sensitive, as
// SBML ids are; look-ups prefer the exact spelling).
template <typename T>
Status CheckNames(const char* kind, const std::vector<T>& items) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].name.empty())
      return Status::Invalid(std::string(kind) + " " + std::to_string(i + 1) + " has no name");
    for (size_t j = 0; j < i; ++j) {
      if (items[i].name == items[j].name) {
        return Status::Invalid(std::string(kind) + " name '" + items[i].name + "' is used twice");
      }
    }
  }
  return Status::Ok();
}

Status CheckStateSpecs(const ModelSpec& spec) {
  MEDTWIN_RETURN_IF_ERROR(CheckNames("state", spec.states));
  for (const StateSpec& s : spec.states) {
    // A numeric name would be ambiguous with the 1-based numbers accepted as CMT.
    if (IsAllDigits(s.name)) return Status::Invalid("state name '" + s.name + "' is a number");
  }
  const int n = static_cast<int>(spec.states.size());
  if (n > 0 && (spec.default_dose_state < 0 || spec.default_dose_state >= n)) {
    return Status::Invalid("default_dose_state " + std::to_string(spec.default_dose_state) +
                           " is not a state index in [0, " + std::to_string(n - 1) + "]");
  }
  return Status::Ok();
}

Status CheckParameterSpecs(const ModelSpec& spec) {
  MEDTWIN_RETURN_IF_ERROR(CheckNames("parameter", spec.parameters));
  for (const ParameterSpec& p : spec.parameters) {
    const bool ordered = p.lower <= p.typical && p.typical <= p.upper;  // false for any NaN
    // An unbounded parameter may hold any IEEE value (SBML files declare INF and NaN values);
    // a bounded one needs a finite typical value inside its bounds.
    const bool unbounded = p.lower == -kInf && p.upper == kInf;
    if (unbounded ? !(ordered || std::isnan(p.typical)) : !(std::isfinite(p.typical) && ordered)) {
      return Status::Invalid("parameter " + p.name + ": typical value " + FormatNumber(p.typical) +
                             " is not within its bounds " + internal::RangeText(p.lower, p.upper));
    }
  }
  for (const CovariateSpec& c : spec.covariates) {
    if (spec.ParameterIndex(c.name) >= 0) {
      return Status::Invalid("name '" + c.name + "' is both a parameter and a covariate");
    }
  }
  return Status::Ok();
}

// The reference must lie in the plausible range; a covariate that may be missing may have a NaN
// reference, meaning "missing unless given" (e.g. a measured CrCL overriding a formula).
Status CheckCovariateSpecs(const ModelSpec& spec) {
  MEDTWIN_RETURN_IF_ERROR(CheckNames("covariate", spec.covariates));
  for (const CovariateSpec& c : spec.covariates) {
    if (!(c.lower <= c.upper)) {
      return Status::Invalid("covariate " + c.name + ": lower bound " + FormatNumber(c.lower) +
                             " exceeds upper bound " + FormatNumber(c.upper));
    }
    if (std::isnan(c.reference) && c.may_be_missing) continue;
    if (!std::isfinite(c.reference) || c.reference < c.lower || c.reference > c.upper) {
      return Status::Invalid("covariate " + c.name + ": reference " + FormatNumber(c.reference) +
                             " is outside its range " + internal::RangeText(c.lower, c.upper));
    }
  }
  return Status::Ok();
}

Status CheckObservableSpecs(const ModelSpec& spec) {
  MEDTWIN_RETURN_IF_ERROR(CheckNames("observable", spec.observables));
  for (const ObservableSpec& o : spec.observables) {
    for (double sd : {o.error.additive_sd, o.error.proportional_sd, o.error.exponential_sd}) {
      if (!std::isfinite(sd) || sd < 0.0) {
        return Status::Invalid("observable " + o.name + ": residual error SD " + FormatNumber(sd) +
                               " must be finite and >= 0");
      }
    }
  }
  return Status::Ok();
}

// Positive semi-definiteness via the eigenvalues of the symmetric matrix. LLT rejects singular but
// valid matrices (a fixed, zero-variance eta); the smallest eigenvalue gives a direct test with an
// explicit tolerance and a number worth reporting. n is small, so the cost does not matter.
Status CheckOmegaPsd(const Eigen::MatrixXd& omega) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(omega, Eigen::EigenvaluesOnly);
  if (solver.info() != Eigen::Success)
    return Status::Invalid("omega: eigenvalues did not converge");
  const Eigen::VectorXd& ev = solver.eigenvalues();  // ascending
  const double tol = 1e-12 * std::max(1.0, ev.cwiseAbs().maxCoeff());
  if (ev(0) < -tol) {
    return Status::Invalid("omega is not positive semi-definite (smallest eigenvalue " +
                           FormatNumber(ev(0)) + ")");
  }
  return Status::Ok();
}

Status CheckVariability(const ModelSpec& spec) {
  const Variability& var = spec.variability;
  const size_t n = var.parameters.size();
  for (size_t i = 0; i < n; ++i) {
    if (spec.ParameterIndex(var.parameters[i]) < 0) {
      return Status::Invalid("variability parameter '" + var.parameters[i] +
                             "' is not a parameter of the model");
    }
    for (size_t j = 0; j < i; ++j) {
      if (EqualsIgnoreCase(var.parameters[i], var.parameters[j])) {
        return Status::Invalid("variability parameter '" + var.parameters[i] + "' is listed twice");
      }
    }
  }
  if (var.omega.size() != n * n) {
    return Status::Invalid("omega has " + std::to_string(var.omega.size()) + " values, expected " +
                           std::to_string(n) + " x " + std::to_string(n));
  }
  if (n == 0) return Status::Ok();
  const Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>
      omega(var.omega.data(), n, n);
  if (!omega.allFinite()) return Status::Invalid("omega has a non-finite value");
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < i; ++j) {
      const double a = omega(i, j), b = omega(j, i);
      if (std::abs(a - b) > 1e-12 * std::max({1.0, std::abs(a), std::abs(b)})) {
        return Status::Invalid("omega is not symmetric: (" + var.parameters[i] + ", " +
                               var.parameters[j] + ") = " + FormatNumber(a) + " but (" +
                               var.parameters[j] + ", " + var.parameters[i] +
                               ") = " + FormatNumber(b));
      }
    }
  }
  return CheckOmegaPsd(omega);
}

}  // namespace

Status ModelSpec::Validate() const {
  Status st = CheckStateSpecs(*this);
  if (st.ok()) st = CheckParameterSpecs(*this);
  if (st.ok()) st = CheckCovariateSpecs(*this);
  if (st.ok()) st = CheckObservableSpecs(*this);
  if (st.ok()) st = CheckVariability(*this);
  return st.WithContext("model '" + name + "'");
}

Status Model::Individualize(std::span<const double> theta, std::span<const double> eta,
                            std::span<const double> covariates, std::span<double> out) const {
  MEDTWIN_RETURN_IF_ERROR(internal::CheckIndividualizeSizes(spec_, theta, eta, covariates, out));
  MEDTWIN_RETURN_IF_ERROR(internal::CheckCovariates(spec_, covariates));
  std::copy(theta.begin(), theta.end(), out.begin());
  for (size_t j = 0; j < eta.size(); ++j) {
    const int k = spec_.ParameterIndex(spec_.variability.parameters[j]);
    if (k < 0) {
      return Status::Internal("model '" + spec_.name + "': variability parameter '" +
                              spec_.variability.parameters[j] + "' is not a parameter");
    }
    out[k] *= std::exp(eta[j]);
  }
  return internal::CheckIndividualParameters(spec_, out);
}

void Model::InitialState(const double* p, double* x) const { std::fill(x, x + num_states(), 0.0); }

std::vector<double> ModelSpec::TypicalValues() const {
  std::vector<double> t;
  t.reserve(parameters.size());
  for (const ParameterSpec& p : parameters) t.push_back(p.typical);
  return t;
}

std::vector<ResidualError> ModelSpec::ResidualErrors() const {
  std::vector<ResidualError> e;
  e.reserve(observables.size());
  for (const ObservableSpec& o : observables) e.push_back(o.error);
  return e;
}

}  // namespace medtwin
