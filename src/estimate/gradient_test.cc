// Gradients of the MAP objective from forward sensitivities: d OFV/d eta against central
// differences of OFV for every residual error model, censored levels (M3) and with or without
// the prior; the MAP found with them against the MAP found with finite-difference gradients;
// the closed-form path's gradients (linear models, with and without steady state); and the
// subjects for which the fit falls back to finite differences, saying why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "estimate/posterior.h"
#include "medtwin/estimate.h"
#include "sim/sim_test_util.h"

namespace medtwin {
namespace {

using ::testing::HasSubstr;
using testing::Make;
using ::testing::StartsWith;

// Vancomycin (Goti 2018) with an indirect-response PD (nonlinear, so the ODE path runs), 1 g over
// 1 h q12h, serum creatinine rising on day 2; levels of CP (DVID 1) and of the response (DVID 2)
// made from the model's predictions at eta_true times fixed factors (noise without a generator),
// and one CP level below a limit of 8 mg/L (CENS=1) late on day 2.
Dataset PkPdPatient(const Model& m) {
  const std::vector<double> eta_true = {0.3, -0.25, 0.2};
  struct Level {
    double t;
    int dvid;
    double scr, factor;
  };
  const std::vector<Level> levels = {{2, 1, 1.0, 1.08},  {11.5, 1, 1.0, 0.9}, {13, 2, 1.0, 1.03},
                                     {25, 1, 2.2, 1.12}, {30, 2, 2.2, 0.97},  {47.5, 1, 2.2, 1.0}};
  std::string csv = "ID,TIME,EVID,AMT,RATE,II,ADDL,DV,MDV,DVID,CENS,WT,AGE,SEX,SCR\n";
  csv += "1,0,1,1000,1000,12,3,.,1,1,0,80,60,0,1.0\n";
  for (const Level& l : levels) {
    csv += "1," + std::to_string(l.t) + ",0,0,0,0,0,.,1," + std::to_string(l.dvid) + ",0,80,60,0," +
           std::to_string(l.scr) + "\n";
  }
  auto regimen = ReadDataset(csv, m);
  EXPECT_TRUE(regimen.ok()) << regimen.status().ToString();
  Simulator sim(m, {});
  auto out = sim.Run(*regimen, 0, {}, IndividualInput{{}, eta_true});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  Dataset d = *regimen;
  for (size_t i = 0; i < levels.size(); ++i) {
    Record& rec = d.subjects[0].records[1 + i];
    const double f = out->observables[i * m.num_observables() + levels[i].dvid - 1];
    rec.dv = f * levels[i].factor;
    rec.mdv = false;
    if (i + 1 == levels.size()) {
      rec.dv = 8.0;  // below the limit: CENS=1, DV = LLOQ
      rec.censored = true;
    }
  }
  return d;
}

TEST(Gradient, SensitivityGradientEqualsCentralDifferencesOfTheObjective) {
  auto m = Make("vancomycin_goti2018+irm3");
  const Dataset d = PkPdPatient(*m);
  ASSERT_TRUE(d.subjects[0].records.back().censored);
  const std::vector<double> eta = {0.15, -0.1, 0.3};
  struct Case {
    const char* name;
    ResidualError error;
    PriorKind prior;
  };
  const std::vector<Case> cases = {
      {"additive", {ErrorModel::kAdditive, 2.0, 0.0, 0.0}, PriorKind::kPopulation},
      {"proportional", {ErrorModel::kProportional, 0.0, 0.2, 0.0}, PriorKind::kPopulation},
      {"combined", {ErrorModel::kCombined, 1.5, 0.15, 0.0}, PriorKind::kPopulation},
      {"exponential", {ErrorModel::kExponential, 0.0, 0.0, 0.2}, PriorKind::kPopulation},
      {"combined, no prior", {ErrorModel::kCombined, 1.5, 0.15, 0.0}, PriorKind::kNone},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FitOptions o;
    o.prior = c.prior;
    o.error = {c.error, c.error};
    o.sim.rtol = 1e-11;  // so that differences of OFV resolve its derivative
    o.sim.atol = 1e-13;
    auto post = Posterior::Make(*m, d, 0, o);
    ASSERT_TRUE(post.ok()) << post.status().ToString();
    std::vector<double> grad(3);
    auto ofv = (*post)->ObjectiveAndGradient(eta.data(), grad.data());
    ASSERT_TRUE(ofv.ok()) << ofv.status().ToString();
    auto plain = (*post)->Objective(eta.data());
    ASSERT_TRUE(plain.ok());
    EXPECT_NEAR(*ofv, *plain, 1e-8 * std::fabs(*plain));
    const double h = 1e-4;
    double scale = 0.0;
    std::vector<double> fd(3);
    for (int k = 0; k < 3; ++k) {
      std::vector<double> e = eta;
      e[k] = eta[k] + h;
      auto up = (*post)->Objective(e.data());
      e[k] = eta[k] - h;
      auto down = (*post)->Objective(e.data());
      ASSERT_TRUE(up.ok() && down.ok());
      fd[k] = (*up - *down) / (2.0 * h);
      scale = std::max(scale, std::fabs(fd[k]));
    }
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(grad[k], fd[k], 1e-5 * scale) << "eta " << k;
    }
  }
}

TEST(Gradient, MapWithSensitivitiesAgreesWithTheFiniteDifferenceMap) {
  auto m = Make("vancomycin_goti2018+irm3");
  const Dataset d = PkPdPatient(*m);
  FitOptions sens, fd;
  fd.gradient = GradientMethod::kFiniteDifference;
  auto a = FitSubject(*m, d, 0, sens);
  auto b = FitSubject(*m, d, 0, fd);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(a->converged) << a->stop_reason;
  EXPECT_TRUE(b->converged) << b->stop_reason;
  EXPECT_THAT(a->gradient, StartsWith("forward sensitivities"));
  EXPECT_THAT(b->gradient, HasSubstr("finite differences (requested)"));
  // The bar for the MAP (1e-4 relative on the individual parameters), and the same OFV.
  for (size_t i = 0; i < a->parameters.size(); ++i) {
    EXPECT_NEAR(a->parameters[i], b->parameters[i], 1e-4 * std::fabs(b->parameters[i]))
        << m->spec().parameters[i].name;
  }
  EXPECT_NEAR(a->objective, b->objective, 1e-7);
  // One simulation per optimiser point instead of 1 + 2 n.
  EXPECT_EQ(a->evaluations, a->gradient_evaluations);
  EXPECT_EQ(b->evaluations, 7 * b->gradient_evaluations);
}

TEST(Gradient, FallsBackToFiniteDifferencesAndSaysWhy) {
  {
    // Steady-state dosing on a nonlinear model: no sensitivities through the periodic state.
    auto m = Make("pk1cmt_mm");
    const Dataset d = [&] {
      auto r = ReadDataset(
          "ID,TIME,EVID,AMT,CMT,II,SS,DV,MDV\n"
          "1,0,1,200,1,12,1,.,1\n1,2,0,0,2,0,0,3.1,0\n1,6,0,0,2,0,0,2.4,0\n"
          "1,11,0,0,2,0,0,1.2,0\n",
          *m);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      return *r;
    }();
    FitOptions fd;
    fd.gradient = GradientMethod::kFiniteDifference;
    auto a = FitSubject(*m, d, 0, FitOptions{});
    auto b = FitSubject(*m, d, 0, fd);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_THAT(a->gradient, StartsWith("central finite differences"));
    EXPECT_THAT(a->gradient, HasSubstr("SS=1"));
    EXPECT_EQ(a->eta, b->eta);  // the same computation once the fallback is taken
    EXPECT_EQ(a->evaluations, b->evaluations);
  }
}

// Vancomycin (Goti 2018, linear: the closed-form path), 1 g over 1 h q12h, four levels (troughs
// and peaks on days 1 and 2) from eta_true times fixed factors, serum creatinine rising on day 2;
// `steady_state` starts the course at steady state (SS=1) instead.
Dataset LinearPatient(const Model& m, bool steady_state) {
  const std::vector<double> eta_true = {0.3, -0.4, 0.2};
  const std::vector<double> times = {11.5, 13, 23.5, 25}, factors = {1.1, 0.93, 1.05, 0.97};
  std::string csv = "ID,TIME,EVID,AMT,RATE,II,ADDL,SS,DV,MDV,WT,AGE,SEX,SCR\n";
  csv += std::string("1,0,1,1000,1000,12,5,") + (steady_state ? "1" : "0") + ",.,1,80,60,0,1.0\n";
  for (double t : times) {
    csv += "1," + std::to_string(t) + ",0,0,0,0,0,0,.,1,80,60,0," + (t > 20 ? "1.6" : "1.0") + "\n";
  }
  auto regimen = ReadDataset(csv, m);
  EXPECT_TRUE(regimen.ok()) << regimen.status().ToString();
  Simulator sim(m, {});
  auto out = sim.Run(*regimen, 0, {}, IndividualInput{{}, eta_true});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  Dataset d = *regimen;
  for (size_t i = 0; i < times.size(); ++i) {
    Record& rec = d.subjects[0].records[1 + i];
    rec.dv = out->observables[i] * factors[i];
    rec.mdv = false;
  }
  return d;
}

// On the closed-form path the gradient comes from the closed form's own sensitivities: it equals
// central differences of OFV, and the MAP with it equals the finite-difference MAP and the MAP on
// the ODE path (CVODES sensitivities), with one simulation per L-BFGS point.
TEST(Gradient, ClosedFormPathUsesItsOwnSensitivities) {
  auto m = Make("vancomycin_goti2018");
  for (bool steady_state : {false, true}) {
    SCOPED_TRACE(steady_state ? "SS=1" : "ADDL");
    const Dataset d = LinearPatient(*m, steady_state);
    auto post = Posterior::Make(*m, d, 0, FitOptions{});
    ASSERT_TRUE(post.ok()) << post.status().ToString();
    const std::vector<double> eta = {0.15, -0.1, 0.3};
    std::vector<double> grad(3);
    auto ofv = (*post)->ObjectiveAndGradient(eta.data(), grad.data());
    ASSERT_TRUE(ofv.ok()) << ofv.status().ToString();
    EXPECT_EQ((*post)->last_path(), SimPath::kClosedForm);
    for (int k = 0; k < 3; ++k) {
      const double h = 1e-4;
      std::vector<double> e = eta;
      e[k] = eta[k] + h;
      auto up = (*post)->Objective(e.data());
      e[k] = eta[k] - h;
      auto down = (*post)->Objective(e.data());
      ASSERT_TRUE(up.ok() && down.ok());
      const double fd = (*up - *down) / (2.0 * h);
      EXPECT_NEAR(grad[k], fd, 1e-6 * std::max(1.0, std::fabs(fd))) << "eta " << k;
    }

    FitOptions fd, ode;
    fd.gradient = GradientMethod::kFiniteDifference;
    ode.sim.path = SimPath::kOde;
    auto a = FitSubject(*m, d, 0, FitOptions{});
    auto b = FitSubject(*m, d, 0, fd);
    auto c = FitSubject(*m, d, 0, ode);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_TRUE(a->converged) << a->stop_reason;
    EXPECT_EQ(a->gradient, "forward sensitivities (closed form)");
    EXPECT_THAT(b->gradient, HasSubstr("finite differences (requested)"));
    EXPECT_EQ(c->gradient, "forward sensitivities (CVODES)");
    EXPECT_EQ(a->evaluations, a->gradient_evaluations);
    for (size_t i = 0; i < a->parameters.size(); ++i) {
      EXPECT_NEAR(a->parameters[i], b->parameters[i], 1e-4 * std::fabs(b->parameters[i]))
          << m->spec().parameters[i].name;
      EXPECT_NEAR(a->parameters[i], c->parameters[i], 1e-4 * std::fabs(c->parameters[i]))
          << m->spec().parameters[i].name;
    }
    EXPECT_NEAR(a->objective, b->objective, 1e-7);
  }
}

TEST(Gradient, MethodSpellingsRoundTrip) {
  for (GradientMethod g : {GradientMethod::kAuto, GradientMethod::kFiniteDifference}) {
    auto back = GradientMethodFromString(ToString(g));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, g);
  }
  auto bad = GradientMethodFromString("adjoint");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("'adjoint'"));
}

}  // namespace
}  // namespace medtwin
