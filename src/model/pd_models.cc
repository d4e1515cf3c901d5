#include "model/pd_models.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>

#include "model/model_internal.h"
#include "model/tumour_growth.h"

namespace medtwin {
namespace {

using internal::kPositiveLower;

constexpr PdLink kAllLinks[] = {PdLink::kEmax, PdLink::kIrm1, PdLink::kIrm2,
                                PdLink::kIrm3, PdLink::kIrm4, PdLink::kSimeoni};

// PD parameters follow the PK parameters; offsets within the PD block.
constexpr int kE0 = 0, kEmax = 1, kEc50 = 2, kHill = 3;       // direct Emax
constexpr int kKin = 0, kKout = 1, kMaxEffect = 2, kC50 = 3;  // IRM: IMAX/SMAX, IC50/SC50

constexpr char kIllustrative[] = "illustrative";
constexpr char kHolford[] =
    "Holford NHG, Sheiner LB. Understanding the dose-effect relationship: clinical application "
    "of pharmacokinetic-pharmacodynamic models. Clin Pharmacokinet 1981;6(6):429-453";
constexpr char kDayneka[] =
    "Dayneka NL, Garg V, Jusko WJ. Comparison of four basic models of indirect pharmacodynamic "
    "responses. J Pharmacokinet Biopharm 1993;21(4):457-478";

bool IsInhibitory(PdLink link) { return link == PdLink::kIrm1 || link == PdLink::kIrm2; }

ParameterSpec PdParam(std::string name, std::string unit, double typical, double lower,
                      double upper, std::string description) {
  return ParameterSpec{std::move(name), std::move(unit),        typical,      lower,
                       upper,           std::move(description), kIllustrative};
}

std::vector<ParameterSpec> PdParameters(PdLink link) {
  if (link == PdLink::kEmax) {
    return {PdParam("E0", "unit", 0.0, -kInf, kInf, "effect without drug"),
            PdParam("EMAX", "unit", 1.0, -kInf, kInf, "maximum drug effect (< 0: inhibition)"),
            PdParam("EC50", "mg/L", 5.0, kPositiveLower, kInf, "CP at half-maximal effect"),
            PdParam("HILL", "1", 1.0, kPositiveLower, kInf, "Hill coefficient (sigmoidicity)")};
  }
  std::vector<ParameterSpec> p = {
      PdParam("KIN", "unit/h", 10.0, kPositiveLower, kInf, "zero-order production rate of R"),
      PdParam("KOUT", "1/h", 0.1, kPositiveLower, kInf, "first-order loss rate constant of R")};
  if (IsInhibitory(link)) {
    // IMAX <= 1 keeps the inhibited rate non-negative.
    p.push_back(PdParam("IMAX", "1", 1.0, 0.0, 1.0, "maximum fractional inhibition"));
    p.push_back(
        PdParam("IC50", "mg/L", 5.0, kPositiveLower, kInf, "CP at half-maximal inhibition"));
  } else {
    p.push_back(PdParam("SMAX", "1", 1.0, 0.0, kInf, "maximum fractional stimulation"));
    p.push_back(
        PdParam("SC50", "mg/L", 5.0, kPositiveLower, kInf, "CP at half-maximal stimulation"));
  }
  return p;
}

const char* LinkDescription(PdLink link) {
  switch (link) {
    case PdLink::kEmax:
      return "direct sigmoid Emax: EFFECT = E0 + EMAX*C^HILL/(EC50^HILL + C^HILL), C = CP.";
    case PdLink::kIrm1:
      return "indirect response I (inhibition of production): dR/dt = KIN*(1 - IMAX*C/(IC50 + C)) "
             "- KOUT*R, R(0) = KIN/KOUT, C = CP.";
    case PdLink::kIrm2:
      return "indirect response II (inhibition of loss): dR/dt = KIN - KOUT*(1 - IMAX*C/(IC50 + "
             "C))*R, R(0) = KIN/KOUT, C = CP.";
    case PdLink::kIrm3:
      return "indirect response III (stimulation of production): dR/dt = KIN*(1 + SMAX*C/(SC50 + "
             "C)) - KOUT*R, R(0) = KIN/KOUT, C = CP.";
    case PdLink::kIrm4:
      return "indirect response IV (stimulation of loss): dR/dt = KIN - KOUT*(1 + SMAX*C/(SC50 + "
             "C))*R, R(0) = KIN/KOUT, C = CP.";
    case PdLink::kSimeoni:
      break;  // built by MakeSimeoniLinkedModel
  }
  return "";
}

// Illustrative residual error: 0.01 response units additive plus 10 % proportional.
ObservableSpec PdObservable(PdLink link) {
  const ResidualError error{ErrorModel::kCombined, 0.01, 0.1, 0.0};
  if (link == PdLink::kEmax) return {"EFFECT", "unit", "direct drug effect", error};
  return {"RESPONSE", "unit", "indirect response R", error};
}

ModelSpec PdLinkedSpec(const ModelSpec& pk, PdLink link) {
  ModelSpec s = pk;
  s.name = pk.name + "+" + ToString(link);
  s.title = pk.title + ", with " + (link == PdLink::kEmax ? "direct Emax" : "indirect response") +
            " PD (" + ToString(link) + ")";
  s.description = pk.description + " PD link, " + LinkDescription(link) +
                  " PD typical values illustrative, set your own with --param.";
  s.citation = pk.citation + "; PD: " + (link == PdLink::kEmax ? kHolford : kDayneka);
  if (link != PdLink::kEmax) {
    s.states.push_back({"response", "unit", "indirect response R (starts at KIN/KOUT)", false});
  }
  for (ParameterSpec& p : PdParameters(link)) s.parameters.push_back(std::move(p));
  s.observables.push_back(PdObservable(link));
  return s;
}

// Fraction of the maximal effect at concentration C: C^h/(c50^h + C^h), written as
// 1/(1 + (c50/C)^h) so that large h does not overflow to inf/inf.
double HillFraction(double conc_mg_per_L, double c50_mg_per_L, double hill) {
  if (conc_mg_per_L <= 0.0) return 0.0;
  return 1.0 / (1.0 + std::pow(c50_mg_per_L / conc_mg_per_L, hill));
}

class PdLinkedModel final : public PkLinkedModel {
 public:
  PdLinkedModel(ModelSpec spec, std::unique_ptr<Model> pk, PdLink link, int cp_index)
      : PkLinkedModel(std::move(spec), std::move(pk), cp_index), link_(link) {}

