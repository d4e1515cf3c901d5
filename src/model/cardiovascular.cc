#include "model/cardiovascular.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "medtwin/state_history.h"
#include "model/model_internal.h"

namespace medtwin {
namespace {

using internal::kPositiveLower;

enum State : int {
  kVpa = 0,  // pulmonary arteries, mL
  kFpa,      // flow through the pulmonary arteries, mL/s
  kVpp,      // pulmonary peripheral vessels, mL
  kVpv,      // pulmonary veins, mL
  kVla,      // left atrium, mL
  kVlv,      // left ventricle, mL
  kVsa,      // systemic arteries, mL
  kFsa,      // flow through the systemic arteries, mL/s
  kVper,     // systemic peripheral (splanchnic + extrasplanchnic, one pressure), mL
  kVsv,      // splanchnic veins, mL
  kVev,      // extrasplanchnic veins (physical volume Vev - haemorrhage), mL
  kVra,      // right atrium, mL
  kVrv,      // right ventricle, mL
  kHaem,     // cumulative blood lost, mL
  kPaff,     // filtered carotid sinus pressure P~, mmHg
  kDEmaxLv,  // effector changes: mmHg/mL, mmHg/mL, mmHg*s/mL, mmHg*s/mL, mL, mL, s, s
  kDEmaxRv,
  kDRsp,
  kDRep,
  kDVusv,
  kDVuev,
  kDTs,
  kDTv,
  kPhase,  // beats
  kNumStates
};
constexpr int kNumEffectors = 8;  // kDEmaxLv .. kDTv, in the order of the parameter blocks

enum Param : int {
  kVt = 0,
  kCsa,
  kRsa,
  kLsa,
  kCsp,
  kCep,
  kVusp,
  kVuep,
  kRsp0,
  kRep0,
  kCsv,
  kCev,
  kRsv,
  kRev,
  kVusv0,
  kVuev0,
  kCpa,
  kRpa,
  kLpa,
  kCpp,
  kRpp,
  kVupp,
  kCpv,
  kRpv,
  kVupv,
  kCla,
  kVula,
  kRla,
  kCra,
  kVura,
  kRra,
  kP0lv,
  kKElv,
  kVulv,
  kEmaxLv0,
  kKRlv,
  kP0rv,
  kKErv,
  kVurv,
  kEmaxRv0,
  kKRrv,
  kT0,
  kTsys0,
  kKsys,
  kPn,
  kKa,
  kFmin,
  kFmax,
  kTauZ,
  kTauP,
  kFesInf,
  kFes0,
  kKes,
  kFesMin,
  kFev0,
  kFevInf,
  kKev,
  kFcs0,
  kGain0,                           // 8 gains: Emax,lv Emax,rv Rsp Rep Vu,sv Vu,ev T(symp) T(vagal)
  kTau0 = kGain0 + kNumEffectors,   // 8 time constants, same order
  kDelay0 = kTau0 + kNumEffectors,  // 8 pure delays, same order
  kPcsClamp = kDelay0 + kNumEffectors,
  kBaro,
  kEvaso,
  kNumParams
};

constexpr char kCirc[] = "Ursino 1998 (circulation parameters; DOMAIN.md 4.4)";
constexpr char kHeart[] = "Ursino 1998 (heart parameters)";
constexpr char kBaroSrc[] = "Ursino 1998 (carotid baroreflex parameters)";
constexpr char kEff[] = "Ursino 1998 (effector parameters)";
constexpr char kBasal[] =
    "Ursino 1998 (effector value without sympathetic drive; equals the basal value minus "
    "G*ln(fes-fes,min+1) at rest, see docs)";
constexpr char kDerived[] =
    "derived: basal value of Ursino 1998 minus G*ln(fes-fes,min+1) at rest (see docs)";
constexpr char kUser[] = "medtwin input (see docs)";

struct ParamDef {
  const char* name;
  const char* unit;
  double typical, lower, upper;
  const char* description;
  const char* source;
};

constexpr double kPos = kPositiveLower;
constexpr double kHuge = kInf;

// Spec order = enum Param order.
const ParamDef kParamDefs[kNumParams] = {
    {"VT", "mL", 5300, 500, 20000, "total blood volume", kCirc},
    {"CSA", "mL/mmHg", 0.28, kPos, kHuge, "systemic arterial compliance", kCirc},
    {"RSA", "mmHg*s/mL", 0.06, kPos, kHuge, "systemic arterial resistance", kCirc},
    {"LSA", "mmHg*s^2/mL", 0.22e-3, kPos, kHuge, "systemic arterial inertance", kCirc},
    {"CSP", "mL/mmHg", 2.05, kPos, kHuge, "splanchnic peripheral compliance", kCirc},
    {"CEP", "mL/mmHg", 1.67, kPos, kHuge, "extrasplanchnic peripheral compliance", kCirc},
    {"VUSP", "mL", 274.4, 0, kHuge, "splanchnic peripheral unstressed volume", kCirc},
    {"VUEP", "mL", 336.6, 0, kHuge, "extrasplanchnic peripheral unstressed volume", kCirc},
    {"RSP0", "mmHg*s/mL", 2.49, kPos, kHuge,
     "splanchnic peripheral resistance without sympathetic drive (basal 3.307)", kBasal},
    {"REP0", "mmHg*s/mL", 0.78, kPos, kHuge,
     "extrasplanchnic peripheral resistance without sympathetic drive (basal 1.407)", kDerived},
    {"CSV", "mL/mmHg", 61.11, kPos, kHuge, "splanchnic venous compliance", kCirc},
    {"CEV", "mL/mmHg", 50.0, kPos, kHuge, "extrasplanchnic venous compliance", kCirc},
    {"RSV", "mmHg*s/mL", 0.038, kPos, kHuge, "splanchnic venous resistance", kCirc},
    {"REV", "mmHg*s/mL", 0.016, kPos, kHuge, "extrasplanchnic venous resistance", kCirc},
    {"VUSV0", "mL", 1435.4, 0, kHuge,
     "splanchnic venous unstressed volume without sympathetic drive (basal 1121)", kBasal},
    {"VUEV0", "mL", 1537.0, 0, kHuge,
     "extrasplanchnic venous unstressed volume without sympathetic drive (basal 1375)", kDerived},
    {"CPA", "mL/mmHg", 0.76, kPos, kHuge, "pulmonary arterial compliance", kCirc},
    {"RPA", "mmHg*s/mL", 0.023, kPos, kHuge, "pulmonary arterial resistance", kCirc},
    {"LPA", "mmHg*s^2/mL", 0.18e-3, kPos, kHuge, "pulmonary arterial inertance", kCirc},
    {"CPP", "mL/mmHg", 5.80, kPos, kHuge, "pulmonary peripheral compliance", kCirc},
    {"RPP", "mmHg*s/mL", 0.0894, kPos, kHuge, "pulmonary peripheral resistance", kCirc},
    {"VUPP", "mL", 123.0, 0, kHuge, "pulmonary peripheral unstressed volume", kCirc},
    {"CPV", "mL/mmHg", 25.37, kPos, kHuge, "pulmonary venous compliance", kCirc},
    {"RPV", "mmHg*s/mL", 0.0056, kPos, kHuge, "pulmonary venous resistance", kCirc},
    {"VUPV", "mL", 120.0, 0, kHuge, "pulmonary venous unstressed volume", kCirc},
    {"CLA", "mL/mmHg", 19.23, kPos, kHuge, "left atrial compliance", kHeart},
    {"VULA", "mL", 25.0, 0, kHuge, "left atrial unstressed volume", kHeart},
    {"RLA", "mmHg*s/mL", 2.5e-3, kPos, kHuge, "mitral (left atrial outflow) resistance", kHeart},
    {"CRA", "mL/mmHg", 31.25, kPos, kHuge, "right atrial compliance", kHeart},
    {"VURA", "mL", 25.0, 0, kHuge, "right atrial unstressed volume", kHeart},
    {"RRA", "mmHg*s/mL", 2.5e-3, kPos, kHuge, "tricuspid (right atrial outflow) resistance",
     kHeart},
    {"P0LV", "mmHg", 1.5, kPos, kHuge, "left ventricular end-diastolic scale", kHeart},
    {"KELV", "1/mL", 0.014, kPos, 0.1, "left ventricular end-diastolic stiffness", kHeart},
    {"VULV", "mL", 16.77, 0, kHuge, "left ventricular unstressed volume", kHeart},
    {"EMAXLV0", "mmHg/mL", 2.392, kPos, kHuge,
     "left ventricular end-systolic elastance without sympathetic drive (basal 2.95)", kBasal},
    {"KRLV", "s/mL", 3.75e-4, kPos, kHuge, "left ventricular viscous resistance factor", kHeart},
    {"P0RV", "mmHg", 1.5, kPos, kHuge, "right ventricular end-diastolic scale", kHeart},
    {"KERV", "1/mL", 0.011, kPos, 0.1, "right ventricular end-diastolic stiffness", kHeart},
    {"VURV", "mL", 40.8, 0, kHuge, "right ventricular unstressed volume", kHeart},
    {"EMAXRV0", "mmHg/mL", 1.412, kPos, kHuge,
     "right ventricular end-systolic elastance without sympathetic drive (basal 1.75)", kBasal},
    {"KRRV", "s/mL", 1.4e-3, kPos, kHuge, "right ventricular viscous resistance factor", kHeart},
    {"T0", "s", 0.58, 0.2, 3.0, "heart period without autonomic drive", kBasal},
    {"TSYS0", "s", 0.5, 0.05, 2.0, "systolic duration at zero heart rate", kHeart},
    {"KSYS", "s^2", 0.075, 0, 1.0, "shortening of systole with heart rate", kHeart},
    {"PN", "mmHg", 92.0, 0, 300, "carotid sinus pressure at the centre of the sigmoid", kBaroSrc},
    {"KA", "mmHg", 11.758, kPos, kHuge, "slope of the afferent sigmoid", kBaroSrc},
    {"FMIN", "spikes/s", 2.52, 0, kHuge, "lower saturation of afferent activity", kBaroSrc},
    {"FMAX", "spikes/s", 47.78, 0, kHuge, "upper saturation of afferent activity", kBaroSrc},
    {"TAUZ", "s", 6.37, 0, kHuge, "afferent derivative (zero) time constant", kBaroSrc},
    {"TAUP", "s", 2.076, kPos, kHuge, "afferent pole time constant", kBaroSrc},
    {"FESINF", "spikes/s", 2.10, 0, kHuge, "sympathetic activity at high afferent activity",
     kBaroSrc},
    {"FES0", "spikes/s", 16.11, 0, kHuge, "sympathetic activity at zero afferent activity",
     kBaroSrc},
    {"KES", "s", 0.0675, kPos, kHuge, "sympathetic decay with afferent activity", kBaroSrc},
    {"FESMIN", "spikes/s", 2.66, 0, kHuge, "sympathetic threshold of the effectors", kBaroSrc},
    {"FEV0", "spikes/s", 3.2, 0, kHuge, "vagal activity at zero afferent activity", kBaroSrc},
    {"FEVINF", "spikes/s", 6.3, 0, kHuge, "vagal activity at high afferent activity", kBaroSrc},
    {"KEV", "spikes/s", 7.06, kPos, kHuge, "slope of the vagal sigmoid", kBaroSrc},
    {"FCS0", "spikes/s", 25.0, 0, kHuge, "afferent activity at the centre of the vagal sigmoid",
     kBaroSrc},
    {"G_EMAXLV", "mmHg/mL/(spikes/s)", 0.475, -kHuge, kHuge, "gain on Emax,lv", kEff},
    {"G_EMAXRV", "mmHg/mL/(spikes/s)", 0.282, -kHuge, kHuge, "gain on Emax,rv", kEff},
    {"G_RSP", "mmHg*s/mL/(spikes/s)", 0.695, -kHuge, kHuge, "gain on Rsp", kEff},
    {"G_REP", "mmHg*s/mL/(spikes/s)", 0.53, -kHuge, kHuge, "gain on Rep", kEff},
    {"G_VUSV", "mL/(spikes/s)", -265.4, -kHuge, kHuge, "gain on Vu,sv", kEff},
    {"G_VUEV", "mL/(spikes/s)", -132.5, -kHuge, kHuge, "gain on Vu,ev", kEff},
    {"G_TS", "s/(spikes/s)", -0.13, -kHuge, kHuge, "sympathetic gain on the heart period", kEff},
    {"G_TV", "s/(spikes/s)", 0.09, -kHuge, kHuge, "vagal gain on the heart period", kEff},
    {"TAU_EMAXLV", "s", 8, kPos, kHuge, "time constant of Emax,lv", kEff},
    {"TAU_EMAXRV", "s", 8, kPos, kHuge, "time constant of Emax,rv", kEff},
    {"TAU_RSP", "s", 6, kPos, kHuge, "time constant of Rsp", kEff},
    {"TAU_REP", "s", 6, kPos, kHuge, "time constant of Rep", kEff},
    {"TAU_VUSV", "s", 20, kPos, kHuge, "time constant of Vu,sv", kEff},
    {"TAU_VUEV", "s", 20, kPos, kHuge, "time constant of Vu,ev", kEff},
    {"TAU_TS", "s", 2, kPos, kHuge, "time constant of the sympathetic heart period", kEff},
    {"TAU_TV", "s", 1.5, kPos, kHuge, "time constant of the vagal heart period", kEff},
    {"D_EMAXLV", "s", 2, 0, 60, "pure delay of Emax,lv", kEff},
    {"D_EMAXRV", "s", 2, 0, 60, "pure delay of Emax,rv", kEff},
    {"D_RSP", "s", 2, 0, 60, "pure delay of Rsp", kEff},
    {"D_REP", "s", 2, 0, 60, "pure delay of Rep", kEff},
    {"D_VUSV", "s", 5, 0, 60, "pure delay of Vu,sv", kEff},
    {"D_VUEV", "s", 5, 0, 60, "pure delay of Vu,ev", kEff},
    {"D_TS", "s", 2, 0, 60, "pure delay of the sympathetic heart period", kEff},
    {"D_TV", "s", 0.2, 0, 60, "pure delay of the vagal heart period", kEff},
    {"PCS_CLAMP", "mmHg", 0, 0, 300,
     "0: closed loop (carotid sinus pressure = arterial pressure); > 0: the carotid sinus is "
     "held at this pressure (open loop, isolated carotid sinus)",
     kUser},
    {"BARO", "1", 1, 0, 1,
     "1: baroreflex effectors follow their drive; 0: effectors held at their present values "
     "(open loop); the BAROREFLEX covariate multiplies it",
     kUser},
    {"EVASO", "1", 0, -0.9, 10,
     "vasoactive drug effect: fractional change of Rsp and Rep (0.3 = +30 %); the VASO "
     "covariate adds to it",
     kUser},
};

// Residual error SDs of the HR and MAP observables (illustrative, see docs).
constexpr double kHrNoiseSdPerMin = 2.0, kMapNoiseSdMmHg = 3.0;

// Numerical guards (not physiology): the heart period stays in [0.2, 5] s (HR 12-300/min) and
// systole inside the period, so extreme parameter draws cannot stop the heart's clock.
constexpr double kTMin = 0.2, kTMax = 5.0;

double Afferent(double p_aff, const double* p) {
  const double e = std::exp((p_aff - p[kPn]) / p[kKa]);
  return (p[kFmin] + p[kFmax] * e) / (1.0 + e);
}
double Sympathetic(double fcs, const double* p) {
  return p[kFesInf] + (p[kFes0] - p[kFesInf]) * std::exp(-p[kKes] * fcs);
}
double Vagal(double fcs, const double* p) {
  const double e = std::exp((fcs - p[kFcs0]) / p[kKev]);
  return (p[kFev0] + p[kFevInf] * e) / (1.0 + e);
}
// Efferent activity of an effector for afferent firing fcs. Ursino 1998: the sympathetic effect
// is sigma = G ln(fes - fes,min + 1) above threshold, 0 below; the vagal effect on T is linear
// in fev. Returns the factor of the gain G.
constexpr int kVagalEffector = kNumEffectors - 1;
double EfferentActivity(int effector, double fcs, const double* p) {
  if (effector == kVagalEffector) return Vagal(fcs, p);
  const double fes = Sympathetic(fcs, p);
  return fes >= p[kFesMin] ? std::log(fes - p[kFesMin] + 1.0) : 0.0;
}

// Pressures and flows of one state.
struct Hemo {
  double ppa, ppp, ppv, pla, plv, psa, pper, psv, pev, pra, prv;
  double fpp, fpv, fil, fol, fsp, fep, fsv, fev, fir, for_;
  double period;
};

double HeartPeriod(const double* x, const double* p) {
  return std::clamp(p[kT0] + x[kDTs] + x[kDTv], kTMin, kTMax);
}

// Activation phi(u) of the ventricles: sin^2(pi u T / Tsys) in systole, 0 in diastole, with u
// the fraction of the current beat elapsed and Tsys = Tsys0 - ksys / T.
double Activation(double phase, double period, const double* p) {
  const double u = phase - std::floor(phase);
  const double tsys = std::clamp(p[kTsys0] - p[kKsys] / period, 0.05 * period, 0.95 * period);
  const double s = u * period / tsys;
  if (s >= 1.0) return 0.0;
  const double v = std::sin(std::numbers::pi * s);
  return v * v;
}

// One ventricle: isometric pressure Pmax, ejection through R = kR Pmax into p_out, filling from
// p_in through r_in; both valves let blood pass one way only.
void Ventricle(double phi, double v, double emax, double vu, double p0, double ke, double kr,
               double p_in, double r_in, double p_out, double* pv, double* f_in, double* f_out) {
  const double pmax = phi * emax * (v - vu) + (1.0 - phi) * p0 * (std::exp(ke * v) - 1.0);
  *f_out = pmax > p_out ? (pmax - p_out) / (kr * pmax) : 0.0;
  *pv = pmax - kr * pmax * *f_out;
  *f_in = p_in > *pv ? (p_in - *pv) / r_in : 0.0;
}

Hemo Hemodynamics(const double* x, const double* p) {
  Hemo h;
  const double vaso = 1.0 + p[kEvaso];
  const double rsp = (p[kRsp0] + x[kDRsp]) * vaso, rep = (p[kRep0] + x[kDRep]) * vaso;
  h.ppa = x[kVpa] / p[kCpa];
  h.ppp = (x[kVpp] - p[kVupp]) / p[kCpp];
  h.ppv = (x[kVpv] - p[kVupv]) / p[kCpv];
  h.pla = (x[kVla] - p[kVula]) / p[kCla];
  h.psa = x[kVsa] / p[kCsa];
  h.pper = (x[kVper] - p[kVusp] - p[kVuep]) / (p[kCsp] + p[kCep]);
  h.psv = (x[kVsv] - p[kVusv0] - x[kDVusv]) / p[kCsv];
  h.pev = (x[kVev] - x[kHaem] - p[kVuev0] - x[kDVuev]) / p[kCev];
  h.pra = (x[kVra] - p[kVura]) / p[kCra];
  h.period = HeartPeriod(x, p);
  const double phi = Activation(x[kPhase], h.period, p);
  Ventricle(phi, x[kVlv], p[kEmaxLv0] + x[kDEmaxLv], p[kVulv], p[kP0lv], p[kKElv], p[kKRlv], h.pla,
            p[kRla], h.psa, &h.plv, &h.fil, &h.fol);
  Ventricle(phi, x[kVrv], p[kEmaxRv0] + x[kDEmaxRv], p[kVurv], p[kP0rv], p[kKErv], p[kKRrv], h.pra,
            p[kRra], h.ppa, &h.prv, &h.fir, &h.for_);
  h.fpp = (h.ppp - h.ppv) / p[kRpp];
  h.fpv = (h.ppv - h.pla) / p[kRpv];
  h.fsp = (h.pper - h.psv) / rsp;
  h.fep = (h.pper - h.pev) / rep;
  h.fsv = (h.psv - h.pra) / p[kRsv];
  h.fev = (h.pev - h.pra) / p[kRev];
  return h;
}

// Filtered carotid pressure at time tau from the run's history (the present state when no
// history is bound, i.e. outside a simulation run).
double PastAfferent(double tau, const double* x) {
  const StateHistory* hist = StateHistory::Current();
  if (hist == nullptr || hist->empty()) return x[kPaff];
  return hist->At(tau, kPaff);
}

// What the observables report: one completed beat (or the part of the first beat so far).
struct Beat {
  double sbp, dbp, map, cvp, sv, period;  // period: the beat's duration, or T now if partial
};

ModelSpec CvsSpec() {
  ModelSpec s;
  s.name = "cvs_ursino1998";
  s.title = "Closed-loop circulation with a pulsating heart and carotid baroreflex (Ursino 1998)";
  s.description =
      "Lumped systemic (arteries, splanchnic and extrasplanchnic peripheral and venous beds) and "
      "pulmonary circulation with a time-varying-elastance left and right heart and a carotid "
      "baroreflex acting with pure delays on heart period, end-systolic elastances, peripheral "
      "resistances and venous unstressed volumes (Ursino 1998). Time in s, volumes in mL, "
      "pressures in mmHg. Fluids: doses into Vev (mL, RATE mL/s). Haemorrhage: doses into "
      "haemorrhage (mL of blood lost, RATE mL/s). Vasopressor: EVASO or the VASO covariate. "
      "Per-beat observables describe the last completed beat.";
  s.citation =
      "Ursino M. Interaction between carotid baroregulation and the pulsating heart: a "
      "mathematical model. Am J Physiol 1998;275(5):H1733-H1747. "
      "doi:10.1152/ajpheart.1998.275.5.H1733";
  s.time_unit = "s";
  s.states = {
      {"Vpa", "mL", "pulmonary arterial volume", false},
      {"Fpa", "mL/s", "pulmonary arterial flow", false},
      {"Vpp", "mL", "pulmonary peripheral volume", false},
      {"Vpv", "mL", "pulmonary venous volume", false},
      {"Vla", "mL", "left atrial volume", false},
      {"Vlv", "mL", "left ventricular volume", false},
      {"Vsa", "mL", "systemic arterial volume", false},
      {"Fsa", "mL/s", "systemic arterial flow", false},
      {"Vper", "mL", "systemic peripheral volume (splanchnic + extrasplanchnic)", false},
      {"Vsv", "mL", "splanchnic venous volume", false},
      {"Vev", "mL", "extrasplanchnic venous volume plus blood lost (fluids are given here)", true},
      {"Vra", "mL", "right atrial volume", false},
      {"Vrv", "mL", "right ventricular volume", false},
      {"haemorrhage", "mL", "cumulative blood lost (doses are bleeds)", true},
      {"Pafferent", "mmHg", "filtered carotid sinus pressure", false},
      {"dEmaxlv", "mmHg/mL", "baroreflex change of Emax,lv", false},
      {"dEmaxrv", "mmHg/mL", "baroreflex change of Emax,rv", false},
      {"dRsp", "mmHg*s/mL", "baroreflex change of Rsp", false},
      {"dRep", "mmHg*s/mL", "baroreflex change of Rep", false},
      {"dVusv", "mL", "baroreflex change of Vu,sv", false},
      {"dVuev", "mL", "baroreflex change of Vu,ev", false},
      {"dTs", "s", "sympathetic change of the heart period", false},
      {"dTv", "s", "vagal change of the heart period", false},
      {"phase", "beats", "heart beats since the start (integral of 1/T)", false},
  };
  for (const ParamDef& d : kParamDefs) {
    s.parameters.push_back(
        ParameterSpec{d.name, d.unit, d.typical, d.lower, d.upper, d.description, d.source});
  }
  s.covariates = {{"VASO", "1",
                   "vasoactive drug effect on Rsp and Rep (fraction), added to EVASO; may change "
                   "between records",
                   0.0, false, false, -0.9, 10.0},
                  {"BAROREFLEX", "1",
                   "1: reflex intact; 0: effectors held at their values from this record on "
                   "(open loop); multiplies BARO",
                   1.0, false, false, 0.0, 1.0}};
  const ResidualError none{ErrorModel::kAdditive, 0.0, 0.0, 0.0};
  // Illustrative monitor noise of a minute's HR and MAP (docs: "Outputs"); Ursino 1998 has no
  // measurement model. The other observables declare none.
  const ResidualError hr_error{ErrorModel::kAdditive, kHrNoiseSdPerMin, 0.0, 0.0};
  const ResidualError map_error{ErrorModel::kAdditive, kMapNoiseSdMmHg, 0.0, 0.0};
  s.observables = {
      {"HR", "1/min", "heart rate of the last completed beat (60 / its duration)", hr_error},
      {"SBP", "mmHg", "systolic (maximum) arterial pressure of the last beat", none},
      {"DBP", "mmHg", "diastolic (minimum) arterial pressure of the last beat", none},
      {"MAP", "mmHg", "mean arterial pressure over the last beat", map_error},
      {"CO", "L/min", "cardiac output, SV * HR", none},
      {"SV", "mL", "stroke volume of the last beat (max - min of Vlv)", none},
      {"CVP", "mmHg", "central venous (right atrial) pressure, mean over the last beat", none},
      {"PSA", "mmHg", "instantaneous systemic arterial pressure", none},
      {"BV", "mL", "circulating blood volume (VT + fluids - haemorrhage)", none},
  };
  // Illustrative between-subject variability (Ursino 1998 describes one typical subject).
  s.variability = {{"VT", "RSP0", "REP0", "EMAXLV0", "T0"},
                   internal::DiagonalOmega(
                       {internal::OmegaSquaredFromCv(0.08), internal::OmegaSquaredFromCv(0.15),
                        internal::OmegaSquaredFromCv(0.15), internal::OmegaSquaredFromCv(0.15),
                        internal::OmegaSquaredFromCv(0.10)})};
  s.covariate_formulas = {
      "Rsp = (RSP0 + dRsp) * (1 + EVASO + VASO), Rep = (REP0 + dRep) * (1 + EVASO + VASO)",
      "T = T0 + dTs + dTv; theta = theta0 + dtheta for Emax,lv, Emax,rv, Vu,sv, Vu,ev",
      "effector dynamics scaled by BARO * BAROREFLEX (0 = open loop, effectors held)"};
  s.default_dose_state = kVev;
  return s;
}

class CvsUrsino1998 final : public Model {
 public:
  CvsUrsino1998() : Model(CvsSpec()) {}

