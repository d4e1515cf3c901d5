#include "model/t1d_uvapadova.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "model/model_internal.h"

namespace medtwin {
namespace {

using internal::kPositiveLower;

// States, in the order of the reference x0_1..x0_13 columns, then the meal bookkeeping state.
enum State : int {
  kMeal = 0,  // Qsto1, g
  kQsto2,     // mg
  kQgut,      // mg
  kGp,        // mg/kg
  kGt,        // mg/kg
  kIp,        // pmol/kg
  kX,         // pmol/L
  kI1,        // pmol/L
  kId,        // pmol/L
  kIl,        // pmol/kg
  kInsulin,   // Isc1, U
  kIsc2,      // pmol/kg
  kGs,        // mg/kg
  kEmptied,   // mg
  kNumStates
};

// Parameters (spec order).
enum Param : int {
  kBw = 0,
  kVg,
  kK1,
  kK2,
  kVi,
  kM1,
  kM2,
  kM4,
  kM30,
  kKi,
  kKp1,
  kKp2,
  kKp3,
  kFsnc,
  kVm0,
  kVmx,
  kKm0,
  kP2u,
  kIb,
  kKe1,
  kKe2,
  kKabs,
  kKmax,
  kKmin,
  kB,
  kD,
  kF,
  kKd,
  kKa1,
  kKa2,
  kKsc,
  kX0First  // x0_1 .. x0_13 follow
};
constexpr int kNumX0 = 13;

constexpr char kPaper[] = "Dalla Man 2007 Table 1 (normal subjects)";
constexpr char kChoice[] = "medtwin default (see docs/models/t1d_uvapadova.md)";
// The TBME 2007 paper models normal subjects with endogenous secretion and has no s.c. insulin
// subsystem, so its Table 1 cannot hold kd, ka1, ka2; they are attributed to the GIM paper,
// which adds s.c. insulin for type 1 diabetes. Not checked against the GIM text here.
constexpr char kGim[] =
    "Dalla Man 2007 GIM, J Diabetes Sci Technol 1(3):323-330 (attributed; value not checked "
    "against the paper's text)";

// Dalla Man 2007, Table 1, normal subjects (DOMAIN.md section 4.1), except kd, ka1, ka2 (kGim).
struct NormalSubject {
  double vg = 1.88, k1 = 0.065, k2 = 0.079;
  double vi = 0.05, m1 = 0.190, m2 = 0.484, m4 = 0.194, heb = 0.6;
  double kabs = 0.057, kmax = 0.0558, kmin = 0.0080, f = 0.90, b = 0.82, c = 0.010;
  double kp1 = 2.70, kp2 = 0.0021, kp3 = 0.009, ki = 0.0079;
  double fcns = 1.0, vm0 = 2.50, vmx = 0.047, km0 = 225.59, p2u = 0.0331;
  double ke1 = 0.0005, ke2 = 339.0;
  double kd = 0.0164, ka1 = 0.0018, ka2 = 0.0182;  // s.c. insulin: GIM 2007, not Table 1
  // Not in Table 1 (our choices, documented): body weight of the curated SBML version
  // BIOMD0000000379 (its 78,000 mg meal is the paper's 1 g/kg), a sensor rate inside the
  // range of the 30-patient table (0.050-0.152 /min), and the fasting glucose the basal
  // steady state is built on.
  double bw_kg = 78.0, ksc = 0.1, gb_mg_per_dl = 100.0;
  double m30() const { return heb * m1 / (1.0 - heb); }  // paper: m3(0) = HEb*m1/(1 - HEb)
};

// Variances of log Vmx, log kp3, log Vm0, log kabs over the 30 virtual patients of the
// UVA/Padova academic simulator (../shared/data/t1d/vpatient_params.csv; sample variance with
// n - 1; computed for docs/models/t1d_uvapadova.md, "Population prior").
constexpr double kOmega2Vmx = 0.2580, kOmega2Kp3 = 0.2582, kOmega2Vm0 = 0.1884,
                 kOmega2Kabs = 1.0372;

// Stationary SD of the reference CGM noise (DOMAIN.md 4.1, sensor_params.csv: PACF 0.7,
// gamma -0.5444, lambda 15.9574, delta 1.6898, the same for the three sensors): the Johnson SU
// variance lambda^2/2 (w - 1)(w cosh(2 gamma/delta) + 1) with w = exp(s^2/delta^2),
// s^2 = PACF^2/(1 - PACF^2) the variance of the stationary driver.
constexpr double kCgmNoiseSdMgPerDl = 11.73;

// Below this plasma glucose (mg/dL) insulin-independent utilisation fades smoothly to zero
// (LowGlucoseFactor); above it the model is the paper's. A medtwin deviation, see
// docs/models/t1d_uvapadova.md ("Glucose stays positive").
constexpr double kFsncFadeMgPerDl = 10.0;

// 1 for g >= g_full, 0 for g <= 0, the cubic smoothstep in between (continuous with its first
// derivative, so CVODES sees no kink).
double LowGlucoseFactor(double g, double g_full) {
  if (g >= g_full) return 1.0;
  if (g <= 0.0) return 0.0;
  const double s = g / g_full;
  return s * s * (3.0 - 2.0 * s);
}

// Basal steady state of the normal-subject kinetics without insulin secretion at fasting glucose
// Gb: tissue glucose from the tissue balance, basal insulin Ib from the plasma balance (EGP
// equation), then the insulin compartments and the s.c. depot that a constant basal infusion
// holds there. Gp stays below ke2, so there is no renal excretion.
struct Basal {
  double gp, gt, ib, ip, il, isc1_pmol_per_kg, isc2;
};

Basal NormalBasal(const NormalSubject& n) {
  Basal s{};
  s.gp = n.gb_mg_per_dl * n.vg;
  // k1*Gp - k2*Gt = Vm0*Gt/(Km0 + Gt): decreasing in Gt, positive at 0, negative at k1*Gp/k2.
  double lo = 0.0, hi = n.k1 * s.gp / n.k2;
  for (int i = 0; i < 200; ++i) {
    const double gt = 0.5 * (lo + hi);
    const double f = n.k1 * s.gp - n.k2 * gt - n.vm0 * gt / (n.km0 + gt);
    (f > 0.0 ? lo : hi) = gt;
  }
  s.gt = 0.5 * (lo + hi);
  const double uid = n.vm0 * s.gt / (n.km0 + s.gt);
  const double egp = n.fcns + uid;
  s.ib = (n.kp1 - n.kp2 * s.gp - egp) / n.kp3;
  s.ip = s.ib * n.vi;
  s.il = n.m2 * s.ip / (n.m1 + n.m30());
  const double u_pmol_per_kg_min = (n.m2 + n.m4) * s.ip - n.m1 * s.il;
  s.isc1_pmol_per_kg = u_pmol_per_kg_min / (n.kd + n.ka1);
  s.isc2 = n.kd * s.isc1_pmol_per_kg / n.ka2;
  return s;
}

ParameterSpec Rate(std::string name, std::string unit, double typical, std::string description,
                   const char* source = kPaper) {
  return {std::move(name),        std::move(unit), typical, kPositiveLower, kInf,
          std::move(description), source};
}

ParameterSpec NonNegative(std::string name, std::string unit, double typical,
                          std::string description, const char* source = kPaper) {
  return {std::move(name), std::move(unit), typical, 0.0, kInf, std::move(description), source};
}

std::vector<ParameterSpec> Parameters() {
  const NormalSubject n;
  std::vector<ParameterSpec> p = {
      {"BW", "kg", n.bw_kg, 1.0, 500.0, "body weight", kChoice},
      Rate("Vg", "dL/kg", n.vg, "glucose distribution volume"),
      Rate("k1", "1/min", n.k1, "plasma to tissue glucose rate"),
      Rate("k2", "1/min", n.k2, "tissue to plasma glucose rate"),
      Rate("Vi", "L/kg", n.vi, "insulin distribution volume"),
      Rate("m1", "1/min", n.m1, "liver to plasma insulin rate"),
      Rate("m2", "1/min", n.m2, "plasma to liver insulin rate"),
      Rate("m4", "1/min", n.m4, "peripheral insulin degradation rate"),
      Rate("m30", "1/min", n.m30(), "hepatic insulin clearance, HEb*m1/(1 - HEb) with HEb 0.6"),
      Rate("ki", "1/min", n.ki, "delay of insulin action on EGP"),
      NonNegative("kp1", "mg/kg/min", n.kp1, "extrapolated EGP at zero glucose and insulin"),
      NonNegative("kp2", "1/min", n.kp2, "liver glucose effectiveness"),
      NonNegative("kp3", "mg/kg/min per pmol/L", n.kp3, "insulin action on the liver"),
      NonNegative("Fsnc", "mg/kg/min", n.fcns, "insulin-independent utilisation (paper Fcns)"),
      NonNegative("Vm0", "mg/kg/min", n.vm0, "basal maximum insulin-dependent utilisation"),
      NonNegative("Vmx", "mg/kg/min per pmol/L", n.vmx, "insulin action on utilisation"),
      Rate("Km0", "mg/kg", n.km0, "Michaelis-Menten constant of utilisation"),
      Rate("p2u", "1/min", n.p2u, "rate of insulin action on utilisation"),
      NonNegative("Ib", "pmol/L", NormalBasal(n).ib,
                  "basal plasma insulin (reference of the action X)", kChoice),
      NonNegative("ke1", "1/min", n.ke1, "renal excretion rate"),
      NonNegative("ke2", "mg/kg", n.ke2, "renal threshold"),
      Rate("kabs", "1/min", n.kabs, "intestinal absorption rate"),
      Rate("kmax", "1/min", n.kmax, "maximum gastric emptying rate (also kgri, grinding)"),
      Rate("kmin", "1/min", n.kmin, "minimum gastric emptying rate"),
      {"b", "1", n.b, kPositiveLower, 1.0 - 1e-6,
       "fraction of the meal where kempt falls to "
       "half-way",
       kPaper},
      {"d", "1", n.c, kPositiveLower, 1.0,
       "fraction of the meal where kempt is back to "
       "half-way (the paper's c)",
       kPaper},
      {"f", "1", n.f, 0.0, 1.0, "fraction of intestinal absorption appearing in plasma", kPaper},
      Rate("kd", "1/min", n.kd, "s.c. insulin: Isc1 to Isc2", kGim),
      Rate("ka1", "1/min", n.ka1, "s.c. insulin: Isc1 to plasma", kGim),
      Rate("ka2", "1/min", n.ka2, "s.c. insulin: Isc2 to plasma", kGim),
      Rate("ksc", "1/min", n.ksc, "plasma to interstitial glucose rate", kChoice),
  };
  // Initial state in the reference table's units (its x0 columns); default: the basal steady state.
  const Basal s = NormalBasal(n);
  const double x0[kNumX0] = {
      0, 0, 0, s.gp, s.gt, s.ip, 0, s.ib, s.ib, s.il, s.isc1_pmol_per_kg, s.isc2, s.gp};
  const char* x0_what[kNumX0] = {"Qsto1 (mg)",  "Qsto2 (mg)",   "Qgut (mg)",      "Gp (mg/kg)",
                                 "Gt (mg/kg)",  "Ip (pmol/kg)", "X (pmol/L)",     "I1 (pmol/L)",
                                 "Id (pmol/L)", "Il (pmol/kg)", "Isc1 (pmol/kg)", "Isc2 (pmol/kg)",
                                 "Gs (mg/kg)"};
  const char* x0_unit[kNumX0] = {"mg",      "mg",      "mg",     "mg/kg",  "mg/kg",
                                 "pmol/kg", "pmol/L",  "pmol/L", "pmol/L", "pmol/kg",
                                 "pmol/kg", "pmol/kg", "mg/kg"};
  for (int i = 0; i < kNumX0; ++i) {
    // X is insulin action relative to basal and may be negative.
    const double lower = i == kX ? -kInf : 0.0;
    p.push_back({"x0_" + std::to_string(i + 1), x0_unit[i], x0[i], lower, kInf,
                 std::string("initial ") + x0_what[i], kChoice});
  }
  return p;
}

ModelSpec T1dSpec() {
  ModelSpec s;
  s.name = "t1d_uvapadova";
  s.title = "Type 1 diabetes, UVA/Padova style (Dalla Man 2007 meal model, s.c. insulin, CGM)";
  s.description =
      "Dalla Man 2007 glucose-insulin meal model with insulin secretion removed (type 1 "
      "diabetes), subcutaneous insulin (two depots) and interstitial glucose, as in the "
      "UVA/Padova T1D simulator. Time in min. Carbohydrate doses (g, RATE g/min) go to `meal`, "
      "insulin doses (U, RATE U/min) to `insulin`. Each meal dose starts a new meal: the meal "
      "size D of the gastric emptying rate is the stomach content at its start plus what has "
      "been eaten since. Virtual patients: --params-file vpatient_params.csv --params-set NAME.";
  s.citation =
      "Dalla Man C, Rizza RA, Cobelli C. Meal simulation model of the glucose-insulin system. "
      "IEEE Trans Biomed Eng 2007;54(10):1740-1749. doi:10.1109/TBME.2007.893506; "
      "Dalla Man C, Raimondo DM, Rizza RA, Cobelli C. GIM, simulation software of meal "
      "glucose-insulin model. J Diabetes Sci Technol 2007;1(3):323-330. "
      "doi:10.1177/193229680700100303 (s.c. insulin parameters kd, ka1, ka2); "
      "Kovatchev BP, Breton M, Dalla Man C, Cobelli C. In silico preclinical trials: a proof of "
      "concept in closed-loop control of type 1 diabetes. J Diabetes Sci Technol "
      "2009;3(1):44-55. doi:10.1177/193229680900300106";
  s.time_unit = "min";
  s.states = {
      {"meal", "g", "stomach, solid phase (Qsto1); carbohydrate intake goes here", true},
      {"Qsto2", "mg", "stomach, liquid phase", false},
      {"Qgut", "mg", "glucose in the intestine", false},
      {"Gp", "mg/kg", "plasma (and rapidly equilibrating tissue) glucose", false},
      {"Gt", "mg/kg", "slowly equilibrating tissue glucose", false},
      {"Ip", "pmol/kg", "plasma insulin", false},
      {"X", "pmol/L", "insulin action on glucose utilisation", false},
      {"I1", "pmol/L", "delayed insulin signal, first stage", false},
      {"Id", "pmol/L", "delayed insulin signal acting on EGP", false},
      {"Il", "pmol/kg", "liver insulin", false},
      {"insulin", "U", "subcutaneous insulin, first depot (Isc1); insulin doses go here", true},
      {"Isc2", "pmol/kg", "subcutaneous insulin, second depot", false},
      {"Gs", "mg/kg", "interstitial (sensor) glucose", false},
      {"emptied", "mg", "carbohydrate emptied from the stomach since the current meal began",
       false},
  };
  s.parameters = Parameters();
  // CGM residual error: the stationary SD of the reference sensor noise (kCgmNoiseSdMgPerDl).
  const ResidualError cgm_error{ErrorModel::kAdditive, kCgmNoiseSdMgPerDl, 0.0, 0.0};
  s.observables = {
      {"BG", "mg/dL", "plasma glucose Gp/Vg", {}},
      {"CGM", "mg/dL",
       "interstitial glucose Gs/Vg (residual error: the reference sensor's noise SD; "
       "autocorrelated noise: MeasureCgm)",
       cgm_error},
      {"I", "pmol/L", "plasma insulin Ip/Vi", {}},
      {"Ra", "mg/kg/min", "glucose rate of appearance from the gut", {}},
  };
  // Between-subject variability (docs: "Population prior"): log-normal, diagonal, on the
  // parameters that set the response to insulin and meals; omega^2 is the sample variance
  // (n - 1) of the log values over the 30 virtual patients of vpatient_params.csv. Typical
  // values stay the normal subject's.
  s.variability = {{"Vmx", "kp3", "Vm0", "kabs"},
                   internal::DiagonalOmega({kOmega2Vmx, kOmega2Kp3, kOmega2Vm0, kOmega2Kabs})};
  s.default_dose_state = kMeal;
  return s;
}

// Gastric emptying rate kempt of Dalla Man 2007 (gastrointestinal tract subsystem), with
// alpha = 5/(2D(1 - b)) and beta = 5/(2Dc) written in terms of the fraction q = Qsto/D so that it
// is defined when no meal has been eaten (D = 0: q = 0).
double EmptyingRate(const double* p, double qsto_mg, double meal_size_mg) {
  const double q = meal_size_mg > 0.0 ? qsto_mg / meal_size_mg : 0.0;
  const double b = p[kB], c = p[kD];
  const double up = std::tanh(5.0 * (q - b) / (2.0 * (1.0 - b)));
  const double down = std::tanh(5.0 * (q - c) / (2.0 * c));
  return p[kKmin] + 0.5 * (p[kKmax] - p[kKmin]) * (up - down + 2.0);
}

class T1dUvaPadova final : public Model {
 public:
  T1dUvaPadova() : Model(T1dSpec()) {}

