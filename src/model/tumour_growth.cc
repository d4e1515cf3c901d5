#include "model/tumour_growth.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <string>

#include "model/model_internal.h"
#include "model/pd_models.h"

namespace medtwin {
namespace {

using internal::kPositiveLower;

// Tumour block: parameters and states in this order, in both the standalone model and the link.
constexpr int kLambda0 = 0, kLambda1 = 1, kK1 = 2, kK2 = 3, kW0 = 4, kPsi = 5;
constexpr int kNumTumourParams = 6;
constexpr int kCycling = 0;
constexpr int kNumTumourStates = 4;

// Standalone model: the drug concentration state first, then the tumour; KE after the tumour
// parameters.
constexpr int kDrug = 0, kFirstTumourState = 1, kKe = kNumTumourParams;

// Simeoni 2004, Table 2, paclitaxel experiment 1 (DOMAIN.md 4.5), in the paper's units.
constexpr double kLambda0PerDay = 0.273;
constexpr double kLambda1GPerDay = 0.814;
constexpr double kK1PerDay = 0.968;
constexpr double kK2MlPerNgPerDay = 0.000629;
constexpr double kPsiFixed = 20.0;     // fixed in the paper
constexpr double kW0G = 0.05;          // illustrative initial tumour weight
constexpr double kKePerDay = 10.0;     // illustrative exposure (half-life 1.7 h)
constexpr double kHoursPerDay = 24.0;  // the link's rate constants are per hour
constexpr double kNgPerMlPerMgPerL = 1000.0;

constexpr char kTable2[] = "Simeoni 2004, Table 2 (paclitaxel, experiment 1)";
constexpr char kCitation[] =
    "Simeoni M, Magni P, Cammia C, De Nicolao G, Croci V, Pesenti E, Germani M, Poggesi I, "
    "Rocchetti M. Predictive pharmacokinetic-pharmacodynamic modeling of tumor growth kinetics "
    "in xenograft models after administration of anticancer agents. Cancer Res "
    "2004;64(3):1094-1101. doi:10.1158/0008-5472.CAN-03-2524";

// Growth of the cycling cells: lambda0*x1 / [1 + (lambda0*w/lambda1)^psi]^(1/psi). For
// r = lambda0*w/lambda1 > 1 the denominator is written r*(1 + r^-psi)^(1/psi) so that r^psi
// cannot overflow; w below 0 (round-off) counts as 0.
double Growth(const double* par, double cycling, double total_weight) {
  const double r = par[kLambda0] * std::max(total_weight, 0.0) / par[kLambda1];
  const double psi = par[kPsi];
  const double denominator = r <= 1.0 ? std::pow(1.0 + std::pow(r, psi), 1.0 / psi)
                                      : r * std::pow(1.0 + std::pow(r, -psi), 1.0 / psi);
  return par[kLambda0] * cycling / denominator;
}

// Simeoni 2004 Eq. 1-4 (numbering of DOMAIN.md 4.5): cycling cells grow and are damaged at
// k2*c*x1; damaged cells pass through three compartments at k1 and die leaving the last.
void TumourRhs(const double* par, double conc, const double* x, double* dxdt) {
  const double total_weight = x[0] + x[1] + x[2] + x[3];
  const double damage = par[kK2] * std::max(conc, 0.0) * x[0];
  dxdt[0] = Growth(par, x[0], total_weight) - damage;
  dxdt[1] = damage - par[kK1] * x[1];
  dxdt[2] = par[kK1] * (x[1] - x[2]);
  dxdt[3] = par[kK1] * (x[2] - x[3]);
}

double TotalWeight(const double* x) { return x[0] + x[1] + x[2] + x[3]; }

ParameterSpec Param(std::string name, std::string unit, double typical, double lower, double upper,
                    std::string description, std::string source) {
  return ParameterSpec{std::move(name), std::move(unit),        typical,          lower,
                       upper,           std::move(description), std::move(source)};
}

// The tumour parameters with rate constants per `per_time` ("day" or "h"), K2 per `conc_unit`.
std::vector<ParameterSpec> TumourParameters(double time_scale, double conc_scale,
                                            const std::string& per_time,
                                            const std::string& conc_unit) {
  const std::string from = time_scale == 1.0 ? kTable2
                                             : std::string(kTable2) + ", converted to per " +
                                                   per_time + " and " + conc_unit;
  return {
      Param("LAMBDA0", "1/" + per_time, kLambda0PerDay / time_scale, kPositiveLower, kInf,
            "exponential growth rate constant", from),
      Param("LAMBDA1", "g/" + per_time, kLambda1GPerDay / time_scale, kPositiveLower, kInf,
            "linear growth rate", from),
      Param("K1", "1/" + per_time, kK1PerDay / time_scale, 0.0, kInf,
            "transit rate constant of damaged cells", from),
      Param("K2", "1/(" + per_time + "*" + conc_unit + ")",
            kK2MlPerNgPerDay * conc_scale / time_scale, 0.0, kInf,
            "drug potency: damage rate per unit concentration", from),
      Param("W0", "g", kW0G, kPositiveLower, kInf, "tumour weight at time 0 (all cycling)",
            "illustrative; the paper uses each animal's own"),
      Param("PSI", "1", kPsiFixed, 1.0, 1000.0, "sharpness of the exponential-to-linear switch",
            "fixed at 20 in Simeoni 2004"),
  };
}

std::vector<StateSpec> TumourStates() {
  return {{"cycling", "g", "proliferating tumour cells x1", false},
          {"damaged1", "g", "drug-damaged cells x2", false},
          {"damaged2", "g", "drug-damaged cells x3", false},
          {"damaged3", "g", "drug-damaged cells x4 (die at rate K1)", false}};
}

// Residual error is not given in the paper: 20 % proportional, illustrative.
ObservableSpec TumourObservable() {
  return {"TUMOR", "g", "total tumour weight x1 + x2 + x3 + x4",
          ResidualError{ErrorModel::kProportional, 0.0, 0.2, 0.0}};
}

ModelSpec StandaloneSpec() {
  ModelSpec s;
  s.name = "tgi_simeoni2004";
  s.title = "Tumour growth inhibition in xenografts (Simeoni 2004), one-compartment exposure";
  s.description =
      "Simeoni 2004 tumour growth inhibition model in the paper's units (time in days, tumour "
      "weight in g, drug concentration in ng/mL): exponential then linear growth of cycling "
      "cells, damage at K2*C, three transit compartments of damaged cells. The drug enters as a "
      "plasma concentration with first-order loss KE (state 1, a dose is a rise in ng/mL); to "
      "drive the tumour with a full PK model use MODEL+simeoni.";
  s.citation = kCitation;
  s.time_unit = "day";
  s.states = {{"drug", "ng/mL", "plasma drug concentration C", true}};
  for (StateSpec& st : TumourStates()) s.states.push_back(std::move(st));
  s.parameters = TumourParameters(1.0, 1.0, "day", "ng/mL");
  s.parameters.push_back(Param("KE", "1/day", kKePerDay, kPositiveLower, kInf,
                               "first-order loss of the drug concentration",
                               "illustrative exposure, not from the paper"));
  s.observables = {TumourObservable(),
                   {"C", "ng/mL", "plasma drug concentration",
                    ResidualError{ErrorModel::kProportional, 0.0, 0.1, 0.0}}};
  s.covariate_formulas = {"threshold concentration for tumour regression CT = LAMBDA0 / K2"};
  s.default_dose_state = kDrug;
  return s;
}

class TgiSimeoni2004 final : public Model {
 public:
  TgiSimeoni2004() : Model(StandaloneSpec()) {}