  Status Individualize(std::span<const double> theta, std::span<const double> eta,
                       std::span<const double> covariates, std::span<double> out) const override {
    MEDTWIN_RETURN_IF_ERROR(Model::Individualize(theta, eta, covariates, out));
    out[kEvaso] += covariates[0];
    out[kBaro] *= covariates[1];
    if (!(out[kEvaso] > -0.9)) {
      return Status::Invalid("EVASO + VASO = " + internal::FormatNumber(out[kEvaso]) +
                             ": the peripheral resistances would fall by 90 % or more; expected "
                             "a total above -0.9");
    }
    return Status::Ok();
  }

  bool reads_history() const override { return true; }
  // The longest effector delay, plus two beats of the longest period for LastBeat.
  double HistoryHorizon(const double* p) const override {
    double d = 0.0;
    for (int e = 0; e < kNumEffectors; ++e) d = std::max(d, p[kDelay0 + e]);
    return d + 2.0 * kTMax;
  }

  void InitialState(const double* p, double* x) const override;
  void Rhs(double t, const double* x, const double* p, double* dxdt) const override;
  void Observe(double t, const double* x, const double* p, double* y) const override;

 private:
  Beat LastBeat(double t, const double* x, const double* p) const;
};

// A resting operating point (pressures in mmHg, flow in mL/s) from which the loop settles within
// about a minute; the venous pressure is then chosen so that the volumes add up to VT.
void CvsUrsino1998::InitialState(const double* p, double* x) const {
  std::fill(x, x + kNumStates, 0.0);
  const double p_aff = 92.0, flow = 85.0;
  x[kPaff] = p_aff;
  const double fcs = Afferent(p_aff, p);
  for (int e = 0; e < kNumEffectors; ++e) {
    x[kDEmaxLv + e] = p[kGain0 + e] * EfferentActivity(e, fcs, p);
  }
  x[kVsa] = p[kCsa] * p_aff;
  x[kFsa] = flow;
  x[kVper] = p[kVusp] + p[kVuep] + (p[kCsp] + p[kCep]) * 30.0;
  x[kVpa] = p[kCpa] * 16.0;
  x[kFpa] = flow;
  x[kVpp] = p[kVupp] + p[kCpp] * 12.0;
  x[kVpv] = p[kVupv] + p[kCpv] * 8.0;
  x[kVla] = p[kVula] + p[kCla] * 7.0;
  x[kVlv] = 120.0;
  x[kVrv] = 130.0;
  x[kVra] = p[kVura] + p[kCra] * 4.0;
  const double vusv = p[kVusv0] + x[kDVusv], vuev = p[kVuev0] + x[kDVuev];
  double fixed = 0.0;
  for (int i : {kVsa, kVper, kVpa, kVpp, kVpv, kVla, kVlv, kVrv, kVra}) fixed += x[i];
  // The systemic veins share one pressure; it may come out negative for a small VT.
  const double p_ven = (p[kVt] - fixed - vusv - vuev) / (p[kCsv] + p[kCev]);
  x[kVsv] = vusv + p[kCsv] * p_ven;
  x[kVev] = vuev + p[kCev] * p_ven;
}

void CvsUrsino1998::Rhs(double t, const double* x, const double* p, double* dxdt) const {
  const Hemo h = Hemodynamics(x, p);
  dxdt[kVpa] = h.for_ - x[kFpa];
  dxdt[kFpa] = (h.ppa - h.ppp - p[kRpa] * x[kFpa]) / p[kLpa];
  dxdt[kVpp] = x[kFpa] - h.fpp;
  dxdt[kVpv] = h.fpp - h.fpv;
  dxdt[kVla] = h.fpv - h.fil;
  dxdt[kVlv] = h.fil - h.fol;
  dxdt[kVsa] = h.fol - x[kFsa];
  dxdt[kFsa] = (h.psa - h.pper - p[kRsa] * x[kFsa]) / p[kLsa];
  dxdt[kVper] = x[kFsa] - h.fsp - h.fep;
  dxdt[kVsv] = h.fsp - h.fsv;
  dxdt[kVev] = h.fep - h.fev;
  dxdt[kVra] = h.fsv + h.fev - h.fir;
  dxdt[kVrv] = h.fir - h.for_;
  dxdt[kHaem] = 0.0;
  // Afferent pathway: tau_p dP~/dt = Pcs + tau_z dPcs/dt - P~.
  const bool clamped = p[kPcsClamp] > 0.0;
  const double pcs = clamped ? p[kPcsClamp] : h.psa;
  const double dpcs = clamped ? 0.0 : dxdt[kVsa] / p[kCsa];
  dxdt[kPaff] = (pcs + p[kTauZ] * dpcs - x[kPaff]) / p[kTauP];
  // Effectors read the afferent pressure one pure delay ago. Most share a delay (Ursino 1998: 2 s
  // for five of the eight): each distinct delay is looked up once, and the sympathetic activity
  // of each computed once (only the last effector is vagal).
  std::array<double, kNumEffectors> fcs, activity;
  for (int e = 0; e < kNumEffectors; ++e) {
    const double delay = p[kDelay0 + e];
    int same = 0;  // the first effector with this delay
    while (same < e && p[kDelay0 + same] != delay) ++same;
    const bool shared = same < e;
    fcs[e] = shared ? fcs[same] : Afferent(delay > 0.0 ? PastAfferent(t - delay, x) : x[kPaff], p);
    activity[e] = shared && e != kVagalEffector ? activity[same] : EfferentActivity(e, fcs[e], p);
    const double drive = p[kGain0 + e] * activity[e];
    dxdt[kDEmaxLv + e] = p[kBaro] * (drive - x[kDEmaxLv + e]) / p[kTau0 + e];
  }
  dxdt[kPhase] = 1.0 / h.period;
}

// Stroke volume of the beat [t_start, t_end]: max - min of Vlv over the solver's recorded states
// in it and the beat's two ends. Both extremes lie on isovolumic plateaus (both valves shut, Vlv
// constant), where recorded states fall; the interpolant between records overshoots at the valve
// kinks beside them by up to ~h |dVlv/dt| / 10 for a step h straddling one (0.3 mL at rtol 1e-5
// with Dormand-Prince steps, against 0.08 mL from the records).
double StrokeVolume(const StateHistory& hist, double t_start, double t_end) {
  std::array<double, kNumStates> y;
  hist.At(t_start, y.data());
  double vmax = y[kVlv], vmin = y[kVlv];
  hist.At(t_end, y.data());
  vmax = std::max(vmax, y[kVlv]);
  vmin = std::min(vmin, y[kVlv]);
  for (size_t k = hist.FirstAtOrAfter(t_start); k < hist.size() && hist.time(k) <= t_end; ++k) {
    vmax = std::max(vmax, hist.state(k)[kVlv]);
    vmin = std::min(vmin, hist.state(k)[kVlv]);
  }
  return vmax - vmin;
}

// The beat that ended last before t: its start and end are the times where the phase crossed
// the integers k-1 and k (k = floor(phase(t))), found by bisection on the recorded history.
Beat CvsUrsino1998::LastBeat(double t, const double* x, const double* p) const {
  const StateHistory* hist = StateHistory::Current();
  const Hemo now = Hemodynamics(x, p);
  if (hist == nullptr || hist->empty() || hist->first_time() >= t) {
    return Beat{now.psa, now.psa, now.psa, now.pra, 0.0, now.period};
  }
  std::array<double, kNumStates> y;
  const auto phase_at = [&](double tau) {
    hist->At(tau, y.data());
    return y[kPhase];
  };
  // Latest time in [lo, t] at which the phase equals `target` (phase is increasing).
  const auto crossing = [&](double target, double hi) {
    double lo = hi;
    do {
      lo = std::max(hist->first_time(), lo - kTMax);
    } while (lo > hist->first_time() && phase_at(lo) > target);
    if (phase_at(lo) > target) return lo;
    for (int i = 0; i < 60 && hi - lo > 1e-9; ++i) {
      const double mid = 0.5 * (lo + hi);
      (phase_at(mid) > target ? hi : lo) = mid;
    }
    return 0.5 * (lo + hi);
  };
  const double k = std::floor(x[kPhase]);
  double t_end = t, t_start = hist->first_time();
  const bool complete = k >= 1.0 && phase_at(hist->first_time()) <= k - 1.0;
  if (complete) {
    t_end = crossing(k, t);
    t_start = crossing(k - 1.0, t_end);
  }
  constexpr int kSamples = 200;
  Beat b{-kInf, kInf, 0.0, 0.0, 0.0, t_end - t_start};
  double prev_psa = 0.0, prev_pra = 0.0;
  for (int i = 0; i <= kSamples; ++i) {
    const double tau = t_start + (t_end - t_start) * i / kSamples;
    hist->At(tau, y.data());
    const double psa = y[kVsa] / p[kCsa], pra = (y[kVra] - p[kVura]) / p[kCra];
    b.sbp = std::max(b.sbp, psa);
    b.dbp = std::min(b.dbp, psa);
    if (i > 0) {  // trapezoidal means
      b.map += 0.5 * (psa + prev_psa) / kSamples;
      b.cvp += 0.5 * (pra + prev_pra) / kSamples;
    }
    prev_psa = psa;
    prev_pra = pra;
  }
  b.sv = StrokeVolume(*hist, t_start, t_end);
  if (!complete) b.period = now.period;  // the first beat so far: the heart's period now
  if (!(t_end > t_start)) b = Beat{now.psa, now.psa, now.psa, now.pra, 0.0, now.period};
  return b;
}

void CvsUrsino1998::Observe(double t, const double* x, const double* p, double* y) const {
  const Beat b = LastBeat(t, x, p);
  const double hr = 60.0 / b.period;
  y[0] = hr;
  y[1] = b.sbp;
  y[2] = b.dbp;
  y[3] = b.map;
  y[4] = b.sv * hr / 1000.0;
  y[5] = b.sv;
  y[6] = b.cvp;
  y[7] = x[kVsa] / p[kCsa];
  double volume = -x[kHaem];
  for (int i : {kVpa, kVpp, kVpv, kVla, kVlv, kVsa, kVper, kVsv, kVev, kVra, kVrv}) {
    volume += x[i];
  }
  y[8] = volume;
}

}  // namespace

std::unique_ptr<Model> MakeCvsUrsino1998() { return std::make_unique<CvsUrsino1998>(); }

}  // namespace medtwin
