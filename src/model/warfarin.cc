#include "model/warfarin.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "model/model_internal.h"

namespace medtwin {
namespace {

using internal::FormatNumber;
using internal::kPositiveLower;

// States, parameters, covariates and etas in spec order.
constexpr int kDepot = 0, kCentral = 1, kPeriph = 2, kChain1 = 3, kChain1Length = 6,
              kChain2 = kChain1 + kChain1Length;
constexpr int kCl = 0, kV1 = 1, kQ = 2, kV2 = 3, kKa = 4, kEc50 = 5, kEmax = 6, kGammaHill = 7,
              kMtt1 = 8, kMtt2 = 9, kLambda = 10, kInrMax = 11, kBase = 12;
constexpr int kAge = 0, kCyp2c9 = 1, kVkorc1 = 2, kInr0 = 3;
constexpr int kEtaCl = 0, kEtaV1 = 1, kEtaV2 = 2, kEtaMtt1 = 3, kEtaMtt2 = 4, kEtaEc50 = 5;

// Hamberg 2007 Table 2 (PK) and Table 4 (PD), DOMAIN.md sections 2.3 and 4.7.
constexpr double kReferenceAgeY = 71.0;
constexpr double kAgeSlopePerY = 0.0091;  // CL_S falls 0.91 % per year above 71
constexpr double kEc50GgMgPerL = 4.61, kEc50AgMgPerL = 3.02, kEc50AaMgPerL = 2.20;

// CYP2C9 genotype codes (two digits, lower allele first) and the reduction of CL_S vs *1/*1.
struct Cyp2c9Effect {
  int code;
  double reduction;
};
constexpr Cyp2c9Effect kCyp2c9Effects[] = {{11, 0.0},   {12, 0.315}, {13, 0.453},
                                           {22, 0.722}, {23, 0.690}, {33, 0.852}};
constexpr char kCyp2c9Codes[] =
    "11 (*1/*1), 12 (*1/*2), 13 (*1/*3), 22 (*2/*2), 23 (*2/*3) or 33 (*3/*3)";

constexpr char kTable2[] = "Hamberg 2007, Table 2";
constexpr char kTable4[] = "Hamberg 2007, Table 4";

ParameterSpec Param(std::string name, std::string unit, double typical, double lower, double upper,
                    std::string description, std::string source) {
  return ParameterSpec{std::move(name), std::move(unit),        typical,          lower,
                       upper,           std::move(description), std::move(source)};
}

std::vector<ParameterSpec> Parameters() {
  return {
      Param("CL", "L/h", 0.314, kPositiveLower, kInf,
            "apparent S-warfarin clearance, CYP2C9 *1/*1 at age 71", kTable2),
      Param("V1", "L", 13.8, kPositiveLower, kInf, "apparent central volume", kTable2),
      Param("Q", "L/h", 0.131, kPositiveLower, kInf, "apparent intercompartmental clearance",
            kTable2),
      Param("V2", "L", 6.59, kPositiveLower, kInf, "apparent peripheral volume", kTable2),
      Param("KA", "1/h", 2.0, kPositiveLower, kInf, "absorption rate constant (fixed)", kTable2),
      Param("EC50", "mg/L", kEc50GgMgPerL, kPositiveLower, kInf,
            "S-warfarin concentration at half-maximal inhibition, VKORC1 GG", kTable4),
      Param("EMAX", "1", 1.0, 0.0, 1.0, "maximal inhibition of clotting-factor synthesis (fixed)",
            kTable4),
      Param("GAMMA", "1", 0.424, kPositiveLower, kInf, "sigmoidicity of the inhibition", kTable4),
      Param("MTT1", "h", 11.6, kPositiveLower, kInf,
            "transit time of each of the 6 compartments of chain 1 (ktr1 = 1/MTT1)", kTable4),
      Param("MTT2", "h", 120.0, kPositiveLower, kInf, "transit time of chain 2 (1 compartment)",
            kTable4),
      Param("LAMBDA", "1", 3.61, kPositiveLower, kInf, "shape of the INR response", kTable4),
      Param("INRMAX", "1", 20.0, 0.0, kInf, "maximal INR rise above baseline (fixed)",
            "Hamberg 2007, Appendix (fixed)"),
      Param("BASE", "1", 1.0, 0.5, 5.0, "baseline INR; replaced by covariate INR0 when given",
            "normal INR; the paper uses each patient's pre-treatment INR"),
  };
}

std::vector<CovariateSpec> Covariates() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {
      {"AGE", "years", "age; CL_S changes by 0.91 % per year from age 71 (cohort 22-87 years)",
       kReferenceAgeY, true, false, 18.0, 100.0},
      {"CYP2C9", "code", std::string("CYP2C9 genotype: ") + kCyp2c9Codes, 11.0, true, false, 11.0,
       33.0},
      {"VKORC1", "count", "VKORC1 -1639G>A genotype as the number of A alleles: 0 GG, 1 GA, 2 AA",
       0.0, true, false, 0.0, 2.0},
      {"INR0", "1", "baseline (pre-treatment) INR; '.' or absent: parameter BASE", nan, false, true,
       0.5, 5.0},
  };
}

ModelSpec WarfarinSpec() {
  ModelSpec s;
  s.name = "warfarin_hamberg2007";
  s.title = "Warfarin (S-enantiomer) PK and INR with CYP2C9, VKORC1 and age";
  s.description =
      "S-warfarin two-compartment model with first-order oral absorption (Hamberg 2007); CL "
      "depends on CYP2C9 genotype and age. INR: inhibitory sigmoid Emax of S-warfarin on "
      "clotting-factor synthesis feeding two transit chains (6 compartments, MTT1 each; 1 "
      "compartment, MTT2); EC50 depends on VKORC1 -1639 genotype. States: 1 depot, 2 central, 3 "
      "periph (mg S-warfarin; a racemic dose holds half), 4-9 chain1_1..6, 10 chain2. Time in h.";
  s.citation =
      "Hamberg A-K, Dahl M-L, Barban M, Scordo MG, Wadelius M, Pengo V, Padrini R, Jonsson EN. A "
      "PK-PD model for predicting the impact of age, CYP2C9, and VKORC1 genotype on "
      "individualization of warfarin therapy. Clin Pharmacol Ther 2007;81(4):529-538. "
      "doi:10.1038/sj.clpt.6100084";
  s.states = {{"depot", "mg", "absorption depot (oral S-warfarin)", true},
              {"central", "mg", "central compartment", true},
              {"periph", "mg", "peripheral compartment", true}};
  for (int i = 1; i <= kChain1Length; ++i) {
    s.states.push_back({"chain1_" + std::to_string(i), "1",
                        "transit chain 1, compartment " + std::to_string(i), false});
  }
  s.states.push_back({"chain2", "1", "transit chain 2", false});
  s.parameters = Parameters();
  s.covariates = Covariates();
  s.observables = {{"CP", "mg/L", "S-warfarin plasma concentration (central / V1)",
                    ResidualError{ErrorModel::kExponential, 0.0, 0.0, 0.301}},
                   {"INR", "1", "international normalised ratio",
                    ResidualError{ErrorModel::kExponential, 0.0, 0.0, 0.0325}}};
  using internal::OmegaSquaredFromCv;
  s.variability = {{"CL", "V1", "V2", "MTT1", "MTT2", "EC50"},
                   internal::DiagonalOmega({OmegaSquaredFromCv(0.310), OmegaSquaredFromCv(0.262),
                                            OmegaSquaredFromCv(0.991), OmegaSquaredFromCv(0.141),
                                            OmegaSquaredFromCv(1.02), OmegaSquaredFromCv(0.409)})};
  s.covariate_formulas = {
      "CL = theta_CL * (1 - reduction[CYP2C9]) * (1 - 0.0091 * (AGE - 71)) * exp(eta_CL); "
      "reduction 0, 0.315, 0.453, 0.722, 0.690, 0.852 for 11, 12, 13, 22, 23, 33",
      "EC50 = theta_EC50 * (1, 3.02/4.61, 2.20/4.61 for VKORC1 0, 1, 2) * exp(eta_EC50)",
      "V1, V2, MTT1, MTT2 = theta * exp(eta); BASE = INR0 if given, else theta_BASE",
  };
  s.default_dose_state = kDepot;
  return s;
}

Result<double> Cyp2c9ClearanceFactor(const ModelSpec& spec, double code) {
  for (const Cyp2c9Effect& e : kCyp2c9Effects) {
    if (code == e.code) return 1.0 - e.reduction;
  }
  return Status::Invalid("model '" + spec.name + "': covariate CYP2C9=" + FormatNumber(code) +
                         " is not a CYP2C9 genotype code; expected " + kCyp2c9Codes);
}

Result<double> Vkorc1Ec50Factor(const ModelSpec& spec, double a_alleles) {
  if (a_alleles == 0.0) return 1.0;
  if (a_alleles == 1.0) return kEc50AgMgPerL / kEc50GgMgPerL;
  if (a_alleles == 2.0) return kEc50AaMgPerL / kEc50GgMgPerL;
  return Status::Invalid("model '" + spec.name + "': covariate VKORC1=" + FormatNumber(a_alleles) +
                         " is not a VKORC1 -1639 genotype; expected the number of A alleles: 0 "
                         "(GG), 1 (GA) or 2 (AA)");
}

class WarfarinHamberg2007 final : public Model {
 public:
  WarfarinHamberg2007() : Model(WarfarinSpec()) {}