  void InitialState(const double* p, double* x) const override {
    pk_->InitialState(p, x);
    if (link_ == PdLink::kEmax) return;
    const double* pd = p + n_pk_params_;
    x[n_pk_states_] = pd[kKin] / pd[kKout];  // baseline steady state without drug
  }

  void Rhs(double t, const double* x, const double* p, double* dxdt) const override {
    pk_->Rhs(t, x, p, dxdt);
    if (link_ == PdLink::kEmax) return;
    const double* pd = p + n_pk_params_;
    const double conc_mg_per_L = PkConcentration(t, x, p);
    const double drug = pd[kMaxEffect] * conc_mg_per_L / (pd[kC50] + conc_mg_per_L);
    const double r = x[n_pk_states_];
    double& dr = dxdt[n_pk_states_];
    switch (link_) {
      case PdLink::kIrm1:
        dr = pd[kKin] * (1.0 - drug) - pd[kKout] * r;
        break;
      case PdLink::kIrm2:
        dr = pd[kKin] - pd[kKout] * (1.0 - drug) * r;
        break;
      case PdLink::kIrm3:
        dr = pd[kKin] * (1.0 + drug) - pd[kKout] * r;
        break;
      case PdLink::kIrm4:
        dr = pd[kKin] - pd[kKout] * (1.0 + drug) * r;
        break;
      case PdLink::kEmax:
      case PdLink::kSimeoni:
        break;
    }
  }

  void Observe(double t, const double* x, const double* p, double* y) const override {
    pk_->Observe(t, x, p, y);
    if (link_ != PdLink::kEmax) {
      y[n_pk_observables_] = x[n_pk_states_];
      return;
    }
    const double* pd = p + n_pk_params_;
    const double conc_mg_per_L = std::max(y[cp_index_], 0.0);
    y[n_pk_observables_] = pd[kE0] + pd[kEmax] * HillFraction(conc_mg_per_L, pd[kEc50], pd[kHill]);
  }

  // Direct Emax adds no state, so the dynamics are the PK model's; IRMs are nonlinear in C.
  bool LinearMatrix(const double* p, double* a) const override {
    return link_ == PdLink::kEmax && pk_->LinearMatrix(p, a);
  }

