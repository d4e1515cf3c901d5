#include "model/pk_models.h"

#include <algorithm>
#include <string>

#include "model/model_internal.h"

namespace medtwin {
namespace {

using internal::kPositiveLower;

constexpr char kIllustrative[] =
    "Structural model; typical values illustrative, set your own with --param.";
constexpr char kGibaldi[] =
    "Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. New York: Marcel Dekker; 1982";

// State and parameter layout shared by every model in this file: NONMEM numbering puts the depot
// first and the central compartment second.
constexpr int kDepot = 0;
constexpr int kCentral = 1;
constexpr int kFirstPeripheral = 2;

// Linear models: CL, V, then (Q, V2) and (Q3, V3) per peripheral compartment, then KA.
constexpr int kCl = 0;
constexpr int kV = 1;
int QIndex(int peripheral) { return 2 + 2 * peripheral; }
int VpIndex(int peripheral) { return 3 + 2 * peripheral; }
int KaIndex(int num_peripherals) { return 2 + 2 * num_peripherals; }

// Michaelis-Menten model: VMAX, KM, V, KA.
constexpr int kVmax = 0;
constexpr int kKm = 1;
constexpr int kVMm = 2;
constexpr int kKaMm = 3;

ParameterSpec Positive(std::string name, std::string unit, double typical,
                       std::string description) {
  return ParameterSpec{std::move(name),        std::move(unit), typical, kPositiveLower, kInf,
                       std::move(description), "illustrative"};
}

std::vector<StateSpec> PkStates(int num_peripherals) {
  std::vector<StateSpec> states = {
      {"depot", "mg", "absorption depot (extravascular doses)", true},
      {"central", "mg", "central compartment (plasma and rapidly equilibrating tissues)", true}};
  for (int i = 0; i < num_peripherals; ++i) {
    states.push_back({"periph" + std::to_string(i + 1), "mg",
                      "peripheral compartment " + std::to_string(i + 1), true});
  }
  return states;
}

// Combined error with illustrative SDs: 0.1 mg/L additive, 10 % proportional.
ObservableSpec CpObservable() {
  return {"CP", "mg/L", "concentration in the central compartment (central / V)",
          ResidualError{ErrorModel::kCombined, 0.1, 0.1, 0.0}};
}

// Illustrative IIV: omega^2 = 0.09 (about 30 % CV) on each listed parameter.
Variability IllustrativeVariability(std::vector<std::string> parameters) {
  std::vector<double> diagonal(parameters.size(), 0.09);
  return Variability{std::move(parameters), internal::DiagonalOmega(diagonal)};
}

std::vector<ParameterSpec> LinearParameters(int num_peripherals) {
  std::vector<ParameterSpec> p = {
      Positive("CL", "L/h", 4.0, "clearance from the central compartment"),
      Positive("V", "L", 50.0, "volume of the central compartment")};
  if (num_peripherals >= 1) {
    p.push_back(Positive("Q", "L/h", 6.0, "intercompartmental clearance central <-> periph1"));
    p.push_back(Positive("V2", "L", 40.0, "volume of periph1"));
  }
  if (num_peripherals >= 2) {
    p.push_back(Positive("Q3", "L/h", 2.0, "intercompartmental clearance central <-> periph2"));
    p.push_back(Positive("V3", "L", 80.0, "volume of periph2"));
  }
  p.push_back(Positive("KA", "1/h", 1.0, "first-order absorption rate constant"));
  return p;
}

ModelSpec LinearSpec(int num_peripherals) {
  static constexpr const char* kNames[] = {"pk1cmt", "pk2cmt", "pk3cmt"};
  static constexpr int kAdvan[] = {2, 4, 12};
  const int cmt = num_peripherals + 1;
  ModelSpec s;
  s.name = kNames[num_peripherals];
  s.title = std::to_string(cmt) + "-compartment PK, first-order absorption, linear elimination";
  s.description = std::to_string(cmt) +
                  "-compartment mammillary model with first-order absorption from a depot and "
                  "linear elimination from the central compartment. States (NONMEM ADVAN" +
                  std::to_string(kAdvan[num_peripherals]) + " numbering): 1 depot, 2 central" +
                  (num_peripherals >= 1 ? ", 3 periph1" : "") +
                  (num_peripherals >= 2 ? ", 4 periph2" : "") +
                  ". Doses go to the depot unless CMT says otherwise. " + kIllustrative;
  s.citation = std::string(kGibaldi) +
               " (compartment models). Compartment numbering: NONMEM Users Guide Part VI "
               "(PREDPP), ADVAN" +
               std::to_string(kAdvan[num_peripherals]) + ". " + kIllustrative;
  s.states = PkStates(num_peripherals);
  s.parameters = LinearParameters(num_peripherals);
  s.observables = {CpObservable()};
  s.variability = IllustrativeVariability({"CL", "V"});
  s.default_dose_state = kDepot;
  return s;
}

// Linear mammillary model written as mass flows (Rhs) and, independently, as the matrix A of
// dx/dt = A x (LinearMatrix); the tests check that the two agree.
class LinearPkModel final : public Model {
 public:
  explicit LinearPkModel(int num_peripherals)
      : Model(LinearSpec(num_peripherals)), num_peripherals_(num_peripherals) {}

