// `medtwin models` and `medtwin model NAME [--json]`: what a user needs to write a dataset.
#include <cmath>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.h"

namespace medtwin::cli {
namespace {

double CvPercent(double omega_sq) { return 100.0 * std::sqrt(std::exp(omega_sq) - 1.0); }

nlohmann::json SpecJson(const ModelSpec& s) {
  using nlohmann::json;
  json j{{"name", s.name},
         {"title", s.title},
         {"description", s.description},
         {"citation", s.citation},
         {"time_unit", s.time_unit}};
  for (size_t i = 0; i < s.states.size(); ++i) {
    const auto& st = s.states[i];
    j["states"].push_back({{"cmt", i + 1},
                           {"name", st.name},
                           {"unit", st.unit},
                           {"dosable", st.dosable},
                           {"description", st.description}});
  }
  for (const auto& p : s.parameters) {
    j["parameters"].push_back({{"name", p.name},
                               {"unit", p.unit},
                               {"typical", p.typical},
                               {"lower", p.lower},
                               {"upper", std::isfinite(p.upper) ? json(p.upper) : json("inf")},
                               {"description", p.description},
                               {"source", p.source}});
  }
  for (const auto& c : s.covariates) {
    j["covariates"].push_back({{"name", c.name},
                               {"unit", c.unit},
                               {"reference", c.reference},
                               {"lower", std::isfinite(c.lower) ? json(c.lower) : json("-inf")},
                               {"upper", std::isfinite(c.upper) ? json(c.upper) : json("inf")},
                               {"required", c.required},
                               {"may_be_missing", c.may_be_missing},
                               {"description", c.description}});
  }
  j["covariate_formulas"] = s.covariate_formulas;
  for (const auto& o : s.observables) {
    j["observables"].push_back({{"name", o.name},
                                {"unit", o.unit},
                                {"description", o.description},
                                {"error_model", ToString(o.error.model)},
                                {"additive_sd", o.error.additive_sd},
                                {"proportional_sd", o.error.proportional_sd},
                                {"exponential_sd", o.error.exponential_sd}});
  }
  j["variability"] = {{"parameters", s.variability.parameters},
                      {"omega", s.variability.omega},
                      {"distribution", "log-normal: P = TV * exp(eta), eta ~ N(0, omega)"}};
  j["default_dose_cmt"] = s.default_dose_state + 1;
  return j;
}

void PrintText(const ModelSpec& s) {
  std::cout << s.name << ": " << s.title << "\n\n"
            << s.description << "\n\nSource: " << s.citation << "\nTime unit: " << s.time_unit
            << "\n\nStates (CMT number or name in datasets):\n";
  for (size_t i = 0; i < s.states.size(); ++i) {
    const auto& st = s.states[i];
    std::cout << "  " << std::setw(2) << i + 1 << "  " << std::left << std::setw(12) << st.name
              << std::right << " [" << st.unit << "]" << (st.dosable ? "" : " (not dosable)")
              << (static_cast<int>(i) == s.default_dose_state ? " (default dose target)" : "")
              << "  " << st.description << "\n";
  }
  std::cout << "\nParameters (override with --param NAME=VALUE):\n";
  for (const auto& p : s.parameters) {
    std::cout << "  " << std::left << std::setw(8) << p.name << std::right << std::setw(10)
              << p.typical << " " << std::left << std::setw(8) << p.unit << std::right << " "
              << p.description << (p.source.empty() ? "" : " [" + p.source + "]") << "\n";
  }
  const auto& v = s.variability;
  if (!v.parameters.empty()) {
    std::cout << "\nBetween-subject variability (log-normal, omega^2 and CV%):\n";
    for (size_t i = 0; i < v.parameters.size(); ++i) {
      const double w = v.omega[i * v.parameters.size() + i];
      std::cout << "  " << std::left << std::setw(8) << v.parameters[i] << std::right
                << " omega^2=" << w << " (" << std::setprecision(3) << CvPercent(w) << " %CV)"
                << std::setprecision(6) << "\n";
    }
  }
  if (!s.covariates.empty()) {
    std::cout << "\nCovariates (dataset columns; values carry backward (NOCB) by default):\n";
    for (const auto& c : s.covariates) {
      std::cout << "  " << std::left << std::setw(6) << c.name << std::right << " [" << c.unit
                << "] range " << c.lower << " to " << c.upper
                << (c.required ? ", required" : ", optional") << "  " << c.description << "\n";
    }
    for (const auto& f : s.covariate_formulas) std::cout << "  " << f << "\n";
  }
  std::cout << "\nObservables:\n";
  for (const auto& o : s.observables) {
    std::cout << "  " << o.name << " [" << o.unit << "] " << o.description << "; residual error "
              << ToString(o.error.model) << " (additive SD " << o.error.additive_sd
              << ", proportional " << o.error.proportional_sd << ", exponential "
              << o.error.exponential_sd << ")\n";
  }
  std::cout << "\nDataset columns: ID, TIME (" << s.time_unit
            << "), EVID, AMT, CMT, RATE, II, ADDL, SS, MDV, DV, the\n"
               "covariates above, and optionally Fn/ALAGn/Rn/Dn per compartment n. Example:\n"
               "  ID,TIME,EVID,AMT,CMT,RATE,II,ADDL\n  1,0,1,1000,"
            << s.default_dose_state + 1 << ",0,12,13\n  1,24,0,0,.,0,0,0\n";
}

int RunModel(const std::string& name, bool json) {
  auto model = LoadModel(name);
  if (!model.ok()) return Fail(model.status());
  if (json) {
    std::cout << SpecJson((*model)->spec()).dump(2) << "\n";
  } else {
    PrintText((*model)->spec());
  }
  return 0;
}

int RunModels() {
  for (const auto& name : ListModels()) {
    auto m = MakeModel(name);
    if (!m.ok()) return Fail(m.status());
    std::cout << std::left << std::setw(22) << name << std::right << (*m)->spec().title << "\n";
  }
  std::cout << "\nPD links (append to any PK model, e.g. pk2cmt+emax):";
  for (const auto& pd : ListPdLinks()) std::cout << " +" << pd;
  std::cout << "\n";
  return 0;
}

}  // namespace

void SetupModels(CLI::App& app, int* exit_code) {
  auto* list = app.add_subcommand("models", "List the built-in models");
  list->callback([exit_code] { *exit_code = RunModels(); });

  auto* show = app.add_subcommand("model", "Show a model: states, parameters, covariates, units");
  auto name = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  show->add_option("NAME", *name, "model name (see `medtwin models`)")->required();
  show->add_flag("--json", *json, "machine-readable output");
  show->callback([=] { *exit_code = RunModel(*name, *json); });
}

}  // namespace medtwin::cli
