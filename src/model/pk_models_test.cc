// Tests of the generic PK models (pk_models.cc) against conservation laws and closed-form
// solutions (Gibaldi & Perrier, Pharmacokinetics, 2nd ed., 1982: one-compartment first-order
// absorption, two-compartment IV bolus, integrated Michaelis-Menten equation).
#include "model/pk_models.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

#include "model/model_test_util.h"

namespace medtwin {
namespace {

using testing::IntegrateRk4;
using testing::RandomParameters;
using testing::RandomState;
using testing::TypicalParameters;

struct PkCase {
  const char* name;
  std::function<std::unique_ptr<Model>()> make;
  int num_peripherals;  // -1: Michaelis-Menten
};

const std::vector<PkCase>& AllPkModels() {
  static const std::vector<PkCase> cases = {{"pk1cmt", MakePk1Cmt, 0},
                                            {"pk2cmt", MakePk2Cmt, 1},
                                            {"pk3cmt", MakePk3Cmt, 2},
                                            {"pk1cmt_mm", MakePk1CmtMm, -1}};
  return cases;
}

TEST(PkModelsTest, SpecsValidateAndFollowNonmemNumbering) {
  for (const PkCase& c : AllPkModels()) {
    SCOPED_TRACE(c.name);
    const auto m = c.make();
    const ModelSpec& s = m->spec();
    EXPECT_EQ(s.name, c.name);
    EXPECT_TRUE(s.Validate().ok()) << s.Validate().ToString();
    EXPECT_EQ(s.StateIndex("1"), s.StateIndex("depot"));
    EXPECT_EQ(s.StateIndex("2"), s.StateIndex("central"));
    EXPECT_EQ(s.StateIndex("depot"), 0);
    EXPECT_EQ(s.default_dose_state, 0);
    EXPECT_EQ(m->num_states(), 2 + std::max(c.num_peripherals, 0));
    if (c.num_peripherals >= 1) {
      EXPECT_EQ(s.StateIndex("3"), s.StateIndex("periph1"));
    }
    if (c.num_peripherals >= 2) {
      EXPECT_EQ(s.StateIndex("4"), s.StateIndex("periph2"));
    }
    ASSERT_EQ(m->num_observables(), 1);
    EXPECT_EQ(s.observables[0].name, "CP");
    EXPECT_EQ(s.observables[0].unit, "mg/L");
    EXPECT_EQ(s.observables[0].error.model, ErrorModel::kCombined);
    EXPECT_NE(s.citation.find("illustrative"), std::string::npos);
    EXPECT_NE(s.citation.find("Gibaldi"), std::string::npos);
  }
}

TEST(PkModelsTest, ParameterOrder) {
  auto names = [](const Model& m) {
    std::vector<std::string> n;
    for (const ParameterSpec& p : m.spec().parameters) n.push_back(p.name);
    return n;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(*MakePk1Cmt()), (V{"CL", "V", "KA"}));
  EXPECT_EQ(names(*MakePk2Cmt()), (V{"CL", "V", "Q", "V2", "KA"}));
  EXPECT_EQ(names(*MakePk3Cmt()), (V{"CL", "V", "Q", "V2", "Q3", "V3", "KA"}));
  EXPECT_EQ(names(*MakePk1CmtMm()), (V{"VMAX", "KM", "V", "KA"}));
  EXPECT_EQ(MakePk1CmtMm()->spec().variability.parameters, (V{"VMAX", "V"}));
  EXPECT_EQ(MakePk2Cmt()->spec().variability.parameters, (V{"CL", "V"}));
  EXPECT_EQ(MakePk2Cmt()->spec().variability.omega, (std::vector<double>{0.09, 0, 0, 0.09}));
}

// Mass balance: absorption and distribution only move drug, so the total rate of change is minus
// the elimination rate: CL*C for linear models, VMAX*C/(KM + C) for Michaelis-Menten.
TEST(PkModelsTest, RhsConservesMassExceptElimination) {
  std::mt19937 rng(7);
  for (const PkCase& c : AllPkModels()) {
    SCOPED_TRACE(c.name);
    const auto m = c.make();
    for (int trial = 0; trial < 50; ++trial) {
      const std::vector<double> p = RandomParameters(*m, rng);
      const std::vector<double> x = RandomState(*m, rng);
      std::vector<double> dxdt(x.size());
      m->Rhs(0.0, x.data(), p.data(), dxdt.data());
      const double total = std::accumulate(dxdt.begin(), dxdt.end(), 0.0);
      double elimination;
      if (c.num_peripherals < 0) {
        const double conc = x[1] / p[2];
        elimination = p[0] * conc / (p[1] + conc);
      } else {
        elimination = p[0] * x[1] / p[1];
      }
      EXPECT_NEAR(total, -elimination, 1e-12 * (1.0 + elimination));
      // Absorption is first order: dDepot/dt = -KA*depot (KA is the last parameter).
      EXPECT_NEAR(dxdt[0], -p.back() * x[0], 1e-12 * x[0] * p.back());
    }
  }
}

TEST(PkModelsTest, LinearMatrixTimesStateEqualsRhs) {
  std::mt19937 rng(11);
  for (const PkCase& c : AllPkModels()) {
    if (c.num_peripherals < 0) continue;
    SCOPED_TRACE(c.name);
    const auto m = c.make();
    const int n = m->num_states();
    for (int trial = 0; trial < 50; ++trial) {
      const std::vector<double> p = RandomParameters(*m, rng);
      const std::vector<double> x = RandomState(*m, rng);
      std::vector<double> a(n * n, -1.0), dxdt(n);
      ASSERT_TRUE(m->LinearMatrix(p.data(), a.data()));
      m->Rhs(0.0, x.data(), p.data(), dxdt.data());
      for (int i = 0; i < n; ++i) {
        double ax = 0.0;
        for (int j = 0; j < n; ++j) ax += a[i * n + j] * x[j];
        EXPECT_NEAR(ax, dxdt[i], 1e-12 * (1.0 + std::abs(dxdt[i])));
      }
    }
  }
}

TEST(PkModelsTest, MichaelisMentenIsNotLinear) {
  const auto m = MakePk1CmtMm();
  std::vector<double> a(4);
  EXPECT_FALSE(m->LinearMatrix(TypicalParameters(*m).data(), a.data()));
}

TEST(PkModelsTest, ObserveIsCentralOverVolume) {
  for (const PkCase& c : AllPkModels()) {
    SCOPED_TRACE(c.name);
    const auto m = c.make();
    std::vector<double> p = TypicalParameters(*m);
    std::vector<double> x(m->num_states(), 3.0);
    x[1] = 120.0;
    double cp = 0.0;
    m->Observe(0.0, x.data(), p.data(), &cp);
    const double v = p[m->spec().ParameterIndex("V")];
    EXPECT_DOUBLE_EQ(cp, 120.0 / v);
  }
}

// At equal concentration C in every disposition compartment there is no net distribution: the
// central compartment loses CL*C and the peripherals are at rest. A swapped Q/V pairing fails this.
TEST(PkModelsTest, NoNetDistributionAtEqualConcentrations) {
  std::mt19937 rng(3);
  for (const PkCase& c : AllPkModels()) {
    if (c.num_peripherals < 0) continue;
    SCOPED_TRACE(c.name);
    const auto m = c.make();
    const std::vector<double> p = RandomParameters(*m, rng);
    const double conc_mg_per_L = 2.5;
    std::vector<double> x = {0.0, conc_mg_per_L * p[1]};
    for (int i = 0; i < c.num_peripherals; ++i) x.push_back(conc_mg_per_L * p[3 + 2 * i]);
    std::vector<double> dxdt(x.size());
    m->Rhs(0.0, x.data(), p.data(), dxdt.data());
    EXPECT_NEAR(dxdt[1], -p[0] * conc_mg_per_L, 1e-12);
    for (int i = 0; i < c.num_peripherals; ++i) EXPECT_NEAR(dxdt[2 + i], 0.0, 1e-12);
  }
}

// One-compartment oral dose D (Bateman function):
//   C(t) = D*KA / (V*(KA - k)) * (exp(-k t) - exp(-KA t)),  k = CL/V.
TEST(PkModelsTest, Pk1CmtMatchesBatemanFunction) {
  const auto m = MakePk1Cmt();
  const std::vector<double> p = {4.0, 50.0, 1.0};  // CL, V, KA
  const double dose_mg = 100.0, k = 4.0 / 50.0;
  std::vector<double> x = {dose_mg, 0.0};
  double t = 0.0;
  for (double next : {0.5, 2.0, 6.0, 24.0}) {
    IntegrateRk4(*m, p.data(), t, next - t, 0.005, x);
    t = next;
    const double expected = dose_mg * 1.0 / (50.0 * (1.0 - k)) * (std::exp(-k * t) - std::exp(-t));
    double cp = 0.0;
    m->Observe(t, x.data(), p.data(), &cp);
    EXPECT_NEAR(cp, expected, 1e-9 * expected) << "t=" << t;
  }
}

// Two-compartment IV bolus D into central:
//   C(t) = D/V * [(alpha - k21)/(alpha - beta) e^(-alpha t) + (k21 - beta)/(alpha - beta) e^(-beta
//   t)]
// with alpha + beta = k10 + k12 + k21, alpha*beta = k10*k21.
TEST(PkModelsTest, Pk2CmtBolusMatchesBiexponential) {
  const auto m = MakePk2Cmt();
  const double cl = 4.0, v = 50.0, q = 6.0, v2 = 40.0;
  const std::vector<double> p = {cl, v, q, v2, 1.0};
  const double k10 = cl / v, k12 = q / v, k21 = q / v2;
  const double sum = k10 + k12 + k21, prod = k10 * k21;
  const double alpha = 0.5 * (sum + std::sqrt(sum * sum - 4 * prod));
  const double beta = prod / alpha;
  const double dose_mg = 1000.0;
  std::vector<double> x = {0.0, dose_mg, 0.0};
  double t = 0.0;
  for (double next : {0.25, 1.0, 8.0, 48.0}) {
    IntegrateRk4(*m, p.data(), t, next - t, 0.005, x);
    t = next;
    const double expected = dose_mg / v *
                            ((alpha - k21) / (alpha - beta) * std::exp(-alpha * t) +
                             (k21 - beta) / (alpha - beta) * std::exp(-beta * t));
    EXPECT_NEAR(x[1] / v, expected, 1e-9 * expected) << "t=" << t;
  }
}

// With Q3 -> 0 the second peripheral is disconnected and pk3cmt reduces to pk2cmt.
TEST(PkModelsTest, Pk3CmtWithoutSecondPeripheralEqualsPk2Cmt) {
  const auto m2 = MakePk2Cmt();
  const auto m3 = MakePk3Cmt();
  const std::vector<double> p2 = {3.0, 30.0, 5.0, 60.0, 0.7};
  const std::vector<double> p3 = {3.0, 30.0, 5.0, 60.0, 1e-9, 80.0, 0.7};
  std::vector<double> x2 = {500.0, 0.0, 0.0}, x3 = {500.0, 0.0, 0.0, 0.0};
  IntegrateRk4(*m2, p2.data(), 0.0, 12.0, 0.01, x2);
  IntegrateRk4(*m3, p3.data(), 0.0, 12.0, 0.01, x3);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(x3[i], x2[i], 1e-6) << "state " << i;
}

// Integrated Michaelis-Menten equation for an IV bolus (C0 at t = 0):
//   t = [(C0 - C) + KM ln(C0/C)] * V / VMAX.
TEST(PkModelsTest, MichaelisMentenBolusMatchesIntegratedEquation) {
  const auto m = MakePk1CmtMm();
  const double vmax = 50.0, km = 5.0, v = 50.0;
  const std::vector<double> p = {vmax, km, v, 1.0};
  const double c0 = 20.0;  // well above KM: elimination starts near saturation
  std::vector<double> x = {0.0, c0 * v};
  double t = 0.0;
  for (double next : {1.0, 6.0, 24.0}) {
    IntegrateRk4(*m, p.data(), t, next - t, 0.005, x);
    t = next;
    const double c = x[1] / v;
    const double implied_t = ((c0 - c) + km * std::log(c0 / c)) * v / vmax;
    EXPECT_NEAR(implied_t, t, 1e-8) << "C=" << c;
  }
}

}  // namespace
}  // namespace medtwin