  void Rhs(double t, const double* x, const double* p, double* dxdt) const override {
    const double conc_mg_per_L = x[kCentral] / p[kV];
    const double absorption_mg_per_h = p[KaIndex(num_peripherals_)] * x[kDepot];
    dxdt[kDepot] = -absorption_mg_per_h;
    double d_central = absorption_mg_per_h - p[kCl] * conc_mg_per_L;
    for (int i = 0; i < num_peripherals_; ++i) {
      const int state = kFirstPeripheral + i;
      // Net distribution flow into the peripheral compartment, driven by the concentration gap.
      const double flow_mg_per_h = p[QIndex(i)] * (conc_mg_per_L - x[state] / p[VpIndex(i)]);
      dxdt[state] = flow_mg_per_h;
      d_central -= flow_mg_per_h;
    }
    dxdt[kCentral] = d_central;
  }

  void Observe(double t, const double* x, const double* p, double* y) const override {
    y[0] = x[kCentral] / p[kV];
  }

  bool LinearMatrix(const double* p, double* a) const override {
    const int n = num_states();
    std::fill(a, a + n * n, 0.0);
    const double ka = p[KaIndex(num_peripherals_)];
    a[kDepot * n + kDepot] = -ka;
    a[kCentral * n + kDepot] = ka;
    double k_out_of_central = p[kCl] / p[kV];
    for (int i = 0; i < num_peripherals_; ++i) {
      const int j = kFirstPeripheral + i;
      const double k_to_periph = p[QIndex(i)] / p[kV];
      const double k_from_periph = p[QIndex(i)] / p[VpIndex(i)];
      k_out_of_central += k_to_periph;
      a[j * n + kCentral] = k_to_periph;
      a[j * n + j] = -k_from_periph;
      a[kCentral * n + j] = k_from_periph;
    }
    a[kCentral * n + kCentral] = -k_out_of_central;
    return true;
  }

 private:
  int num_peripherals_;
};

ModelSpec MichaelisMentenSpec() {
  ModelSpec s;
  s.name = "pk1cmt_mm";
  s.title = "1-compartment PK, first-order absorption, Michaelis-Menten elimination";
  s.description =
      "One central compartment with first-order absorption from a depot and saturable "
      "(Michaelis-Menten) elimination VMAX*C/(KM + C), C = central/V. States (numbering as "
      "NONMEM ADVAN2): 1 depot, 2 central. Doses go to the depot unless CMT says otherwise. "
      "Nonlinear: no closed form or analytic steady state. " +
      std::string(kIllustrative);
  s.citation = std::string(kGibaldi) +
               " (nonlinear pharmacokinetics). Compartment numbering as NONMEM Users Guide Part VI "
               "(PREDPP), ADVAN2. " +
               kIllustrative;
  s.states = PkStates(0);
  s.parameters = {Positive("VMAX", "mg/h", 50.0, "maximum elimination rate"),
                  Positive("KM", "mg/L", 5.0, "concentration at half-maximal elimination rate"),
                  Positive("V", "L", 50.0, "volume of the central compartment"),
                  Positive("KA", "1/h", 1.0, "first-order absorption rate constant")};
  s.observables = {CpObservable()};
  s.variability = IllustrativeVariability({"VMAX", "V"});
  s.default_dose_state = kDepot;
  return s;
}

class MichaelisMentenPkModel final : public Model {
 public:
  MichaelisMentenPkModel() : Model(MichaelisMentenSpec()) {}

  void Rhs(double t, const double* x, const double* p, double* dxdt) const override {
    const double conc_mg_per_L = x[kCentral] / p[kVMm];
    const double absorption_mg_per_h = p[kKaMm] * x[kDepot];
    const double elimination_mg_per_h = p[kVmax] * conc_mg_per_L / (p[kKm] + conc_mg_per_L);
    dxdt[kDepot] = -absorption_mg_per_h;
    dxdt[kCentral] = absorption_mg_per_h - elimination_mg_per_h;
  }

  void Observe(double t, const double* x, const double* p, double* y) const override {
    y[0] = x[kCentral] / p[kVMm];
  }
};

}  // namespace

std::unique_ptr<Model> MakePk1Cmt() { return std::make_unique<LinearPkModel>(0); }
std::unique_ptr<Model> MakePk2Cmt() { return std::make_unique<LinearPkModel>(1); }
std::unique_ptr<Model> MakePk3Cmt() { return std::make_unique<LinearPkModel>(2); }
std::unique_ptr<Model> MakePk1CmtMm() { return std::make_unique<MichaelisMentenPkModel>(); }

}  // namespace medtwin
