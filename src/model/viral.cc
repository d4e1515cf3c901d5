#include "model/viral.h"

#include <cmath>
#include <string>

#include "model/model_internal.h"

namespace medtwin {
namespace {

using internal::kPositiveLower;

constexpr int kTarget = 0, kEclipse = 1, kInfected = 2, kVirus = 3;
constexpr int kT0 = 0, kV0 = 1, kBeta = 2, kK = 3, kDelta = 4, kP = 5, kC = 6, kEpsBeta = 7,
              kEpsP = 8, kTrx = 9;

// Baccam 2006 (abstract): eclipse ~6 h, virus production ~5 h, free-virus half-life ~3 h,
// R0 ~22. The rate constants follow from the durations; BETA is of the order of the paper's fits
// and P is set so that R0 = 22 with T0 = 4e8 cells (see the methodology page).
constexpr double kHoursPerDay = 24.0;
constexpr double kKPerDay = kHoursPerDay / 6.0;
constexpr double kDeltaPerDay = kHoursPerDay / 5.0;
constexpr double kCPerDay = kHoursPerDay * 0.69314718055994531 / 3.0;
constexpr double kT0Cells = 4e8;
constexpr double kR0 = 22.0;
constexpr double kBetaTypical = 2.7e-5;  // (TCID50/mL)^-1 day^-1
constexpr double kPTypical = kR0 * kCPerDay * kDeltaPerDay / (kBetaTypical * kT0Cells);
constexpr double kV0Typical = 0.1;  // TCID50/mL, illustrative

constexpr char kAbstract[] = "Baccam 2006, abstract (derived from the reported duration)";

ParameterSpec Param(std::string name, std::string unit, double typical, double lower, double upper,
                    std::string description, std::string source) {
  return ParameterSpec{std::move(name), std::move(unit),        typical,          lower,
                       upper,           std::move(description), std::move(source)};
}

ModelSpec ViralSpec() {
  ModelSpec s;
  s.name = "viral_baccam2006";
  s.title = "Within-host influenza A kinetics, target-cell limited with eclipse phase";
  s.description =
      "Target-cell-limited viral dynamics with an eclipse phase (Baccam 2006): target cells T "
      "are infected by virus V, pass an eclipse phase E (rate K) before producing virus as I "
      "(death rate DELTA); virus is cleared at C. Time in days. From TRX on an antiviral blocks "
      "infection (EPS_BETA) and virus production (EPS_P). States: 1 target, 2 eclipse, 3 "
      "infected (cells), 4 virus (TCID50/mL; dosable: an inoculum). R0 = BETA*P*T0/(C*DELTA).";
  s.citation =
      "Baccam P, Beauchemin C, Macken CA, Hayden FG, Perelson AS. Kinetics of influenza A virus "
      "infection in humans. J Virol 2006;80(15):7590-7599. doi:10.1128/JVI.01623-05";
  s.time_unit = "day";
  s.states = {{"target", "cells", "uninfected target epithelial cells T", false},
              {"eclipse", "cells", "infected cells not yet producing virus E", false},
              {"infected", "cells", "virus-producing infected cells I", false},
              {"virus", "TCID50/mL", "infectious virus titre V", true}};
  s.parameters = {
      Param("T0", "cells", kT0Cells, 1.0, kInf, "initial number of target cells",
            "Baccam 2006 (upper respiratory tract epithelial cells; unverified)"),
      Param("V0", "TCID50/mL", kV0Typical, 0.0, kInf, "initial virus titre",
            "illustrative (fitted per patient in Baccam 2006)"),
      Param("BETA", "1/((TCID50/mL)*day)", kBetaTypical, 0.0, kInf, "infection rate constant",
            "order of Baccam 2006 fits (unverified)"),
      Param("K", "1/day", kKPerDay, kPositiveLower, kInf, "eclipse exit rate (1/K = 6 h)",
            kAbstract),
      Param("DELTA", "1/day", kDeltaPerDay, kPositiveLower, kInf,
            "death rate of producing cells (1/DELTA = 5 h)", kAbstract),
      Param("P", "(TCID50/mL)/(cell*day)", kPTypical, 0.0, kInf,
            "virus production per infected cell", "set so that R0 = 22 (Baccam 2006 abstract)"),
      Param("C", "1/day", kCPerDay, kPositiveLower, kInf, "virus clearance (half-life ln2/C = 3 h)",
            kAbstract),
      Param("EPS_BETA", "1", 0.0, 0.0, 1.0, "antiviral efficacy against infection", "user"),
      Param("EPS_P", "1", 0.0, 0.0, 1.0, "antiviral efficacy against virus production", "user"),
      Param("TRX", "day", 0.0, 0.0, kInf, "start of antiviral treatment", "user"),
  };
  s.observables = {
      {"V", "TCID50/mL", "virus titre", ResidualError{ErrorModel::kExponential, 0.0, 0.0, 0.5}},
      {"TFRAC", "1", "fraction of target cells still uninfected, T/T0",
       ResidualError{ErrorModel::kAdditive, 0.0, 0.0, 0.0}}};
  // Illustrative between-subject variability (about 30 % CV); the paper fits each patient.
  s.variability = {{"BETA", "P"}, internal::DiagonalOmega({0.09, 0.09})};
  s.covariate_formulas = {"R0 = BETA * P * T0 / (C * DELTA)",
                          "for t >= TRX: infection x (1 - EPS_BETA), production x (1 - EPS_P)"};
  s.default_dose_state = kVirus;
  return s;
}

class ViralBaccam2006 final : public Model {
 public:
  ViralBaccam2006() : Model(ViralSpec()) {}

  void InitialState(const double* p, double* x) const override {
    x[kTarget] = p[kT0];
    x[kEclipse] = 0.0;
    x[kInfected] = 0.0;
    x[kVirus] = p[kV0];
  }

  void Rhs(double t, const double* x, const double* p, double* dxdt) const override {
    const bool treated = t >= p[kTrx];
    const double infection_factor = treated ? 1.0 - p[kEpsBeta] : 1.0;
    const double production_factor = treated ? 1.0 - p[kEpsP] : 1.0;
    const double infection = infection_factor * p[kBeta] * x[kTarget] * x[kVirus];
    dxdt[kTarget] = -infection;
    dxdt[kEclipse] = infection - p[kK] * x[kEclipse];
    dxdt[kInfected] = p[kK] * x[kEclipse] - p[kDelta] * x[kInfected];
    dxdt[kVirus] = production_factor * p[kP] * x[kInfected] - p[kC] * x[kVirus];
  }

  void Observe(double t, const double* x, const double* p, double* y) const override {
    y[0] = x[kVirus];
    y[1] = x[kTarget] / p[kT0];
  }

  // The treatment start is a switch in the right-hand side: CVODES locates it as a root so that
  // no step straddles it.
  int num_roots() const override { return 1; }
  void Roots(double t, const double* x, const double* p, double* g) const override {
    g[0] = t - p[kTrx];
  }
};

}  // namespace

std::unique_ptr<Model> MakeViralBaccam2006() { return std::make_unique<ViralBaccam2006>(); }

double ViralR0(const double* p) { return p[kBeta] * p[kP] * p[kT0] / (p[kC] * p[kDelta]); }

}  // namespace medtwin