  void InitialState(const double* p, double* x) const override {
    const double* x0 = p + kX0First;
    for (int i = 0; i < kNumX0; ++i) x[i] = x0[i];
    // The reference table holds Qsto1 in mg and Isc1 in pmol/kg; our dose states hold g and U.
    x[kMeal] = x0[kMeal] / kT1dMgPerG;
    x[kInsulin] = x0[kInsulin] * p[kBw] / kT1dPmolPerU;
    x[kEmptied] = 0.0;
  }

  void Rhs(double t, const double* x, const double* p, double* dxdt) const override {
    // Gastrointestinal tract: Qsto1 empties by grinding at kgri = kmax, as in the UVA/Padova
    // simulator.
    const double qsto1_mg = x[kMeal] * kT1dMgPerG;
    const double qsto_mg = qsto1_mg + x[kQsto2];
    const double kempt = EmptyingRate(p, qsto_mg, qsto_mg + x[kEmptied]);
    const double grind_mg_per_min = p[kKmax] * qsto1_mg;
    const double empty_mg_per_min = kempt * x[kQsto2];
    const double absorb_mg_per_min = p[kKabs] * x[kQgut];
    dxdt[kMeal] = -grind_mg_per_min / kT1dMgPerG;
    dxdt[kQsto2] = grind_mg_per_min - empty_mg_per_min;
    dxdt[kQgut] = empty_mg_per_min - absorb_mg_per_min;
    dxdt[kEmptied] = empty_mg_per_min;

    // Glucose kinetics, EGP, utilisation, renal excretion. EGP is kept >= 0 as in the UVA/Padova
    // simulator. Glucose stays positive (medtwin deviation, docs): the paper's constant Fsnc
    // fades to 0 below kFsncFadeMgPerDl, and Uid, which the paper's Michaelis-Menten term already
    // makes vanish as Gt -> 0, reads Gt clipped at 0 so solver round-off below 0 can neither
    // turn it into production nor reach its pole at Gt = -Km0. With EGP, Ra >= 0 and renal
    // excretion 0 below ke2, dGp/dt >= 0 at Gp = 0 and dGt/dt >= 0 at Gt = 0.
    const double ra = p[kF] * absorb_mg_per_min / p[kBw];
    const double egp = std::max(0.0, p[kKp1] - p[kKp2] * x[kGp] - p[kKp3] * x[kId]);
    const double renal = x[kGp] > p[kKe2] ? p[kKe1] * (x[kGp] - p[kKe2]) : 0.0;
    const double uii = p[kFsnc] * LowGlucoseFactor(x[kGp], kFsncFadeMgPerDl * p[kVg]);
    const double gt = std::max(x[kGt], 0.0);
    const double uid = (p[kVm0] + p[kVmx] * x[kX]) * gt / (p[kKm0] + gt);
    dxdt[kGp] = egp + ra - uii - renal - p[kK1] * x[kGp] + p[kK2] * x[kGt];
    dxdt[kGt] = -uid + p[kK1] * x[kGp] - p[kK2] * x[kGt];

    // Insulin kinetics without secretion (m3 = m30) and s.c. absorption (Kovatchev 2009).
    const double isc1_pmol_per_kg = x[kInsulin] * kT1dPmolPerU / p[kBw];
    const double rai = p[kKa1] * isc1_pmol_per_kg + p[kKa2] * x[kIsc2];
    const double plasma_insulin = x[kIp] / p[kVi];
    dxdt[kIl] = -(p[kM1] + p[kM30]) * x[kIl] + p[kM2] * x[kIp];
    dxdt[kIp] = -(p[kM2] + p[kM4]) * x[kIp] + p[kM1] * x[kIl] + rai;
    dxdt[kInsulin] = -(p[kKd] + p[kKa1]) * x[kInsulin];
    dxdt[kIsc2] = p[kKd] * isc1_pmol_per_kg - p[kKa2] * x[kIsc2];

    // Insulin action on utilisation and on EGP, and interstitial glucose.
    dxdt[kX] = -p[kP2u] * x[kX] + p[kP2u] * (plasma_insulin - p[kIb]);
    dxdt[kI1] = -p[kKi] * (x[kI1] - plasma_insulin);
    dxdt[kId] = -p[kKi] * (x[kId] - x[kI1]);
    dxdt[kGs] = -p[kKsc] * x[kGs] + p[kKsc] * x[kGp];
  }

  void Observe(double t, const double* x, const double* p, double* y) const override {
    y[0] = x[kGp] / p[kVg];
    y[1] = x[kGs] / p[kVg];
    y[2] = x[kIp] / p[kVi];
    y[3] = p[kF] * p[kKabs] * x[kQgut] / p[kBw];
  }

  // A meal dose starts a new meal: the emptied carbohydrate is counted from here, so the meal
  // size D = Qsto + emptied equals the stomach content now plus everything eaten since.
  void OnDoseStart(double t, int state, double amount, double rate, const double* p,
                   double* x) const override {
    if (state == kMeal) x[kEmptied] = 0.0;
  }
};

}  // namespace

std::unique_ptr<Model> MakeT1dUvaPadova() { return std::make_unique<T1dUvaPadova>(); }

}  // namespace medtwin
