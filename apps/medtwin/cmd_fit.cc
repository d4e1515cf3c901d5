// `medtwin fit MODEL --data FILE.csv [--prior population|none] [--out fit.json]`: individual
// estimates per ID with their uncertainty and diagnostics, as JSON (the input of forecasts and
// dose recommendations).
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "medtwin/estimate.h"

namespace medtwin::cli {
namespace {

struct FitArgs {
  CommonArgs common;
  std::string prior = "population", error, out;
  std::vector<std::string> estimate;
  double sigma_add = -1.0, sigma_prop = -1.0, sigma_exp = -1.0;
  int sir = 0, sir_resamples = 1000, mcmc = 0, mcmc_burn_in = 2000, mcmc_thin = 5;
  uint64_t seed = 1;
};

// The model's residual error models with --error / --sigma-* applied to every observable.
Result<std::vector<ResidualError>> ErrorOverride(const Model& m, const FitArgs& a) {
  if (a.error.empty() && a.sigma_add < 0 && a.sigma_prop < 0 && a.sigma_exp < 0) {
    return std::vector<ResidualError>{};
  }
  std::vector<ResidualError> out;
  for (const ObservableSpec& o : m.spec().observables) {
    ResidualError e = o.error;
    if (!a.error.empty()) {
      auto kind = ErrorModelFromString(a.error);
      if (!kind.ok()) return kind.status().WithContext("--error");
      e.model = *kind;
    }
    if (a.sigma_add >= 0) e.additive_sd = a.sigma_add;
    if (a.sigma_prop >= 0) e.proportional_sd = a.sigma_prop;
    if (a.sigma_exp >= 0) e.exponential_sd = a.sigma_exp;
    const bool add = e.model == ErrorModel::kAdditive || e.model == ErrorModel::kCombined;
    const bool prop = e.model == ErrorModel::kProportional || e.model == ErrorModel::kCombined;
    const std::string kind = ToString(e.model);
    if (add && !(e.additive_sd > 0)) {
      return Status::Invalid("--error " + kind + " needs --sigma-add > 0 for " + o.name +
                             " (the model's additive SD is " + std::to_string(e.additive_sd) + ")");
    }
    if (prop && !(e.proportional_sd > 0)) {
      return Status::Invalid("--error " + kind + " needs --sigma-prop > 0 for " + o.name +
                             " (the model's proportional SD is " +
                             std::to_string(e.proportional_sd) + ")");
    }
    if (e.model == ErrorModel::kExponential && !(e.exponential_sd > 0)) {
      return Status::Invalid("--error exponential needs --sigma-exp > 0 for " + o.name);
    }
    out.push_back(e);
  }
  return out;
}

// --estimate: random effects on the listed parameters instead of the model's. Their variances
// are the model's (a sub-block of its omega); a parameter without between-subject variability
// gets 0, which only a fit without a prior accepts.
Result<Variability> EstimatedVariability(const ModelSpec& s, const std::vector<std::string>& names,
                                         PriorKind prior) {
  const Variability& model = s.variability;
  std::vector<int> in_model;  // per name: its index in the model's variability, or -1
  for (const std::string& name : names) {
    const int k = s.ParameterIndex(name);
    if (k < 0) return Status::Invalid("--estimate: '" + name + "' is not a parameter of " + s.name);
    int found = -1;
    for (size_t j = 0; j < model.parameters.size(); ++j) {
      if (model.parameters[j] == s.parameters[k].name) found = static_cast<int>(j);
    }
    if (found < 0 && prior == PriorKind::kPopulation) {
      return Status::Invalid("--estimate: " + s.parameters[k].name + " has no between-subject " +
                             "variability in " + s.name +
                             ", so there is no prior for it; fit it with --prior none");
    }
    in_model.push_back(found);
  }
  const size_t n = names.size(), m = model.parameters.size();
  Variability v{names, std::vector<double>(n * n, 0.0)};
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) {
      if (in_model[a] >= 0 && in_model[b] >= 0)
        v.omega[a * n + b] = model.omega[in_model[a] * m + in_model[b]];
    }
  }
  return v;
}

