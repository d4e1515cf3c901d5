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

// A level at t_h of observable dvid (1-based) with serum creatinine scr, and the factor on the
// model's prediction that makes its DV (noise without a generator).
struct Level {
  double t_h;
  int dvid;
  double scr, factor;
};

// A vancomycin course (80 kg, 60 years, male) whose first record is `dose` (columns ID,TIME,
// EVID,AMT,RATE,II,ADDL,SS) followed by the levels, each DV the prediction at eta_true times its
// factor.
Dataset LevelsFromPredictions(const Model& m, const std::string& dose,
                              const std::vector<Level>& levels,
                              const std::vector<double>& eta_true) {
  std::string csv = "ID,TIME,EVID,AMT,RATE,II,ADDL,SS,DV,MDV,DVID,CENS,WT,AGE,SEX,SCR\n";
  csv += dose + ",.,1,1,0,80,60,0," + std::to_string(levels.front().scr) + "\n";
  for (const Level& l : levels) {
    csv += "1," + std::to_string(l.t_h) + ",0,0,0,0,0,0,.,1," + std::to_string(l.dvid) +
           ",0,80,60,0," + std::to_string(l.scr) + "\n";
  }
  auto regimen = ReadDataset(csv, m);
  EXPECT_TRUE(regimen.ok()) << regimen.status().ToString();
  Simulator sim(m, {});
  auto out = sim.Run(*regimen, 0, {}, IndividualInput{{}, eta_true});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  Dataset d = *regimen;
  for (size_t i = 0; i < levels.size(); ++i) {
    Record& rec = d.subjects[0].records[1 + i];
    rec.dv = out->observables[i * m.num_observables() + levels[i].dvid - 1] * levels[i].factor;
    rec.mdv = false;
  }
  return d;
}

// Vancomycin (Goti 2018) with an indirect-response PD (nonlinear, so the ODE path runs), 1 g over
// 1 h q12h, serum creatinine rising on day 2; levels of CP (DVID 1) and of the response (DVID 2),
// and one CP level below a limit of 8 mg/L (CENS=1) late on day 2.
Dataset PkPdPatient(const Model& m) {
  Dataset d = LevelsFromPredictions(m, "1,0,1,1000,1000,12,3,0",
                                    {{2, 1, 1.0, 1.08},
                                     {11.5, 1, 1.0, 0.9},
                                     {13, 2, 1.0, 1.03},
                                     {25, 1, 2.2, 1.12},
                                     {30, 2, 2.2, 0.97},
                                     {47.5, 1, 2.2, 1.0}},
                                    {0.3, -0.25, 0.2});
  Record& last = d.subjects[0].records.back();
  last.dv = 8.0;  // below the limit: CENS=1, DV = LLOQ
  last.censored = true;
  return d;
}

// d OFV/d eta by central differences (step 1e-4); empty (and a test failure) if OFV fails.
std::vector<double> ObjectiveDifferences(Posterior* post, const std::vector<double>& eta) {
  const double h = 1e-4;
  std::vector<double> fd(eta.size());
  for (size_t k = 0; k < eta.size(); ++k) {
    std::vector<double> e = eta;
    e[k] = eta[k] + h;
    auto up = post->Objective(e.data());
    e[k] = eta[k] - h;
    auto down = post->Objective(e.data());
    EXPECT_TRUE(up.ok() && down.ok());
    if (!up.ok() || !down.ok()) return {};
    fd[k] = (*up - *down) / (2.0 * h);
  }
  return fd;
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
    const std::vector<double> fd = ObjectiveDifferences(post->get(), eta);
    ASSERT_EQ(fd.size(), 3u);
    double scale = 0.0;
    for (double g : fd) scale = std::max(scale, std::fabs(g));
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
// and peaks on days 1 and 2), serum creatinine rising on day 2; `steady_state` starts the course
// at steady state (SS=1) instead.
Dataset LinearPatient(const Model& m, bool steady_state) {
  return LevelsFromPredictions(
      m, std::string("1,0,1,1000,1000,12,5,") + (steady_state ? "1" : "0"),
      {{11.5, 1, 1.0, 1.1}, {13, 1, 1.0, 0.93}, {23.5, 1, 1.6, 1.05}, {25, 1, 1.6, 0.97}},
      {0.3, -0.4, 0.2});
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
    const std::vector<double> diff = ObjectiveDifferences(post->get(), eta);
    ASSERT_EQ(diff.size(), 3u);
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(grad[k], diff[k], 1e-6 * std::max(1.0, std::fabs(diff[k]))) << "eta " << k;
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
