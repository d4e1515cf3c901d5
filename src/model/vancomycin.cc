#include "model/vancomycin.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "model/model_internal.h"

namespace medtwin {
namespace {

using internal::FormatNumber;
using internal::kPositiveLower;

// States (ADVAN3 numbering), parameters, covariates and etas in spec order.
constexpr int kCentral = 0, kPeriph = 1;
constexpr int kCl = 0, kV1 = 1, kV2 = 2, kQ = 3;
constexpr int kWt = 0, kAge = 1, kSex = 2, kScr = 3, kDial = 4, kCrcl = 5;
constexpr int kEtaCl = 0, kEtaV1 = 1, kEtaV2 = 2;

// Goti 2018 Table 2, final model (DOMAIN.md section 2.1).
constexpr double kTypicalClLPerH = 4.5;  // at CrCL 120 mL/min, no dialysis
constexpr double kTypicalV1L = 58.4;     // at 70 kg, no dialysis
constexpr double kTypicalV2L = 38.4;     // at 70 kg
constexpr double kTypicalQLPerH = 6.5;
constexpr double kCrclExponent = 0.8;
constexpr double kDialysisClFactor = 0.7;
constexpr double kDialysisV1Factor = 0.5;
constexpr double kCvCl = 0.398, kCvV1 = 0.816, kCvV2 = 0.571;  // IIV, fraction
constexpr double kAdditiveSdMgPerL = 3.4;
constexpr double kProportionalSd = 0.227;

// Covariate references and the CrCL preprocessing of Goti 2018 Methods: Cockcroft-Gault values
// above 150 mL/min truncated to 150; for age > 60 years SCr below 1 mg/dL raised to 1.
constexpr double kReferenceCrclMlPerMin = 120.0;
constexpr double kReferenceWeightKg = 70.0;
constexpr double kCrclCapMlPerMin = 150.0;
constexpr double kScrFloorAgeY = 60.0;
constexpr double kScrFloorMgPerDl = 1.0;
constexpr double kCockcroftGaultFemaleFactor = 0.85;

ParameterSpec Param(std::string name, std::string unit, double typical, std::string description) {
  return ParameterSpec{std::move(name),
                       std::move(unit),
                       typical,
                       kPositiveLower,
                       kInf,
                       std::move(description),
                       "Goti 2018, Table 2 (final model)"};
}

std::vector<CovariateSpec> Covariates() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {
      {"WT", "kg", "total body weight (Cockcroft-Gault and volume scaling)", 70.0, true, false, 0.5,
       400.0},
      {"AGE", "years", "age (Cockcroft-Gault); the model was developed in adults", 50.0, true,
       false, 0.0, 120.0},
      {"SEX", "1", "0 male, 1 female (Cockcroft-Gault factor 0.85)", 0.0, true, false, 0.0, 1.0},
      {"SCR", "mg/dL", "serum creatinine (Cockcroft-Gault)", 1.0, true, false, 0.05, 20.0},
      {"DIAL", "1", "1 if on intermittent haemodialysis, else 0", 0.0, false, false, 0.0, 1.0},
      {"CRCL", "mL/min",
       "creatinine clearance supplied by the user; replaces Cockcroft-Gault when given (still "
       "capped at 150 mL/min)",
       nan, false, true, 0.0, kInf},
  };
}

ModelSpec GotiSpec() {
  ModelSpec s;
  s.name = "vancomycin_goti2018";
  s.title = "Vancomycin, 2-compartment IV, hospitalised adults with/without haemodialysis";
  s.description =
      "Two-compartment model for intravenous vancomycin (Goti 2018). States (NONMEM ADVAN3 "
      "numbering): 1 central, 2 periph; doses go to the central compartment. CL depends on "
      "Cockcroft-Gault creatinine clearance (or a supplied CRCL) and haemodialysis; V1 on weight "
      "and haemodialysis; V2 on weight. Developed in adults (over 16 years).";
  s.citation =
      "Goti V, Chaturvedula A, Fossler MJ, Mok S, Jacob JT. Hospitalized patients with and "
      "without hemodialysis have markedly different vancomycin pharmacokinetics: a population "
      "pharmacokinetic model-based analysis. Ther Drug Monit 2018;40(2):212-221. "
      "doi:10.1097/FTD.0000000000000490";
  s.states = {{"central", "mg", "central compartment", true},
              {"periph", "mg", "peripheral compartment", true}};
  s.parameters = {Param("CL", "L/h", kTypicalClLPerH, "clearance at CrCL 120 mL/min, no dialysis"),
                  Param("V1", "L", kTypicalV1L, "central volume at 70 kg, no dialysis"),
                  Param("V2", "L", kTypicalV2L, "peripheral volume at 70 kg"),
                  Param("Q", "L/h", kTypicalQLPerH, "intercompartmental clearance")};
  s.covariates = Covariates();
  s.observables = {{"CP", "mg/L", "serum vancomycin concentration (central / V1)",
                    ResidualError{ErrorModel::kCombined, kAdditiveSdMgPerL, kProportionalSd, 0.0}}};
  s.variability = {{"CL", "V1", "V2"},
                   internal::DiagonalOmega({internal::OmegaSquaredFromCv(kCvCl),
                                            internal::OmegaSquaredFromCv(kCvV1),
                                            internal::OmegaSquaredFromCv(kCvV2)})};
  s.covariate_formulas = {
      "CrCL [mL/min] = CRCL if given, else Cockcroft-Gault (140 - AGE) * WT / (72 * SCR) * "
      "(0.85 if SEX = 1), with SCR raised to 1 mg/dL when AGE > 60; then capped at 150",
      "CL = theta_CL * (CrCL / 120)^0.8 * 0.7^DIAL * exp(eta_CL)",
      "V1 = theta_V1 * (WT / 70) * 0.5^DIAL * exp(eta_V1)",
      "V2 = theta_V2 * (WT / 70) * exp(eta_V2)",
      "Q = theta_Q",
  };
  s.default_dose_state = kCentral;
  return s;
}

Status CheckBinary(const ModelSpec& spec, std::span<const double> covariates, int index,
                   const char* expected) {
  const double v = covariates[index];
  if (v == 0.0 || v == 1.0) return Status::Ok();
  return Status::Invalid("model '" + spec.name + "': covariate " + spec.covariates[index].name +
                         "=" + FormatNumber(v) + " must be " + expected);
}

// CrCL in mL/min, after the covariate range checks. A supplied CRCL is capped like the
// Cockcroft-Gault value so the model is never extrapolated beyond the range it was fitted on.
Result<double> CreatinineClearanceMlPerMin(const ModelSpec& spec,
                                           std::span<const double> covariates) {
  double crcl_ml_per_min = covariates[kCrcl];
  if (std::isnan(crcl_ml_per_min)) {
    const double age_y = covariates[kAge];
    const double scr_mg_per_dL =
        age_y > kScrFloorAgeY ? std::max(covariates[kScr], kScrFloorMgPerDl) : covariates[kScr];
    const double sex_factor = covariates[kSex] == 1.0 ? kCockcroftGaultFemaleFactor : 1.0;
    crcl_ml_per_min = (140.0 - age_y) * covariates[kWt] / (72.0 * scr_mg_per_dL) * sex_factor;
  }
  if (!(crcl_ml_per_min > 0.0)) {
    return Status::Invalid("model '" + spec.name + "': creatinine clearance " +
                           FormatNumber(crcl_ml_per_min) + " mL/min must be > 0");
  }
  return std::min(crcl_ml_per_min, kCrclCapMlPerMin);
}

class VancomycinGoti2018 final : public Model {
 public:
  VancomycinGoti2018() : Model(GotiSpec()) {}