  Status Individualize(std::span<const double> theta, std::span<const double> eta,
                       std::span<const double> covariates, std::span<double> out) const override {
    MEDTWIN_RETURN_IF_ERROR(internal::CheckIndividualizeSizes(spec(), theta, eta, covariates, out));
    MEDTWIN_RETURN_IF_ERROR(internal::CheckCovariates(spec(), covariates));
    const Result<double> cyp = Cyp2c9ClearanceFactor(spec(), covariates[kCyp2c9]);
    if (!cyp.ok()) return cyp.status();
    const Result<double> vkorc = Vkorc1Ec50Factor(spec(), covariates[kVkorc1]);
    if (!vkorc.ok()) return vkorc.status();

    auto eta_at = [&](int j) { return eta.empty() ? 0.0 : eta[j]; };
    std::copy(theta.begin(), theta.end(), out.begin());
    const double age_factor = 1.0 - kAgeSlopePerY * (covariates[kAge] - kReferenceAgeY);
    out[kCl] = theta[kCl] * *cyp * age_factor * std::exp(eta_at(kEtaCl));
    out[kV1] = theta[kV1] * std::exp(eta_at(kEtaV1));
    out[kV2] = theta[kV2] * std::exp(eta_at(kEtaV2));
    out[kMtt1] = theta[kMtt1] * std::exp(eta_at(kEtaMtt1));
    out[kMtt2] = theta[kMtt2] * std::exp(eta_at(kEtaMtt2));
    out[kEc50] = theta[kEc50] * *vkorc * std::exp(eta_at(kEtaEc50));
    if (!std::isnan(covariates[kInr0])) out[kBase] = covariates[kInr0];
    return internal::CheckIndividualParameters(spec(), out);
  }