 private:
  // CP from the PK model. Negative values (solver round-off near zero) are treated as 0 so the
  // saturable terms stay bounded and non-integer Hill powers stay real.
  double PkConcentration(double t, const double* x, const double* p) const {
    return std::max(PkLinkedModel::PkConcentration(t, x, p), 0.0);
  }

  PdLink link_;
};

}  // namespace

PkLinkedModel::PkLinkedModel(ModelSpec spec, std::unique_ptr<Model> pk, int cp_index)
    : Model(std::move(spec)),
      pk_(std::move(pk)),
      cp_index_(cp_index),
      n_pk_states_(pk_->num_states()),
      n_pk_params_(pk_->num_parameters()),
      n_pk_observables_(pk_->num_observables()) {
  assert(n_pk_observables_ <= kMaxPkObservables);
}

Status PkLinkedModel::Individualize(std::span<const double> theta, std::span<const double> eta,
                                    std::span<const double> covariates,
                                    std::span<double> out) const {
  MEDTWIN_RETURN_IF_ERROR(internal::CheckIndividualizeSizes(spec(), theta, eta, covariates, out));
  // The variability and the covariates are the PK model's; appended parameters have no IIV.
  MEDTWIN_RETURN_IF_ERROR(
      pk_->Individualize(theta.first(n_pk_params_), eta, covariates, out.first(n_pk_params_)));
  std::copy(theta.begin() + n_pk_params_, theta.end(), out.begin() + n_pk_params_);
  return internal::CheckIndividualParameters(spec(), out);
}

double PkLinkedModel::PkConcentration(double t, const double* x, const double* p) const {
  std::array<double, kMaxPkObservables> y;
  pk_->Observe(t, x, p, y.data());
  return y[cp_index_];
}

const char* ToString(PdLink link) {
  switch (link) {
    case PdLink::kEmax:
      return "emax";
    case PdLink::kIrm1:
      return "irm1";
    case PdLink::kIrm2:
      return "irm2";
    case PdLink::kIrm3:
      return "irm3";
    case PdLink::kIrm4:
      return "irm4";
    case PdLink::kSimeoni:
      return "simeoni";
  }
  return "unknown";
}

Result<PdLink> PdLinkFromString(const std::string& name) {
  for (PdLink link : kAllLinks) {
    if (internal::EqualsIgnoreCase(name, ToString(link))) return link;
  }
  return Status::NotFound("unknown PD link '" + name +
                          "'; known links: emax, irm1, irm2, irm3, irm4, simeoni");
}

Result<int> PlasmaConcentrationIndex(const Model& pk, const std::string& link) {
  const ModelSpec& pk_spec = pk.spec();
  const int cp_index = pk_spec.ObservableIndex("CP");
  if (cp_index < 0) {
    return Status::Unsupported("model '" + pk_spec.name + "' has no observable CP to link " + link +
                               " to");
  }
  if (pk_spec.observables[cp_index].unit != "mg/L") {
    return Status::Unsupported("model '" + pk_spec.name + "': CP is in " +
                               pk_spec.observables[cp_index].unit + " but PD links expect mg/L");
  }
  if (pk.num_observables() > kMaxPkObservables) {
    return Status::Unsupported(
        "model '" + pk_spec.name + "' has " + std::to_string(pk.num_observables()) +
        " observables; PD links support at most " + std::to_string(kMaxPkObservables));
  }
  return cp_index;
}

Result<std::unique_ptr<Model>> MakePdLinkedModel(std::unique_ptr<Model> pk, PdLink link) {
  if (!pk) return Status::Internal("MakePdLinkedModel: no PK model");
  if (link == PdLink::kSimeoni) return MakeSimeoniLinkedModel(std::move(pk));
  const Result<int> cp_index = PlasmaConcentrationIndex(*pk, ToString(link));
  if (!cp_index.ok()) return cp_index.status();
  ModelSpec spec = PdLinkedSpec(pk->spec(), link);
  MEDTWIN_RETURN_IF_ERROR(spec.Validate());
  std::unique_ptr<Model> linked =
      std::make_unique<PdLinkedModel>(std::move(spec), std::move(pk), link, *cp_index);
  return linked;
}

}  // namespace medtwin
