// Tests of t1d_uvapadova. Meals arrive as infusions whose start resets the meal bookkeeping
// (Model::OnDoseStart), so most tests run the model through the simulator and the dataset reader.
// The 30 virtual patients are read at test time from ../shared/data/t1d (never copied here).
#include "model/t1d_uvapadova.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "medtwin/cgm_sensor.h"
#include "medtwin/dataset.h"
#include "medtwin/parameter_table.h"
#include "medtwin/simulator.h"
#include "model/model_test_util.h"

namespace medtwin {
namespace {

const std::string kPatients = std::string(MEDTWIN_SHARED_DATA) + "/t1d/vpatient_params.csv";
const std::string kSensors = std::string(MEDTWIN_SHARED_DATA) + "/t1d/sensor_params.csv";

int State(const Model& m, const char* name) { return m.spec().StateIndex(name); }
int Obs(const Model& m, const char* name) { return m.spec().ObservableIndex(name); }
double Par(const Model& m, const std::vector<double>& p, const char* name) {
  return p[m.spec().ParameterIndex(name)];
}

// Basal insulin infusion (U/min) that holds the insulin subsystem of parameters p at its basal
// steady state: Rai = (m2 + m4) Ip - m1 Il at Ip = x0_6, Il = x0_10 (pmol/kg/min), times BW/6000.
double BasalUPerMin(const Model& m, const std::vector<double>& p) {
  const double rai = (Par(m, p, "m2") + Par(m, p, "m4")) * Par(m, p, "x0_6") -
                     Par(m, p, "m1") * Par(m, p, "x0_10");
  return rai * Par(m, p, "BW") / kT1dPmolPerU;
}

// A dataset: basal insulin from t = 0 for `days`, optional meals (time min, g, g/min), and
// observation rows every `step_min`.
std::string Regimen(double basal_u_per_min, double days, double step_min,
                    const std::vector<std::array<double, 3>>& meals = {}) {
  std::ostringstream os;
  os.precision(17);
  const double end_min = days * 1440.0;
  os << "ID,TIME,EVID,CMT,AMT,RATE\n";
  os << "1,0,1,insulin," << basal_u_per_min * (end_min + 1.0) << "," << basal_u_per_min << "\n";
  size_t k = 0;
  for (double t = 0.0; t <= end_min + 1e-9; t += step_min) {
    while (k < meals.size() && meals[k][0] <= t) {
      os << "1," << meals[k][0] << ",1,meal," << meals[k][1] << "," << meals[k][2] << "\n";
      ++k;
    }
    os << "1," << t << ",0,.,.,.\n";
  }
  return os.str();
}

// Parameters p with the named ones replaced.
std::vector<double> With(const Model& m, std::vector<double> p,
                         const std::vector<std::pair<const char*, double>>& values) {
  for (const auto& [name, v] : values) {
    const int i = m.spec().ParameterIndex(name);
    EXPECT_GE(i, 0) << name;
    if (i >= 0) p[i] = v;
  }
  return p;
}

SimOutput Simulate(const Model& m, const std::string& csv, const std::vector<double>& theta) {
  Result<Dataset> data = ReadDataset(csv, m);
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  SimOptions opt;
  opt.rtol = 1e-8;
  opt.atol = 1e-8;
  Simulator sim(m, opt);
  Result<SimOutput> out = sim.Run(*data, 0, OutputRequest{}, {theta, {}});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? std::move(out).value() : SimOutput{};
}

TEST(T1dUvaPadova, SpecIsValidAndFollowsTheReferenceStateOrder) {
  auto m = MakeT1dUvaPadova();
  ASSERT_TRUE(m->spec().Validate().ok()) << m->spec().Validate().ToString();
  EXPECT_EQ(m->spec().time_unit, "min");
  // DOMAIN.md 4.1: x0 order Qsto1, Qsto2, Qgut, Gp, Gt, Ip, X, I1, Id, Il, Isc1, Isc2, Gs.
  const char* order[] = {"meal", "Qsto2", "Qgut", "Gp",      "Gt",   "Ip", "X",
                         "I1",   "Id",    "Il",   "insulin", "Isc2", "Gs"};
  for (int i = 0; i < 13; ++i) EXPECT_EQ(State(*m, order[i]), i) << order[i];
  EXPECT_GE(Obs(*m, "BG"), 0);
  EXPECT_GE(Obs(*m, "CGM"), 0);
}

// The default (Dalla Man 2007 Table 1 kinetics, basal state built at Gb = 100 mg/dL) is a steady
// state under its basal insulin: every derivative vanishes.
TEST(T1dUvaPadova, DefaultSubjectIsAtSteadyStateOnBasalInsulin) {
  auto m = MakeT1dUvaPadova();
  const std::vector<double> p = testing::TypicalParameters(*m);
  std::vector<double> x(m->num_states()), dx(m->num_states());
  m->InitialState(p.data(), x.data());
  m->Rhs(0.0, x.data(), p.data(), dx.data());
  dx[State(*m, "insulin")] += BasalUPerMin(*m, p);
  for (int i = 0; i < m->num_states(); ++i) {
    EXPECT_NEAR(dx[i], 0.0, 1e-9 * std::max(1.0, std::abs(x[i]))) << m->spec().states[i].name;
  }
  std::vector<double> y(m->num_observables());
  m->Observe(0.0, x.data(), p.data(), y.data());
  EXPECT_NEAR(y[Obs(*m, "BG")], 100.0, 1e-9);
}

// Each of the 30 UVA/Padova virtual patients stays at its basal glucose Gb for 24 h on its
// basal insulin u2ss (pmol/kg/min; U/min = u2ss * BW / 6000, DOMAIN.md 4.1) and no meals.
TEST(T1dUvaPadova, EveryVirtualPatientStaysAtBasalGlucoseFor24h) {
  auto m = MakeT1dUvaPadova();
  Result<ParameterTable> table = ParameterTable::ReadFile(kPatients);
  ASSERT_TRUE(table.ok()) << table.status().ToString() << " (needs ../shared/data/t1d)";
  const std::vector<std::string> names = table->SetNames();
  ASSERT_EQ(names.size(), 30u);
  for (const std::string& name : names) {
    Result<std::vector<double>> theta = table->ParametersFor(m->spec(), name);
    ASSERT_TRUE(theta.ok()) << theta.status().ToString();
    const double u2ss = *table->Value(name, "u2ss"), bw = *table->Value(name, "BW");
    const double gb = *table->Value(name, "Gb");
    const SimOutput out = Simulate(*m, Regimen(u2ss * bw / kT1dPmolPerU, 1.0, 60.0), *theta);
    ASSERT_EQ(out.rows(), 25u) << name;
    for (size_t r = 0; r < out.rows(); ++r) {
      const double bg = out.observables[r * m->num_observables() + Obs(*m, "BG")];
      const double cgm = out.observables[r * m->num_observables() + Obs(*m, "CGM")];
      EXPECT_NEAR(bg, gb, 0.01 * gb) << name << " at t=" << out.time_h[r] << " min";
      EXPECT_NEAR(cgm, gb, 0.01 * gb) << name << " at t=" << out.time_h[r] << " min";
    }
  }
}

// Mass balance of the gut: carbohydrate eaten = what is still in stomach and gut + what was
// absorbed, and the absorbed part appears in plasma with the fraction f (Dalla Man 2007: Ra =
// f kabs Qgut / BW). The Ra integral is taken independently of the states (trapezoids of the Ra
// observable on a 1-min grid).
TEST(T1dUvaPadova, GutMassBalanceAndFractionAppearingInPlasma) {
  auto m = MakeT1dUvaPadova();
  const std::vector<double> p = testing::TypicalParameters(*m);
  const double meal_g = 60.0;
  const SimOutput out =
      Simulate(*m, Regimen(BasalUPerMin(*m, p), 1.0, 1.0, {{{30.0, meal_g, 5.0}}}), p);
  const int no = m->num_observables(), n = m->num_states();
  const double bw = Par(*m, p, "BW"), f = Par(*m, p, "f");
  double ra_integral = 0.0;  // mg/kg
  for (size_t r = 1; r < out.rows(); ++r) {
    const double dt = out.time_h[r] - out.time_h[r - 1];
    ra_integral +=
        0.5 * dt *
        (out.observables[(r - 1) * no + Obs(*m, "Ra")] + out.observables[r * no + Obs(*m, "Ra")]);
    if (out.time_h[r] < 42.0) continue;  // the meal is eaten by t = 42 min
    const double* x = &out.states[r * n];
    const double in_gut_mg =
        x[State(*m, "meal")] * kT1dMgPerG + x[State(*m, "Qsto2")] + x[State(*m, "Qgut")];
    const double absorbed_mg = ra_integral * bw / f;
    EXPECT_NEAR(in_gut_mg + absorbed_mg, meal_g * kT1dMgPerG, 2e-3 * meal_g * kT1dMgPerG)
        << "t=" << out.time_h[r];
  }
  // After 24 h essentially everything has been absorbed: Ra integral = f * D / BW.
  EXPECT_NEAR(ra_integral, f * meal_g * kT1dMgPerG / bw, 2e-3 * f * meal_g * kT1dMgPerG / bw);
}

// Gastric emptying as described by Dalla Man 2007 (from Dalla Man et al., IEEE TBME 2006): kempt is
// kmax while the stomach is full (Qsto = D), falls to kmin as it empties (between c*D and b*D)
// and returns towards kmax when it is nearly empty. Read through the flux Qsto2 -> gut.
TEST(T1dUvaPadova, GastricEmptyingRateFollowsThePaperShape) {
  auto m = MakeT1dUvaPadova();
  const std::vector<double> p = testing::TypicalParameters(*m);
  const double kmax = Par(*m, p, "kmax"), kmin = Par(*m, p, "kmin");
  const double b = Par(*m, p, "b"), c = Par(*m, p, "d");
  auto kempt_at = [&](double q) {  // fraction q = Qsto / D, all in Qsto2, D = 50 g
    std::vector<double> x(m->num_states(), 0.0), dx(m->num_states());
    m->InitialState(p.data(), x.data());
    const double d_mg = 50000.0;
    x[State(*m, "meal")] = 0.0;
    x[State(*m, "Qsto2")] = q * d_mg;
    x[State(*m, "Qgut")] = 0.0;
    x[State(*m, "emptied")] = (1.0 - q) * d_mg;
    m->Rhs(0.0, x.data(), p.data(), dx.data());
    return dx[State(*m, "Qgut")] / x[State(*m, "Qsto2")];
  };
  EXPECT_NEAR(kempt_at(1.0), kmax, 0.02 * (kmax - kmin));
  EXPECT_NEAR(kempt_at(0.5 * (b + c)), kmin, 0.02 * kmin);
  EXPECT_GT(kempt_at(1e-4), kmax - 0.02 * (kmax - kmin));
  // Monotone fall from full to the middle of the plateau.
  double prev = kempt_at(1.0);
  for (double q = 0.95; q >= 0.5; q -= 0.05) {
    const double k = kempt_at(q);
    EXPECT_LE(k, prev + 1e-12) << "q=" << q;
    prev = k;
  }
}

// The meal size D of kempt is the meal being eaten: a second meal starts a new D. Two equal meals
// 12 h apart (the first fully absorbed) give the same Ra curve; without the reset at the second
// meal's start, D would be 120 g and the second curve would differ.
TEST(T1dUvaPadova, EachMealStartsANewMealSize) {
  auto m = MakeT1dUvaPadova();
  const std::vector<double> p = testing::TypicalParameters(*m);
  const SimOutput out = Simulate(
      *m, Regimen(BasalUPerMin(*m, p), 1.0, 1.0, {{{60.0, 60.0, 5.0}}, {{780.0, 60.0, 5.0}}}), p);
  const int no = m->num_observables();
  double peak = 0.0;
  for (int k = 0; k <= 600; ++k) peak = std::max(peak, out.observables[(60 + k) * no + 3]);
  ASSERT_GT(peak, 1.0);  // mg/kg/min
  for (int k = 0; k <= 600; k += 10) {
    const double ra1 = out.observables[(60 + k) * no + Obs(*m, "Ra")];
    const double ra2 = out.observables[(780 + k) * no + Obs(*m, "Ra")];
    // The first meal leaves a trace (< 1e-3 of the peak) in the gut 12 h later.
    EXPECT_NEAR(ra2, ra1, 1e-3 * peak) << "minute " << k << " after the meal";
  }
}

// A meal given as a bolus (no RATE) is the paper's instantaneous ingestion D*delta(t): the whole
// meal is in the solid stomach at once and D is its size.
TEST(T1dUvaPadova, MealWithoutRateIsInstantaneousIngestion) {
  auto m = MakeT1dUvaPadova();
  const std::vector<double> p = testing::TypicalParameters(*m);
  const std::string csv = "ID,TIME,EVID,CMT,AMT,RATE\n1,0,1,meal,45,.\n1,0,0,.,.,.\n1,1,0,.,.,.\n";
  const SimOutput out = Simulate(*m, csv, p);
  ASSERT_EQ(out.rows(), 2u);
  EXPECT_DOUBLE_EQ(out.states[State(*m, "meal")], 45.0);
  // After 1 min: solid stomach decays at kgri = kmax.
  EXPECT_NEAR(out.states[m->num_states() + State(*m, "meal")], 45.0 * std::exp(-Par(*m, p, "kmax")),
              1e-6);
}

TEST(T1dUvaPadova, BadMealsAreRejectedWithTheField) {
  auto m = MakeT1dUvaPadova();
  Result<Dataset> negative = ReadDataset("ID,TIME,CMT,AMT,RATE\n1,0,meal,-20,5\n", *m);
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("AMT"), std::string::npos)
      << negative.status().ToString();
  Result<Dataset> no_size = ReadDataset("ID,TIME,EVID,CMT,AMT,RATE\n1,0,1,meal,0,5\n", *m);
  ASSERT_FALSE(no_size.ok());
  EXPECT_NE(no_size.status().message().find("AMT"), std::string::npos);
  Result<Dataset> bad_rate = ReadDataset("ID,TIME,CMT,AMT,RATE\n1,0,meal,50,-3\n", *m);
  ASSERT_FALSE(bad_rate.ok());
  EXPECT_NE(bad_rate.status().message().find("RATE"), std::string::npos);
}

TEST(T1dUvaPadova, ParameterTableErrorsNameFileLineAndColumn) {
  auto m = MakeT1dUvaPadova();
  Result<ParameterTable> table = ParameterTable::ReadFile(kPatients);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  Result<std::vector<double>> unknown = table->ParametersFor(m->spec(), "adult#999");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("adult#999"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("adult#001"), std::string::npos);  // lists known

  Result<ParameterTable> missing = ParameterTable::Parse("Name,BW\np1,70\n", "mini.csv");
  ASSERT_TRUE(missing.ok());
  Result<std::vector<double>> no_column = missing->ParametersFor(m->spec(), "p1");
  ASSERT_FALSE(no_column.ok());
  EXPECT_NE(no_column.status().message().find("no column for parameter Vg"), std::string::npos)
      << no_column.status().ToString();

  Result<ParameterTable> text = ParameterTable::Parse("Name,BW\np1,70\np2,heavy\n", "mini.csv");
  ASSERT_TRUE(text.ok());
  Result<double> v = text->Value("p2", "BW");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("mini.csv line 3, column BW: 'heavy'"), std::string::npos)
      << v.status().ToString();
  EXPECT_FALSE(ParameterTable::Parse("Name,BW\np1,70\np1,71\n", "dup.csv").ok());
  EXPECT_FALSE(ParameterTable::Parse("Name,BW\np1,70,3\n", "wide.csv").ok());
}