  void InitialState(const double* p, double* x) const override {
    std::fill(x, x + num_states(), 0.0);
    x[kFirstTumourState + kCycling] = p[kW0];
  }

  void Rhs(double t, const double* x, const double* p, double* dxdt) const override {
    dxdt[kDrug] = -p[kKe] * x[kDrug];
    TumourRhs(p, x[kDrug], x + kFirstTumourState, dxdt + kFirstTumourState);
  }

  void Observe(double t, const double* x, const double* p, double* y) const override {
    y[0] = TotalWeight(x + kFirstTumourState);
    y[1] = x[kDrug];
  }
};

ModelSpec LinkedSpec(const ModelSpec& pk) {
  ModelSpec s = pk;
  s.name = pk.name + "+simeoni";
  s.title = pk.title + ", with Simeoni 2004 tumour growth inhibition";
  s.description = pk.description +
                  " Tumour link (Simeoni 2004): cycling cells damaged at K2*CP, rate constants "
                  "per h and K2 per mg/L (converted from the paper's per day and ng/mL).";
  s.citation = pk.citation + "; tumour: " + kCitation;
  for (StateSpec& st : TumourStates()) s.states.push_back(std::move(st));
  for (ParameterSpec& p : TumourParameters(kHoursPerDay, kNgPerMlPerMgPerL, "h", "mg/L")) {
    s.parameters.push_back(std::move(p));
  }
  s.observables.push_back(TumourObservable());
  return s;
}

class SimeoniLinkedModel final : public PkLinkedModel {
 public:
  using PkLinkedModel::PkLinkedModel;

  void InitialState(const double* p, double* x) const override {
    pk_->InitialState(p, x);
    std::fill(x + n_pk_states_, x + n_pk_states_ + kNumTumourStates, 0.0);
    x[n_pk_states_ + kCycling] = p[n_pk_params_ + kW0];
  }

  void Rhs(double t, const double* x, const double* p, double* dxdt) const override {
    pk_->Rhs(t, x, p, dxdt);
    TumourRhs(p + n_pk_params_, PkConcentration(t, x, p), x + n_pk_states_, dxdt + n_pk_states_);
  }

  void Observe(double t, const double* x, const double* p, double* y) const override {
    pk_->Observe(t, x, p, y);
    y[n_pk_observables_] = TotalWeight(x + n_pk_states_);
  }
};

}  // namespace

std::unique_ptr<Model> MakeTgiSimeoni2004() { return std::make_unique<TgiSimeoni2004>(); }

Result<std::unique_ptr<Model>> MakeSimeoniLinkedModel(std::unique_ptr<Model> pk) {
  if (!pk) return Status::Internal("MakeSimeoniLinkedModel: no PK model");
  const Result<int> cp_index = PlasmaConcentrationIndex(*pk, "simeoni");
  if (!cp_index.ok()) return cp_index.status();
  if (pk->spec().time_unit != "h") {
    return Status::Unsupported("model '" + pk->spec().name + "' has time in '" +
                               pk->spec().time_unit +
                               "'; the simeoni link's rate constants are per h");
  }
  ModelSpec spec = LinkedSpec(pk->spec());
  MEDTWIN_RETURN_IF_ERROR(spec.Validate());
  std::unique_ptr<Model> linked =
      std::make_unique<SimeoniLinkedModel>(std::move(spec), std::move(pk), *cp_index);
  return linked;
}

}  // namespace medtwin