nlohmann::json ErrorJson(const ModelSpec& s, const std::vector<ResidualError>& errors) {
  nlohmann::json j = nlohmann::json::array();
  for (size_t k = 0; k < s.observables.size(); ++k) {
    const ResidualError& e = errors.empty() ? s.observables[k].error : errors[k];
    j.push_back({{"observable", s.observables[k].name},
                 {"model", ToString(e.model)},
                 {"additive_sd", e.additive_sd},
                 {"proportional_sd", e.proportional_sd},
                 {"exponential_sd", e.exponential_sd}});
  }
  return j;
}

nlohmann::json SubjectJson(const ModelSpec& s, const SubjectFit& f) {
  using nlohmann::json;
  const size_t n = f.eta.size();
  json j{{"id", f.id}};
  json estimates = json::object(), eta = json::object(), params = json::object();
  for (size_t i = 0; i < n; ++i) {
    const std::string& name = s.variability.parameters[i];
    const double value = f.parameters[s.ParameterIndex(name)];
    const double sd = std::sqrt(f.covariance[i * n + i]);  // on the log scale
    eta[name] = f.eta[i];
    estimates[name] = {
        {"value", value},
        {"unit", s.parameters[s.ParameterIndex(name)].unit},
        {"sd_log", sd},
        {"ci90",
         {value * std::exp(-1.6448536269514722 * sd), value * std::exp(1.6448536269514722 * sd)}}};
  }
  for (size_t p = 0; p < s.parameters.size(); ++p) params[s.parameters[p].name] = f.parameters[p];
  json cov = json::array();
  for (size_t i = 0; i < n; ++i) {
    cov.push_back(
        std::vector<double>(f.covariance.begin() + i * n, f.covariance.begin() + (i + 1) * n));
  }
  j["estimates"] = estimates;
  j["eta"] = eta;
  j["parameters"] = params;
  j["eta_covariance"] = cov;
  j["summary"] = {{"objective", f.objective},
                  {"evaluations", f.evaluations},
                  {"converged", f.converged},
                  {"stop_reason", f.stop_reason},
                  {"gradient", f.gradient},
                  {"gradient_evaluations", f.gradient_evaluations},
                  {"condition_number", f.condition_number}};
  j["warnings"] = f.warnings;
  json obs = json::array();
  for (const FittedObservation& o : f.observations) {
    obs.push_back({{"time", o.time},
                   {"observable", s.observables[o.observable].name},
                   {"dv", o.dv},
                   {"censored", o.censored},
                   {"pred", o.pred},
                   {"ipred", o.ipred},
                   {"res", o.res},
                   {"iwres", o.iwres}});  // NaN (censored) becomes null
  }
  j["observations"] = obs;
  if (!f.sir_draws.empty()) {
    json draws = json::array();
    for (size_t k = 0; k < f.sir_draws.size() / n; ++k) {
      draws.push_back(
          std::vector<double>(f.sir_draws.begin() + k * n, f.sir_draws.begin() + (k + 1) * n));
    }
    j["sir"] = {{"effective_size", f.sir_effective_size}, {"eta_draws", draws}};
  }
  if (!f.mcmc_draws.empty()) {
    json draws = json::array();
    for (size_t k = 0; k < f.mcmc_draws.size() / n; ++k) {
      draws.push_back(
          std::vector<double>(f.mcmc_draws.begin() + k * n, f.mcmc_draws.begin() + (k + 1) * n));
    }
    j["mcmc"] = {{"acceptance", f.mcmc_acceptance}, {"eta_draws", draws}};
  }
  return j;
}