  Status Individualize(std::span<const double> theta, std::span<const double> eta,
                       std::span<const double> covariates, std::span<double> out) const override {
    MEDTWIN_RETURN_IF_ERROR(internal::CheckIndividualizeSizes(spec(), theta, eta, covariates, out));
    MEDTWIN_RETURN_IF_ERROR(internal::CheckCovariates(spec(), covariates));
    MEDTWIN_RETURN_IF_ERROR(CheckBinary(spec(), covariates, kSex, "0 (male) or 1 (female)"));
    MEDTWIN_RETURN_IF_ERROR(CheckBinary(spec(), covariates, kDial, "0 or 1 (haemodialysis)"));
    const Result<double> crcl_ml_per_min = CreatinineClearanceMlPerMin(spec(), covariates);
    if (!crcl_ml_per_min.ok()) return crcl_ml_per_min.status();

    auto eta_at = [&](int j) { return eta.empty() ? 0.0 : eta[j]; };
    const bool dialysis = covariates[kDial] == 1.0;
    const double weight_ratio = covariates[kWt] / kReferenceWeightKg;
    out[kCl] = theta[kCl] * std::pow(*crcl_ml_per_min / kReferenceCrclMlPerMin, kCrclExponent) *
               (dialysis ? kDialysisClFactor : 1.0) * std::exp(eta_at(kEtaCl));
    out[kV1] =
        theta[kV1] * weight_ratio * (dialysis ? kDialysisV1Factor : 1.0) * std::exp(eta_at(kEtaV1));
    out[kV2] = theta[kV2] * weight_ratio * std::exp(eta_at(kEtaV2));
    out[kQ] = theta[kQ];
    return internal::CheckIndividualParameters(spec(), out);
  }

  void Rhs(double t, const double* x, const double* p, double* dxdt) const override {
    const double conc_mg_per_L = x[kCentral] / p[kV1];
    const double elimination_mg_per_h = p[kCl] * conc_mg_per_L;
    const double flow_mg_per_h = p[kQ] * (conc_mg_per_L - x[kPeriph] / p[kV2]);
    dxdt[kCentral] = -elimination_mg_per_h - flow_mg_per_h;
    dxdt[kPeriph] = flow_mg_per_h;
  }

  void Observe(double t, const double* x, const double* p, double* y) const override {
    y[0] = x[kCentral] / p[kV1];
  }

  bool LinearMatrix(const double* p, double* a) const override {
    a[0] = -(p[kCl] + p[kQ]) / p[kV1];
    a[1] = p[kQ] / p[kV2];
    a[2] = p[kQ] / p[kV1];
    a[3] = -p[kQ] / p[kV2];
    return true;
  }
};

}  // namespace

std::unique_ptr<Model> MakeVancomycinGoti2018() { return std::make_unique<VancomycinGoti2018>(); }

}  // namespace medtwin