// Headers are matched to parameters ignoring case and spaces, so `BW` and `b w` would both be
// parameter BW: the table is refused naming both columns instead of silently using the first.
TEST(ParameterTable, HeadersEqualIgnoringCaseAndSpacesAreAnError) {
  for (const char* second : {"bw", "B W"}) {
    const std::string text = std::string("Name,BW,Vg,") + second + "\np1,70,1.9,80\n";
    Result<ParameterTable> t = ParameterTable::Parse(text, "twice.csv");
    ASSERT_FALSE(t.ok()) << second;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    const std::string& msg = t.status().message();
    EXPECT_NE(msg.find("twice.csv line 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'BW'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("'") + second + "'"), std::string::npos) << msg;
  }
  // Distinct names still parse.
  EXPECT_TRUE(ParameterTable::Parse("Name,BW,Vg\np1,70,1.9\n", "ok.csv").ok());
}

// The reference x0 columns are the patient's basal steady state (DOMAIN.md 4.1): the initial
// state from the table agrees with the basal columns Gpb, Gtb, Ipb, Ib, Ilb, isc1ss, isc2ss.
TEST(T1dUvaPadova, InitialStateFromTableIsTheBasalState) {
  auto m = MakeT1dUvaPadova();
  Result<ParameterTable> table = ParameterTable::ReadFile(kPatients);
  ASSERT_TRUE(table.ok());
  for (const std::string& name : table->SetNames()) {
    const std::vector<double> p = *table->ParametersFor(m->spec(), name);
    std::vector<double> x(m->num_states());
    m->InitialState(p.data(), x.data());
    const double bw = *table->Value(name, "BW");
    EXPECT_NEAR(x[State(*m, "Gp")], *table->Value(name, "Gpb"), 1e-6) << name;
    EXPECT_NEAR(x[State(*m, "Gt")], *table->Value(name, "Gtb"), 1e-6) << name;
    EXPECT_NEAR(x[State(*m, "Ip")], *table->Value(name, "Ipb"), 1e-6) << name;
    EXPECT_NEAR(x[State(*m, "Il")], *table->Value(name, "Ilb"), 1e-6) << name;
    EXPECT_NEAR(x[State(*m, "Id")], *table->Value(name, "Ib"), 1e-6) << name;
    EXPECT_NEAR(x[State(*m, "insulin")], *table->Value(name, "isc1ss") * bw / kT1dPmolPerU, 1e-9)
        << name;
    EXPECT_NEAR(x[State(*m, "Isc2")], *table->Value(name, "isc2ss"), 1e-6) << name;
    EXPECT_DOUBLE_EQ(x[State(*m, "meal")], 0.0);
  }
}

// The tests below isolate one subsystem each by switching the others off (parameters set to 0)
// and compare the simulated states with the analytic solution of the paper's equations
// (DOMAIN.md 4.1). Each was checked to fail with a deliberate error in the right-hand side
// (named in its comment).

// Insulin action at a held plasma insulin I (m1 = m2 = m4 = 0 and no s.c. insulin keep Ip
// constant): dX/dt = -p2u (X - (I - Ib)) gives X(t) = (I - Ib)(1 - exp(-p2u t)) from X = 0, and
// the two-stage delay dI1/dt = -ki (I1 - I), dId/dt = -ki (Id - I1) from I1 = Id = Ib gives
//   I1(t) = I + (Ib - I) exp(-ki t),   Id(t) = I + (Ib - I)(1 + ki t) exp(-ki t).
// Catches a reversed action, p2u (Ib - I), and a second stage fed by I instead of I1 (then Id
// would equal I1).
TEST(T1dUvaPadova, InsulinActionAndDelayChainAtHeldInsulinAreAnalytic) {
  auto m = MakeT1dUvaPadova();
  const std::vector<double> p =
      With(*m, testing::TypicalParameters(*m), {{"m1", 0.0}, {"m2", 0.0}, {"m4", 0.0}});
  const double ib = Par(*m, p, "Ib"), p2u = Par(*m, p, "p2u"), ki = Par(*m, p, "ki");
  const double vi = Par(*m, p, "Vi");
  for (double held : {ib + 60.0, 0.25 * ib}) {  // above and below basal, pmol/L
    std::vector<double> x(m->num_states());
    m->InitialState(p.data(), x.data());
    x[State(*m, "insulin")] = 0.0;
    x[State(*m, "Isc2")] = 0.0;
    x[State(*m, "Ip")] = held * vi;
    x[State(*m, "X")] = 0.0;
    x[State(*m, "I1")] = x[State(*m, "Id")] = ib;
    double t = 0.0;
    for (double t_next : {20.0, 60.0, 150.0, 400.0}) {
      testing::IntegrateRk4(*m, p.data(), t, t_next - t, 0.05, x);
      t = t_next;
      EXPECT_NEAR(x[State(*m, "Ip")] / vi, held, 1e-9 * held);
      const double decay = std::exp(-ki * t);
      EXPECT_NEAR(x[State(*m, "X")], (held - ib) * (1.0 - std::exp(-p2u * t)), 1e-7 * ib)
          << "I=" << held << " t=" << t;
      EXPECT_NEAR(x[State(*m, "I1")], held + (ib - held) * decay, 1e-7 * ib)
          << "I=" << held << " t=" << t;
      EXPECT_NEAR(x[State(*m, "Id")], held + (ib - held) * (1.0 + ki * t) * decay, 1e-7 * ib)
          << "I=" << held << " t=" << t;
    }
  }
}

// Renal excretion alone (EGP, Fsnc, utilisation and plasma-tissue exchange off): above the
// threshold ke2, dGp/dt = -ke1 (Gp - ke2), so Gp(t) = ke2 + (Gp0 - ke2) exp(-ke1 t); below it
// Gp does not move. Catches a wrong sign or a wrong threshold of the renal term.
TEST(T1dUvaPadova, RenalExcretionAloneDecaysToTheThresholdAtRateKe1) {
  auto m = MakeT1dUvaPadova();
  const std::vector<double> p = With(*m, testing::TypicalParameters(*m),
                                     {{"kp1", 0.0},
                                      {"kp2", 0.0},
                                      {"kp3", 0.0},
                                      {"Fsnc", 0.0},
                                      {"Vm0", 0.0},
                                      {"Vmx", 0.0},
                                      {"k1", 0.0},
                                      {"k2", 0.0},
                                      {"ke1", 0.002}});  // faster than Table 1's 0.0005 /min
  const double ke1 = 0.002, ke2 = Par(*m, p, "ke2");
  std::vector<double> x(m->num_states());
  m->InitialState(p.data(), x.data());
  const double gp0 = 700.0;  // mg/kg, BG 372 mg/dL
  x[State(*m, "Gp")] = gp0;
  double t = 0.0;
  for (double t_next : {100.0, 500.0, 1500.0}) {
    testing::IntegrateRk4(*m, p.data(), t, t_next - t, 0.5, x);
    t = t_next;
    EXPECT_NEAR(x[State(*m, "Gp")], ke2 + (gp0 - ke2) * std::exp(-ke1 * t), 1e-8 * gp0)
        << "t=" << t;
  }
  x[State(*m, "Gp")] = 0.9 * ke2;
  testing::IntegrateRk4(*m, p.data(), t, 500.0, 0.5, x);
  EXPECT_DOUBLE_EQ(x[State(*m, "Gp")], 0.9 * ke2);
}

// Glucose mass balance of a meal through the simulated states (not the Ra observable): with
// EGP, Fsnc, utilisation and renal excretion off, plasma and tissue glucose only exchange with
// each other and receive the meal, so at every time
//   Gp + Gt - (Gp + Gt)(0) + f (Qsto1 + Qsto2 + Qgut) / BW = f D / BW   (mg/kg),
// and once the meal is absorbed Gp + Gt has risen by exactly f D / BW (Dalla Man 2007:
// Ra = f kabs Qgut / BW). Catches a missing f or /BW in dGp/dt.
TEST(T1dUvaPadova, MealRaisesGlucoseMassByFTimesDoseOverBodyWeight) {
  auto m = MakeT1dUvaPadova();
  const std::vector<double> p = With(*m, testing::TypicalParameters(*m),
                                     {{"kp1", 0.0},
                                      {"kp2", 0.0},
                                      {"kp3", 0.0},
                                      {"Fsnc", 0.0},
                                      {"Vm0", 0.0},
                                      {"Vmx", 0.0},
                                      {"ke1", 0.0},
                                      {"f", 0.8},      // not Table 1's 0.9: f != 1 matters
                                      {"BW", 64.0}});  // not the default 78 kg
  const double f = 0.8, bw = 64.0, meal_g = 50.0, dose = f * meal_g * kT1dMgPerG / bw;
  std::ostringstream csv;
  csv << "ID,TIME,EVID,CMT,AMT,RATE\n1,0,1,meal," << meal_g << ",5\n";
  for (int t = 0; t <= 2880; t += 30) csv << "1," << t << ",0,.,.,.\n";
  const SimOutput out = Simulate(*m, csv.str(), p);
  const int n = m->num_states();
  ASSERT_EQ(out.rows(), 97u);
  const double g0 = out.states[State(*m, "Gp")] + out.states[State(*m, "Gt")];
  for (size_t r = 1; r < out.rows(); ++r) {
    const double* x = &out.states[r * n];
    const double gut_mg =
        x[State(*m, "meal")] * kT1dMgPerG + x[State(*m, "Qsto2")] + x[State(*m, "Qgut")];
    const double rise = x[State(*m, "Gp")] + x[State(*m, "Gt")] - g0;
    // The meal (50 g at 5 g/min) is eaten by t = 10 min.
    const double eaten_mg = std::min(out.time_h[r] * 5.0, meal_g) * kT1dMgPerG;
    EXPECT_NEAR(rise + f * gut_mg / bw, f * eaten_mg / bw, 1e-5 * dose) << "t=" << out.time_h[r];
  }
  const double* last = &out.states[(out.rows() - 1) * n];
  EXPECT_NEAR(last[State(*m, "Gp")] + last[State(*m, "Gt")] - g0, dose, 1e-4 * dose);
}

// A subcutaneous insulin bolus lowers plasma glucose through each of the two insulin actions
// (Dalla Man 2007: insulin raises utilisation, Vm0 + Vmx X, and suppresses EGP, -kp3 Id). On the
// default subject on basal insulin, 4 U at t = 0 keeps BG more than 5 mg/dL below a run without
// the bolus from 4 h to 6 h, with both actions, with EGP suppression only (Vmx = 0) and with
// utilisation only (kp3 = 0). Catches a reversed action on utilisation (Vm0 - Vmx X) or on EGP.
// Only the sign with a margin is asserted: the size of the fall is not published for this
// subject.
TEST(T1dUvaPadova, InsulinBolusLowersGlucoseThroughUtilisationAndEgp) {
  auto m = MakeT1dUvaPadova();
  const std::vector<double> base = testing::TypicalParameters(*m);
  const std::vector<std::vector<double>> variants = {base, With(*m, base, {{"Vmx", 0.0}}),
                                                     With(*m, base, {{"kp3", 0.0}})};
  const char* what[] = {"both actions", "EGP only (Vmx = 0)", "utilisation only (kp3 = 0)"};
  for (size_t v = 0; v < variants.size(); ++v) {
    const std::vector<double>& p = variants[v];
    // With kp3 = 0 the default state is no longer basal: compare with the same run without the
    // bolus.
    const std::string basal = Regimen(BasalUPerMin(*m, p), 0.25, 30.0);
    std::string bolus = basal;
    bolus.insert(bolus.find('\n') + 1, "1,0,1,insulin,4,0\n");
    const SimOutput ref = Simulate(*m, basal, p);
    const SimOutput out = Simulate(*m, bolus, p);
    ASSERT_EQ(out.rows(), ref.rows());
    const int no = m->num_observables(), bg = Obs(*m, "BG");
    for (size_t r = 0; r < out.rows(); ++r) {
      const double t = out.time_h[r];
      if (t < 240.0) continue;  // EGP suppression acts through the two-stage delay (1/ki ~ 2 h)
      EXPECT_LT(out.observables[r * no + bg], ref.observables[r * no + bg] - 5.0)
          << what[v] << " at t=" << t << " min";
    }
  }
}

// Glucose stays positive (a medtwin deviation, docs/models/t1d_uvapadova.md): the paper's
// constant insulin-independent utilisation Fsnc would drain Gp below 0 (adult#001 given 100 U
// reached BG -45.8 mg/dL at 900 min) while EGP is clipped at 0. Fsnc fades to 0 below
// BG 10 mg/dL; above, the model is the paper's.
TEST(T1dUvaPadova, InsulinOverdoseDrivesGlucoseTowardsZeroButNotBelow) {
  auto m = MakeT1dUvaPadova();
  Result<ParameterTable> table = ParameterTable::ReadFile(kPatients);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  const std::vector<double> p = *table->ParametersFor(m->spec(), "adult#001");
  const double u2ss = *table->Value("adult#001", "u2ss"), bw = *table->Value("adult#001", "BW");
  std::string csv = Regimen(u2ss * bw / kT1dPmolPerU, 1.0, 10.0);
  csv.insert(csv.find('\n') + 1, "1,0,1,insulin,100,0\n");
  const SimOutput out = Simulate(*m, csv, p);
  ASSERT_EQ(out.rows(), 145u);
  const int no = m->num_observables(), n = m->num_states();
  double min_bg = kInf;
  for (size_t r = 0; r < out.rows(); ++r) {
    const double bg = out.observables[r * no + Obs(*m, "BG")];
    // Non-negative up to the solver's tolerance (atol 1e-8 on the states).
    EXPECT_GT(bg, -1e-6) << "t=" << out.time_h[r] << " min";
    EXPECT_GT(out.states[r * n + State(*m, "Gt")], -1e-6) << "t=" << out.time_h[r] << " min";
    min_bg = std::min(min_bg, bg);
  }
  EXPECT_LT(min_bg, 20.0);  // the overdose does reach the range where the paper's model fails
  // Glucose recovers as the insulin is cleared (EGP returns): BG at 24 h is back above 40 mg/dL.
  EXPECT_GT(out.observables[(out.rows() - 1) * no + Obs(*m, "BG")], 40.0);
}

// The fluxes at and near zero glucose: with Gp = Gt = 0 and extreme insulin action, no flux can
// push glucose below 0 (dGp/dt, dGt/dt >= 0, finite); Fsnc is the paper's constant at and above
// BG 10 mg/dL and half of it at 5 mg/dL (cubic smoothstep, 3s^2 - 2s^3 at s = 1/2).
TEST(T1dUvaPadova, UtilisationVanishesAtZeroGlucose) {
  auto m = MakeT1dUvaPadova();
  const std::vector<double> p = testing::TypicalParameters(*m);
  const std::vector<double> no_fsnc = With(*m, p, {{"Fsnc", 0.0}});
  const int gp = State(*m, "Gp"), gt = State(*m, "Gt");
  std::vector<double> x(m->num_states()), dx(m->num_states()), dx0(m->num_states());
  m->InitialState(p.data(), x.data());
  x[State(*m, "X")] = x[State(*m, "Id")] = x[State(*m, "I1")] = 5000.0;  // pmol/L
  x[gp] = x[gt] = 0.0;
  m->Rhs(0.0, x.data(), p.data(), dx.data());
  EXPECT_GE(dx[gp], 0.0);
  EXPECT_GE(dx[gt], 0.0);
  // Round-off below zero, down to the pole of Michaelis-Menten at Gt = -Km0: still finite and
  // not a source of negative glucose.
  x[gt] = -Par(*m, p, "Km0");
  m->Rhs(0.0, x.data(), p.data(), dx.data());
  EXPECT_TRUE(std::isfinite(dx[gt]));
  EXPECT_GE(dx[gt], 0.0);
  x[gt] = 100.0;
  const double vg = Par(*m, p, "Vg"), fsnc = Par(*m, p, "Fsnc");
  for (const auto& [bg, share] : std::vector<std::pair<double, double>>{
           {0.0, 0.0}, {5.0, 0.5}, {10.0, 1.0}, {40.0, 1.0}, {100.0, 1.0}}) {
    x[gp] = bg * vg;
    m->Rhs(0.0, x.data(), p.data(), dx.data());
    m->Rhs(0.0, x.data(), no_fsnc.data(), dx0.data());
    EXPECT_NEAR(dx0[gp] - dx[gp], share * fsnc, 1e-12) << "BG " << bg << " mg/dL";
  }
}

// Cross-validation against the reference implementation of the UVA/Padova simulator
// (simglucose; the Dalla Man 2007 paper's own meal-response numbers are not available offline).
// Inputs and reference values come from its golden trajectory, jxx123/simglucose
// tests/sim_results.csv at commit 865008cbeb842a955f42f55683398eb85abb92e2, the commit that also
// fixes its meal-size unit bug (issue #41; versions of the file made with the bug, e.g. at
// 042604a, empty the stomach at kmax throughout and differ from this model by up to 19 mg/dL).
// adolescent#001, 2 days in 3-min rows. Reading the file, per simglucose's env.py:
// - CHO is the announced meal divided by the 3-min sample (g/min, issues #35/#58): a meal is
//   3 x CHO g. It is announced in one minute of its row (which one is not recorded) and eaten at
//   5 g/min from there; we place it in the middle minute, row + 1.
// - insulin is the pump's delivery, U/min, constant over the row: basal 0.0139333 U/min (pump
//   rounded) and each bolus as a 3-min infusion on the row after the meal.
// - BG is the noise-free *interstitial* glucose Gs/Vg (our CGM observable, not plasma BG),
//   averaged over the 3 minutes ending at the row time.
struct ReferenceMeal {
  int row_min;
  double carbs_g, bolus_u_per_min;  // bolus: total delivery on row + 3 (basal included)
  double peak_mg_per_dl;            // maximum 30-120 min after the meal row
  int peak_min;
  double at_2h_mg_per_dl;  // the row 120 min after the meal row
};

TEST(T1dUvaPadova, MealResponsesMatchTheReferenceGoldenTrajectory) {
  constexpr double kBasalUPerMin = 0.013933333333333336;
  // Meals 3, 6 and 8 are snacks (13, 7, 8 g) without a peak of their own (peak_min 0).
  const std::vector<ReferenceMeal> meals = {
      {516, 56, 1.5694916666666665, 160.59579042465094, 591, 148.01427379603012},
      {642, 59, 1.9488750000000004, 144.3648796152514, 696, 119.90782329694093},
      {873, 13, 0.3750416666666667, 0, 0, 0},
      {1107, 79, 2.208375, 126.2906994721425, 1194, 121.09471027704797},
      {1914, 54, 1.5139333333333334, 155.72641313954622, 1989, 149.77980004463706},
      {2007, 7, 0.5439666666666667, 0, 0, 0},
      {2127, 63, 1.7639333333333336, 120.3486907522858, 2196, 109.51179974233557},
      {2352, 8, 0.23615833333333336, 0, 0, 0},
      {2484, 73, 2.0417083333333332, 118.55813092284987, 2568, 113.79743742956114}};
  // Nadirs: {search from, to, golden time, golden value}.
  const std::vector<std::array<double, 4>> nadirs = {{873, 1107, 990, 86.08202589878789},
                                                     {1227, 1914, 1476, 97.89000507536602},
                                                     {2604, 2880, 2844, 95.96154817816351}};
  // Dataset records keyed by time; observations (key t + 0.5) follow the doses at t.
  std::vector<std::pair<double, std::string>> records;
  auto dose = [&](double t, const char* cmt, double amount, double rate) {
    std::ostringstream os;
    os.precision(17);
    os << "1," << t << ",1," << cmt << "," << amount << "," << rate;
    records.push_back({t, os.str()});
  };
  dose(0, "insulin", kBasalUPerMin * 2881, kBasalUPerMin);
  for (const ReferenceMeal& meal : meals) {
    const double bolus_u_per_min = meal.bolus_u_per_min - kBasalUPerMin;
    dose(meal.row_min + 1, "meal", meal.carbs_g, 5.0);
    dose(meal.row_min + 3, "insulin", 3 * bolus_u_per_min, bolus_u_per_min);
  }
  for (int t = 0; t <= 2880; ++t)
    records.push_back({t + 0.5, "1," + std::to_string(t) + ",0,.,.,."});
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string csv = "ID,TIME,EVID,CMT,AMT,RATE\n";
  for (const auto& r : records) csv += r.second + "\n";

  auto m = MakeT1dUvaPadova();
  Result<ParameterTable> table = ParameterTable::ReadFile(kPatients);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  const SimOutput out = Simulate(*m, csv, *table->ParametersFor(m->spec(), "adolescent#001"));
  ASSERT_EQ(out.rows(), 2881u);
  const int no = m->num_observables(), cgm = Obs(*m, "CGM");
  auto row_bg = [&](int t) {  // the reference's BG column at row time t (minutes)
    double sum = 0.0;
    for (int k = t - 2; k <= t; ++k) sum += out.observables[k * no + cgm];
    return sum / 3.0;
  };
  auto extreme = [&](int from, int to, double sign) {  // on the reference's 3-min rows
    std::pair<int, double> best{from, row_bg(from)};
    for (int t = from; t <= to; t += 3) {
      if (sign * row_bg(t) > sign * best.second) best = {t, row_bg(t)};
    }
    return best;
  };
  // Tolerances: 1.0 mg/dL and one row (3 min). The meal's minute within its row is unknown;
  // moving a meal by 1 min moves these features by up to 0.5 mg/dL. The rest is small: the
  // reference eats in whole minutes (5 g per minute step) and updates its meal size at each
  // step's start, and both solvers run at tolerances far below 0.01 mg/dL. Observed with the
  // middle minute: at most 0.63 mg/dL (meal 2 peak) and 3 min; with each meal in the one of its
  // three possible minutes that fits best, at most 0.10 mg/dL (docs/models/t1d_uvapadova.md).
  for (const ReferenceMeal& meal : meals) {
    if (meal.peak_min == 0) continue;
    const auto [t, bg] = extreme(meal.row_min + 30, meal.row_min + 120, 1.0);
    EXPECT_NEAR(bg, meal.peak_mg_per_dl, 1.0) << "peak after the meal at " << meal.row_min;
    EXPECT_NEAR(t, meal.peak_min, 3) << "peak after the meal at " << meal.row_min;
    EXPECT_NEAR(row_bg(meal.row_min + 120), meal.at_2h_mg_per_dl, 1.0)
        << "2 h after the meal at " << meal.row_min;
  }
  for (const auto& [from, to, golden_t, golden_bg] : nadirs) {
    const auto [t, bg] = extreme(static_cast<int>(from), static_cast<int>(to), -1.0);
    EXPECT_NEAR(bg, golden_bg, 1.0) << "nadir between " << from << " and " << to;
    EXPECT_NEAR(t, golden_t, 3) << "nadir between " << from << " and " << to;
  }
}

// CGM sensor: at the noise knots the error is exactly the Johnson SU transform of a stationary
// AR(1) driver with variance s2 = PACF^2 / (1 - PACF^2), so its mean is
//   xi + lambda * exp(s2 / (2 delta^2)) * sinh(-gamma / delta)
// (the mean of sinh(a Z + b) for Z ~ N(0, 1) is exp(a^2/2) sinh(b)).
TEST(CgmSensor, DexcomNoiseHasTheJohnsonSuMeanAndIsSeeded) {
  Result<ParameterTable> table = ParameterTable::ReadFile(kSensors);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  Result<CgmSensorOptions> opt = CgmSensorOptionsFromTable(*table, "Dexcom");
  ASSERT_TRUE(opt.ok()) << opt.status().ToString();
  EXPECT_DOUBLE_EQ(opt->sample_time_min, 3.0);
  const int knots = 200000;
  std::vector<double> t(knots), truth(knots, 150.0);
  for (int k = 0; k < knots; ++k) t[k] = 15.0 * k;
  Result<std::vector<double>> y = MeasureCgm(*opt, t, truth);
  ASSERT_TRUE(y.ok());
  double mean = 0.0, lag1 = 0.0, var = 0.0;
  for (int k = 0; k < knots; ++k) mean += ((*y)[k] - 150.0) / knots;
  for (int k = 0; k < knots; ++k) var += std::pow((*y)[k] - 150.0 - mean, 2) / knots;
  for (int k = 1; k < knots; ++k) {
    lag1 += ((*y)[k] - 150.0 - mean) * ((*y)[k - 1] - 150.0 - mean) / (knots - 1);
  }
  const double s2 = opt->pacf * opt->pacf / (1.0 - opt->pacf * opt->pacf);
  const double expected = opt->xi + opt->lambda * std::exp(s2 / (2 * opt->delta * opt->delta)) *
                                        std::sinh(-opt->gamma / opt->delta);
  const double rho = lag1 / var;
  EXPECT_GT(rho, 0.5);  // autocorrelated (driver PACF 0.7 per knot)
  // Standard error of the mean of an AR(1)-like series: sqrt(var/n * (1 + rho)/(1 - rho)).
  EXPECT_NEAR(mean, expected, 4.0 * std::sqrt(var / knots * (1.0 + rho) / (1.0 - rho)));
  Result<std::vector<double>> again = MeasureCgm(*opt, t, truth);
  EXPECT_EQ(*again, *y);
  CgmSensorOptions other = *opt;
  other.seed = 2;
  EXPECT_NE(*MeasureCgm(other, t, truth), *y);
  // Clipping to the sensor range.
  std::vector<double> low(knots, 20.0);
  Result<std::vector<double>> clipped = MeasureCgm(*opt, t, low);
  ASSERT_TRUE(clipped.ok());
  EXPECT_DOUBLE_EQ(*std::min_element(clipped->begin(), clipped->end()), opt->min_mg_per_dl);
  opt->pacf = 1.0;
  EXPECT_FALSE(MeasureCgm(*opt, t, truth).ok());
}

// The population prior (docs, "Population prior"): log-normal variability on Vmx, kp3, Vm0 and
// kabs around the normal subject's typical values, omega^2 the sample variance (n - 1) of the
// log values over the 30 virtual patients. Recomputed here from the table.
TEST(T1dUvaPadova, PopulationPriorIsTheSpreadOfTheVirtualPatients) {
  auto m = MakeT1dUvaPadova();
  const ModelSpec& s = m->spec();
  Result<ParameterTable> table = ParameterTable::ReadFile(kPatients);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  const std::vector<std::string> names = table->SetNames();
  ASSERT_EQ(names.size(), 30u);
  const std::vector<std::string> expected = {"Vmx", "kp3", "Vm0", "kabs"};
  ASSERT_EQ(s.variability.parameters, expected);
  const size_t q = expected.size();
  ASSERT_EQ(s.variability.omega.size(), q * q);
  for (size_t j = 0; j < q; ++j) {
    std::vector<double> logs;
    for (const std::string& name : names)
      logs.push_back(std::log(*table->Value(name, expected[j])));
    double mean = 0.0, var = 0.0;
    for (double v : logs) mean += v / logs.size();
    for (double v : logs) var += (v - mean) * (v - mean) / (logs.size() - 1);
    EXPECT_NEAR(s.variability.omega[j * q + j], var, 5e-4) << expected[j];
    for (size_t k = 0; k < q; ++k) {
      if (k != j) {
        EXPECT_EQ(s.variability.omega[j * q + k], 0.0);
      }
    }
  }
  // Typical values stay those of the normal subject (Dalla Man 2007 Table 1).
  EXPECT_DOUBLE_EQ(s.parameters[s.ParameterIndex("Vmx")].typical, 0.047);
  EXPECT_DOUBLE_EQ(s.parameters[s.ParameterIndex("kp3")].typical, 0.009);
  EXPECT_DOUBLE_EQ(s.parameters[s.ParameterIndex("Vm0")].typical, 2.50);
  EXPECT_DOUBLE_EQ(s.parameters[s.ParameterIndex("kabs")].typical, 0.057);
}

// The CGM observable's residual error is additive with the stationary SD of the reference
// sensor noise: for e ~ N(0, s2), s2 = PACF^2/(1 - PACF^2), the Johnson SU noise
// xi + lambda sinh((e - gamma)/delta) has variance lambda^2/2 (w - 1)(w cosh(2 gamma/delta) + 1),
// w = exp(s2/delta^2); the sensor simulation's noise at its knots has that SD.
TEST(T1dUvaPadova, CgmResidualErrorIsTheSensorNoiseSd) {
  auto m = MakeT1dUvaPadova();
  const ResidualError& e = m->spec().observables[m->spec().ObservableIndex("CGM")].error;
  EXPECT_EQ(e.model, ErrorModel::kAdditive);
  Result<ParameterTable> table = ParameterTable::ReadFile(kSensors);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  for (const char* sensor : {"Dexcom", "GuardianRT", "Navigator"}) {
    Result<CgmSensorOptions> opt = CgmSensorOptionsFromTable(*table, sensor);
    ASSERT_TRUE(opt.ok()) << opt.status().ToString();
    const double s2 = opt->pacf * opt->pacf / (1.0 - opt->pacf * opt->pacf);
    const double w = std::exp(s2 / (opt->delta * opt->delta));
    const double var = 0.5 * opt->lambda * opt->lambda * (w - 1.0) *
                       (w * std::cosh(2.0 * opt->gamma / opt->delta) + 1.0);
    EXPECT_NEAR(e.additive_sd, std::sqrt(var), 0.005) << sensor;
  }
  Result<CgmSensorOptions> opt = CgmSensorOptionsFromTable(*table, "Dexcom");
  ASSERT_TRUE(opt.ok());
  const int knots = 200000;
  std::vector<double> t(knots), truth(knots, 150.0);
  for (int k = 0; k < knots; ++k) t[k] = 15.0 * k;
  const std::vector<double> y = *MeasureCgm(*opt, t, truth);
  double mean = 0.0, var = 0.0;
  for (double v : y) mean += (v - 150.0) / knots;
  for (double v : y) var += (v - 150.0 - mean) * (v - 150.0 - mean) / (knots - 1);
  EXPECT_NEAR(std::sqrt(var), e.additive_sd, 0.02 * e.additive_sd);
}

}  // namespace
}  // namespace medtwin