int Run(const FitArgs& a) {
  auto prior = PriorKindFromString(a.prior);
  if (!prior.ok()) return Fail(prior.status().WithContext("--prior"));
  auto in = PrepareInputs(a.common);
  if (!in.ok()) return Fail(in.status());
  if (!a.estimate.empty()) {
    auto v = EstimatedVariability(in->model->spec(), a.estimate, *prior);
    if (!v.ok()) return Fail(v.status());
    auto wrapped = WithVariability(std::move(in->model), std::move(v).value());
    if (!wrapped.ok()) return Fail(wrapped.status().WithContext("--estimate"));
    in->model = std::move(wrapped).value();
  }
  const Model& m = *in->model;
  FitOptions o;
  o.prior = *prior;
  auto errors = ErrorOverride(m, a);
  if (!errors.ok()) return Fail(errors.status());
  o.error = *errors;
  o.theta = in->theta;
  o.sim = in->sim;
  o.sir_proposals = a.sir;
  o.sir_resamples = a.sir_resamples;
  o.mcmc_samples = a.mcmc;
  o.mcmc_burn_in = a.mcmc_burn_in;
  o.mcmc_thin = a.mcmc_thin;
  o.seed = a.seed;
  auto fit = FitDataset(m, in->data, o);
  if (!fit.ok()) return Fail(fit.status());
  const ModelSpec& s = m.spec();
  nlohmann::json j{{"model", a.common.model},
                   {"time_unit", s.time_unit},
                   {"prior", a.prior},
                   {"error", ErrorJson(s, o.error)}};
  for (size_t p = 0; p < s.parameters.size(); ++p) j["theta"][s.parameters[p].name] = o.theta[p];
  j["variability"] = {{"parameters", s.variability.parameters}, {"omega", s.variability.omega}};
  for (size_t i = 0; i < fit->shrinkage.size(); ++i) {
    j["shrinkage"][s.variability.parameters[i]] = fit->shrinkage[i];
  }
  for (const SubjectFit& f : fit->subjects) j["subjects"].push_back(SubjectJson(s, f));
  return Fail(WriteOutput(a.out, [&](std::ostream& os) { os << j.dump(2) << '\n'; }));
}

}  // namespace

void SetupFit(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "fit", "Estimate each ID's parameters from its levels (MAP under the population prior)");
  auto a = std::make_shared<FitArgs>();
  a->common.Add(cmd, "NONMEM-style CSV: the doses and the measured levels (DV; DVID, CENS)",
                /*with_times=*/false);
  cmd->add_option("--prior", a->prior, "population (MAP) or none (maximum likelihood)")
      ->capture_default_str();
  cmd->add_option("--estimate", a->estimate,
                  "parameters to estimate for each ID, comma-separated, e.g. CL,V,KA (default: "
                  "those with between-subject variability); with --prior population each needs "
                  "variability in the model")
      ->delimiter(',');
  cmd->add_option("--error", a->error,
                  "residual error model for every observable: additive, proportional, combined "
                  "or exponential (default: the model's)");
  cmd->add_option("--sigma-add", a->sigma_add, "additive residual SD (observable unit)");
  cmd->add_option("--sigma-prop", a->sigma_prop, "proportional residual SD (0.2 = 20 %)");
  cmd->add_option("--sigma-exp", a->sigma_exp, "exponential residual SD (log scale)");
  cmd->add_option("--sir", a->sir,
                  "sampling-importance-resampling: number of proposals (0 = Laplace only)");
  cmd->add_option("--sir-resamples", a->sir_resamples, "posterior draws kept by SIR")
      ->capture_default_str();
  cmd->add_option("--mcmc", a->mcmc,
                  "Markov chain Monte Carlo: posterior draws to keep (0 = none); for posteriors "
                  "far from Gaussian");
  cmd->add_option("--mcmc-burn-in", a->mcmc_burn_in, "MCMC iterations discarded (adaptation)")
      ->capture_default_str();
  cmd->add_option("--mcmc-thin", a->mcmc_thin, "keep every N-th MCMC iteration")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed for SIR and MCMC")->capture_default_str();
  cmd->add_option("--out", a->out, "write fit.json here (default: stdout)");
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace medtwin::cli
