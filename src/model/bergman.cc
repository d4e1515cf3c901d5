#include "model/bergman.h"

#include <algorithm>
#include <string>

#include "model/model_internal.h"

namespace medtwin {
namespace {

using internal::kPositiveLower;

// States, parameters and etas in spec order.
constexpr int kGlucose = 0, kAction = 1, kInsulin = 2;
constexpr int kGb = 0, kIb = 1, kP1 = 2, kP2 = 3, kP3 = 4, kN = 5, kH = 6, kGamma = 7;

// The worked example of the MINMOD program (Pacini & Bergman 1986), as restated in secondary
// sources (docs/models/bergman_minimal.md, "Parameters"); not checked against the primary text.
constexpr char kMinmodSource[] =
    "Pacini & Bergman 1986 (MINMOD example subject), via secondary sources; unverified";
constexpr double kGbMgPerDl = 92.0;
constexpr double kIbMicroUPerMl = 7.3;
constexpr double kP1PerMin = 0.03082;
constexpr double kP2PerMin = 0.02093;
constexpr double kP3Typical = 1.062e-5;  // 1/min^2 per uU/mL
constexpr double kNPerMin = 0.3;
constexpr double kHMgPerDl = 89.5;
constexpr double kGammaTypical = 0.003349;  // (uU/mL)/(mg/dL)/min^2

// Between-subject variability from the normal-subject means and SDs reported with the minimal
// model (DOMAIN.md 4.2, unverified): SG 0.021 +- 0.008 1/min (CV 38 %), SI 2.62 +- 2.21
// x1e-4 (CV 84 %). SI = P3/P2 with P2 fixed, so the SI spread is put on P3.
constexpr double kCvP1 = 0.008 / 0.021;
constexpr double kCvP3 = 2.21 / 2.62;

ParameterSpec Param(std::string name, std::string unit, double typical, double lower,
                    std::string description) {
  return ParameterSpec{std::move(name),        std::move(unit), typical, lower, kInf,
                       std::move(description), kMinmodSource};
}

ModelSpec BergmanSpec() {
  ModelSpec s;
  s.name = "bergman_minimal";
  s.title = "Bergman minimal model of glucose and insulin kinetics (IVGTT)";
  s.description =
      "Minimal model of glucose disappearance (Bergman 1979) coupled with the minimal model of "
      "insulin kinetics (Toffolo 1980; Bergman 1981) for the intravenous glucose tolerance test. "
      "States: 1 glucose G (mg/dL), 2 action X (remote insulin action, 1/min), 3 insulin I "
      "(uU/mL). Time in min; TIME 0 is the glucose injection (insulin secretion grows with "
      "time since it). Starts at the basal state (GB, 0, IB); doses are rises in concentration "
      "(glucose in mg/dL, insulin in uU/mL). SG = P1, SI = P3/P2.";
  s.citation =
      "Bergman RN, Ider YZ, Bowden CR, Cobelli C. Quantitative estimation of insulin "
      "sensitivity. Am J Physiol 1979;236(6):E667-E677. doi:10.1152/ajpendo.1979.236.6.E667; "
      "Toffolo G, Bergman RN, Finegood DT, Bowden CR, Cobelli C. Quantitative estimation of beta "
      "cell sensitivity to glucose in the intact organism: a minimal model of insulin kinetics "
      "in the dog. Diabetes 1980;29(12):979-990. doi:10.2337/diab.29.12.979; Pacini G, Bergman "
      "RN. MINMOD: a computer program to calculate insulin sensitivity and pancreatic "
      "responsivity from the frequently sampled intravenous glucose tolerance test. Comput "
      "Methods Programs Biomed 1986;23(2):113-122. doi:10.1016/0169-2607(86)90106-9";
  s.time_unit = "min";
  s.states = {{"glucose", "mg/dL", "plasma glucose concentration G", true},
              {"action", "1/min", "remote insulin action X (not dosable)", false},
              {"insulin", "uU/mL", "plasma insulin concentration I", true}};
  s.parameters = {
      Param("GB", "mg/dL", kGbMgPerDl, kPositiveLower, "basal (pre-injection) glucose"),
      Param("IB", "uU/mL", kIbMicroUPerMl, 0.0, "basal (pre-injection) insulin"),
      Param("P1", "1/min", kP1PerMin, 0.0,
            "glucose effectiveness SG: insulin-independent fractional glucose disappearance"),
      Param("P2", "1/min", kP2PerMin, kPositiveLower, "rate constant of remote insulin action"),
      Param("P3", "1/min^2 per uU/mL", kP3Typical, 0.0, "insulin-dependent increase of X"),
      Param("N", "1/min", kNPerMin, kPositiveLower, "fractional insulin disappearance"),
      Param("H", "mg/dL", kHMgPerDl, 0.0, "glucose threshold of insulin secretion"),
      Param("GAMMA", "(uU/mL)/(mg/dL)/min^2", kGammaTypical, 0.0,
            "second-phase pancreatic responsivity: secretion per mg/dL above H per min since "
            "injection")};
  s.observables = {
      {"G", "mg/dL", "plasma glucose", ResidualError{ErrorModel::kProportional, 0.0, 0.02, 0.0}},
      {"I", "uU/mL", "plasma insulin", ResidualError{ErrorModel::kProportional, 0.0, 0.05, 0.0}},
      {"X", "1/min", "remote insulin action (not measured)",
       ResidualError{ErrorModel::kAdditive, 0.0, 0.0, 0.0}}};
  s.variability = {{"P1", "P3"},
                   internal::DiagonalOmega(
                       {internal::OmegaSquaredFromCv(kCvP1), internal::OmegaSquaredFromCv(kCvP3)})};
  s.covariate_formulas = {"SG = P1", "SI = P3 / P2"};
  s.default_dose_state = kGlucose;
  return s;
}

class BergmanMinimal final : public Model {
 public:
  BergmanMinimal() : Model(BergmanSpec()) {}

  void InitialState(const double* p, double* x) const override {
    x[kGlucose] = p[kGb];
    x[kAction] = 0.0;
    x[kInsulin] = p[kIb];
  }

  // Bergman 1979 (glucose, X) and Toffolo 1980 (insulin). The insulin equation is written
  // around IB so that the basal state is a steady state when GB <= H (see the methodology page).
  void Rhs(double t, const double* x, const double* p, double* dxdt) const override {
    const double g = x[kGlucose], action = x[kAction], insulin = x[kInsulin];
    dxdt[kGlucose] = -(p[kP1] + action) * g + p[kP1] * p[kGb];
    dxdt[kAction] = -p[kP2] * action + p[kP3] * (insulin - p[kIb]);
    const double secretion = p[kGamma] * std::max(g - p[kH], 0.0) * std::max(t, 0.0);
    dxdt[kInsulin] = -p[kN] * (insulin - p[kIb]) + secretion;
  }

  void Observe(double t, const double* x, const double* p, double* y) const override {
    y[0] = x[kGlucose];
    y[1] = x[kInsulin];
    y[2] = x[kAction];
  }
};

}  // namespace

std::unique_ptr<Model> MakeBergmanMinimal() { return std::make_unique<BergmanMinimal>(); }

double GlucoseEffectiveness(const double* p) { return p[kP1]; }
double InsulinSensitivity(const double* p) { return p[kP3] / p[kP2]; }

}  // namespace medtwin