  // No drug: clotting-factor activity at its normal level, 1, in every transit compartment.
  void InitialState(const double* p, double* x) const override {
    x[kDepot] = x[kCentral] = x[kPeriph] = 0.0;
    for (int i = kChain1; i <= kChain2; ++i) x[i] = 1.0;
  }

  void Rhs(double t, const double* x, const double* p, double* dxdt) const override {
    const double conc_mg_per_L = x[kCentral] / p[kV1];
    const double absorption_mg_per_h = p[kKa] * x[kDepot];
    const double flow_mg_per_h = p[kQ] * (conc_mg_per_L - x[kPeriph] / p[kV2]);
    dxdt[kDepot] = -absorption_mg_per_h;
    dxdt[kCentral] = absorption_mg_per_h - p[kCl] * conc_mg_per_L - flow_mg_per_h;
    dxdt[kPeriph] = flow_mg_per_h;
    // Hamberg 2007 Appendix: synthesis inhibited by E, transit with ktr = 1/MTT per compartment.
    const double synthesis = 1.0 - Inhibition(conc_mg_per_L, p);
    const double ktr1_per_h = 1.0 / p[kMtt1];
    dxdt[kChain1] = ktr1_per_h * (synthesis - x[kChain1]);
    for (int i = kChain1 + 1; i < kChain1 + kChain1Length; ++i) {
      dxdt[i] = ktr1_per_h * (x[i - 1] - x[i]);
    }
    dxdt[kChain2] = (synthesis - x[kChain2]) / p[kMtt2];
  }

  // INR = BASE + INRMAX * (1 - A6*A7)^LAMBDA (Appendix); the product is clamped to [0, 1] so
  // that solver round-off cannot give a negative base to the fractional power.
  void Observe(double t, const double* x, const double* p, double* y) const override {
    y[0] = x[kCentral] / p[kV1];
    const double activity = x[kChain1 + kChain1Length - 1] * x[kChain2];
    const double deficit = std::min(std::max(1.0 - activity, 0.0), 1.0);
    y[1] = p[kBase] + p[kInrMax] * std::pow(deficit, p[kLambda]);
  }

 private:
  // Emax*C^g/(EC50^g + C^g), written as Emax/(1 + (EC50/C)^g) for C > 0.
  static double Inhibition(double conc_mg_per_L, const double* p) {
    if (conc_mg_per_L <= 0.0) return 0.0;
    return p[kEmax] / (1.0 + std::pow(p[kEc50] / conc_mg_per_L, p[kGammaHill]));
  }
};

}  // namespace

std::unique_ptr<Model> MakeWarfarinHamberg2007() { return std::make_unique<WarfarinHamberg2007>(); }

}  // namespace medtwin
