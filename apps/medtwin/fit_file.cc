#include "fit_file.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_common.h"

namespace medtwin::cli {
namespace {

using nlohmann::json;

// A number at j[key], or an error naming the field.
Result<double> Number(const json& j, const std::string& key, const std::string& where) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) {
    return Status::Invalid(where + ": '" + key + "' must be a number");
  }
  return j[key].get<double>();
}

}  // namespace

Result<std::vector<Target>> ParseTargets(const std::vector<std::string>& texts) {
  std::vector<Target> out;
  for (const std::string& t : texts) {
    auto parsed = TargetFromString(t);
    if (!parsed.ok()) return parsed.status().WithContext("--target");
    out.push_back(*parsed);
  }
  return out;
}

std::string PercentileLabel(double q) {
  char b[32];
  std::snprintf(b, sizeof b, "P%g", q);
  return b;
}

Result<FitFile> ReadFitFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("--fit " + path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Invalid(path + ": not valid JSON");
  FitFile f;
  if (!j.contains("model") || !j["model"].is_string()) {
    return Status::Invalid(path + ": 'model' must name the model (as written by medtwin fit)");
  }
  f.model_name = j["model"].get<std::string>();
  auto model = LoadModel(f.model_name);
  if (!model.ok()) return model.status().WithContext(path);
  f.model = std::move(model).value();
  // A fit made with --estimate stored random effects on other parameters than the model's.
  if (j.contains("variability")) {
    const json& vj = j["variability"];
    Variability v;
    if (!vj.is_object() || !vj.contains("parameters") || !vj["parameters"].is_array() ||
        !vj.contains("omega") || !vj["omega"].is_array()) {
      return Status::Invalid(path + ": 'variability' must hold 'parameters' and 'omega' arrays");
    }
    for (const json& p : vj["parameters"]) {
      if (!p.is_string()) return Status::Invalid(path + ": variability parameters must be names");
      v.parameters.push_back(p.get<std::string>());
    }
    for (const json& w : vj["omega"]) {
      if (!w.is_number()) return Status::Invalid(path + ": variability omega must be numbers");
      v.omega.push_back(w.get<double>());
    }
    if (v.parameters != f.model->spec().variability.parameters) {
      auto wrapped = WithVariability(std::move(f.model), std::move(v));
      if (!wrapped.ok()) return wrapped.status().WithContext(path);
      f.model = std::move(wrapped).value();
    }
  }
  const ModelSpec& s = f.model->spec();
  std::vector<double> theta;
  for (const auto& p : s.parameters) {
    auto v = Number(j.value("theta", json::object()), p.name, path + " theta");
    if (!v.ok()) return v.status();
    theta.push_back(*v);
  }
  std::vector<ResidualError> errors;
  const json& ej = j.value("error", json::array());
  if (!ej.is_array() || ej.size() != s.observables.size()) {
    return Status::Invalid(path + ": 'error' must list one residual error model per observable");
  }
  for (size_t k = 0; k < s.observables.size(); ++k) {
    const std::string where = path + " error[" + std::to_string(k) + "]";
    ResidualError e;
    if (!ej[k].contains("model") || !ej[k]["model"].is_string()) {
      return Status::Invalid(where + ": 'model' must be a string");
    }
    auto kind = ErrorModelFromString(ej[k]["model"].get<std::string>());
    if (!kind.ok()) return kind.status().WithContext(where);
    e.model = *kind;
    auto a = Number(ej[k], "additive_sd", where), b = Number(ej[k], "proportional_sd", where),
         c = Number(ej[k], "exponential_sd", where);
    for (const auto* r : {&a, &b, &c}) {
      if (!r->ok()) return r->status();
    }
    e.additive_sd = *a;
    e.proportional_sd = *b;
    e.exponential_sd = *c;
    errors.push_back(e);
  }
  const size_t n = s.variability.parameters.size();
  if (!j.contains("subjects") || !j["subjects"].is_array()) {
    return Status::Invalid(path + ": 'subjects' must be an array");
  }
  for (const json& sj : j["subjects"]) {
    if (!sj.contains("id") || !sj["id"].is_string()) {
      return Status::Invalid(path + ": every subject needs an 'id'");
    }
    const std::string id = sj["id"].get<std::string>();
    const std::string where = path + " subject " + id;
    SubjectFit fit;
    fit.id = id;
    for (const std::string& name : s.variability.parameters) {
      auto v = Number(sj.value("eta", json::object()), name, where + " eta");
      if (!v.ok()) return v.status();
      fit.eta.push_back(*v);
    }
    const json& cov = sj.value("eta_covariance", json::array());
    if (!cov.is_array() || cov.size() != n) {
      return Status::Invalid(where + ": 'eta_covariance' must be " + std::to_string(n) + " x " +
                             std::to_string(n));
    }
    for (const json& row : cov) {
      if (!row.is_array() || row.size() != n) {
        return Status::Invalid(where + ": 'eta_covariance' must be " + std::to_string(n) + " x " +
                               std::to_string(n));
      }
      for (const json& v : row) {
        if (!v.is_number()) return Status::Invalid(where + ": 'eta_covariance' must be numbers");
        fit.covariance.push_back(v.get<double>());
      }
    }
    // Forecasts use MCMC draws when present, else SIR draws, else the Laplace approximation.
    const char* sampler = sj.contains("mcmc") ? "mcmc" : sj.contains("sir") ? "sir" : nullptr;
    if (sampler != nullptr) {
      std::vector<double>& kept = sampler[0] == 'm' ? fit.mcmc_draws : fit.sir_draws;
      for (const json& draw : sj[sampler].value("eta_draws", json::array())) {
        if (!draw.is_array() || draw.size() != n) {
          return Status::Invalid(where + ": every " + sampler + " draw must have " +
                                 std::to_string(n) + " etas");
        }
        for (const json& v : draw) {
          if (!v.is_number()) {
            return Status::Invalid(where + ": " + sampler + " draws must be numbers");
          }
          kept.push_back(v.get<double>());
        }
      }
    }
    f.posteriors[id] = IndividualPosterior::FromFit(fit, theta, errors);
  }
  return f;
}

}  // namespace medtwin::cli
