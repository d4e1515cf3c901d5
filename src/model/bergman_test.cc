// Tests of bergman_minimal (bergman.cc). Equations: Bergman et al. 1979 (glucose, X) and Toffolo
// et al. 1980 (insulin), DOMAIN.md section 4.2. Parameter values: the MINMOD example subject
// (Pacini & Bergman 1986) as restated in secondary sources. Expected values are derived by hand
// in the comments.
#include "model/bergman.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/model_test_util.h"

namespace medtwin {
namespace {

enum { kG, kX, kI };
enum { kGb, kIb, kP1, kP2, kP3, kN, kH, kGamma };

class BergmanTest : public ::testing::Test {
 protected:
  std::vector<double> Basal(const std::vector<double>& p) const {
    std::vector<double> x(3);
    model_->InitialState(p.data(), x.data());
    return x;
  }
  std::vector<double> Rhs(double t, const std::vector<double>& x,
                          const std::vector<double>& p) const {
    std::vector<double> d(3);
    model_->Rhs(t, x.data(), p.data(), d.data());
    return d;
  }

  std::unique_ptr<Model> model_ = MakeBergmanMinimal();
  std::vector<double> p_ = testing::TypicalParameters(*model_);
};

// MINMOD example subject: GB 92 mg/dL, IB 7.3 uU/mL, p1 3.082e-2 /min, p2 2.093e-2 /min,
// p3 1.062e-5 /min^2 per uU/mL, n 0.3 /min, h 89.5 mg/dL, gamma 3.349e-3.
TEST_F(BergmanTest, SpecCarriesThePublishedParameterSet) {
  const ModelSpec& s = model_->spec();
  ASSERT_TRUE(s.Validate().ok()) << s.Validate().ToString();
  EXPECT_EQ(s.name, "bergman_minimal");
  EXPECT_EQ(s.time_unit, "min");
  EXPECT_NE(s.citation.find("10.1152/ajpendo.1979.236.6.E667"), std::string::npos);
  EXPECT_EQ(p_, (std::vector<double>{92.0, 7.3, 0.03082, 0.02093, 1.062e-5, 0.3, 89.5, 0.003349}));
  EXPECT_EQ(s.StateIndex("glucose"), kG);
  EXPECT_EQ(s.StateIndex("3"), kI);
  EXPECT_FALSE(s.states[kX].dosable);
  EXPECT_EQ(s.default_dose_state, kG);
  EXPECT_EQ(s.observables[s.ObservableIndex("G")].unit, "mg/dL");
  EXPECT_EQ(s.observables[s.ObservableIndex("I")].unit, "uU/mL");
}

// SG = p1 = 0.03082 /min; SI = p3/p2 = 1.062e-5/0.02093 = 5.0740e-4 /min per uU/mL, i.e. 5.07 in
// the customary units of 1e-4 /min per uU/mL, within the normal range 2.62 +- 2.21 (DOMAIN 4.2).
TEST_F(BergmanTest, IndicesFollowTheirDefinitions) {
  EXPECT_DOUBLE_EQ(GlucoseEffectiveness(p_.data()), 0.03082);
  EXPECT_NEAR(InsulinSensitivity(p_.data()), 5.0740e-4, 5e-8);
  std::vector<double> p = p_;
  p[kP2] *= 2.0;  // X decays twice as fast: SI halves
  EXPECT_NEAR(InsulinSensitivity(p.data()), 5.0740e-4 / 2.0, 5e-8);
}

// Omega from the normal-subject spread (DOMAIN 4.2): CV(SG) = 0.008/0.021, CV(SI) = 2.21/2.62;
// omega^2 = ln(1 + CV^2) = 0.13551 and 0.53738.
TEST_F(BergmanTest, VariabilityFromReportedSpread) {
  const Variability& v = model_->spec().variability;
  ASSERT_EQ(v.parameters, (std::vector<std::string>{"P1", "P3"}));
  EXPECT_NEAR(v.omega[0], 0.13551, 5e-5);
  EXPECT_NEAR(v.omega[3], 0.53738, 5e-5);
  EXPECT_EQ(v.omega[1], 0.0);
}

// Glucose effectiveness by definition: with X = 0 the fractional disappearance of glucose above
// basal is p1, so right after an injection dG/dt = -p1 (G - GB).
TEST_F(BergmanTest, InitialGlucoseSlopeIsGlucoseEffectiveness) {
  std::vector<double> x = Basal(p_);
  x[kG] += 195.0;  // G0 = 287 mg/dL of the MINMOD example
  EXPECT_NEAR(Rhs(0.0, x, p_)[kG], -0.03082 * 195.0, 1e-12);
  EXPECT_DOUBLE_EQ(Rhs(0.0, x, p_)[kX], 0.0);  // I = IB: no insulin action yet
}

// Without insulin action (p3 = 0) X stays 0 and glucose decays mono-exponentially to basal:
// G(t) = GB + (G0 - GB) exp(-p1 t).
TEST_F(BergmanTest, WithoutInsulinActionGlucoseDecaysExponentially) {
  std::vector<double> p = p_;
  p[kP3] = 0.0;
  std::vector<double> x = Basal(p);
  x[kG] = 287.0;
  x[kI] = 403.4;  // the insulin peak is now irrelevant to glucose
  for (double t : {10.0, 30.0, 60.0, 120.0}) {
    std::vector<double> y = x;
    testing::IntegrateRk4(*model_, p.data(), 0.0, t, 0.05, y);
    EXPECT_NEAR(y[kG], 92.0 + 195.0 * std::exp(-0.03082 * t), 1e-8) << t;
    EXPECT_EQ(y[kX], 0.0);
  }
}

// With GB <= H (no secretion at basal) the basal state (GB, 0, IB) is an exact steady state.
TEST_F(BergmanTest, BasalStateIsSteadyWhenBelowSecretionThreshold) {
  std::vector<double> p = p_;
  p[kH] = 95.0;
  std::vector<double> x = Basal(p);
  EXPECT_EQ(x, (std::vector<double>{92.0, 0.0, 7.3}));
  for (double d : Rhs(50.0, x, p)) EXPECT_EQ(d, 0.0);
  testing::IntegrateRk4(*model_, p.data(), 0.0, 600.0, 0.5, x);
  EXPECT_NEAR(x[kG], 92.0, 1e-12);
  EXPECT_NEAR(x[kI], 7.3, 1e-12);
}

// The published set has GB = 92 > h = 89.5: secretion gamma (G - h) t runs even at basal, so the
// basal state is not a steady state (a known property of the t-weighted secretion term; see the
// methodology page). At t = 10 min: dI/dt = 3.349e-3 * 2.5 * 10 = 0.083725 uU/mL/min.
TEST_F(BergmanTest, PublishedThresholdBelowBasalDrivesSecretionAtBasal) {
  const std::vector<double> x = Basal(p_);
  EXPECT_NEAR(Rhs(10.0, x, p_)[kI], 0.083725, 1e-12);
  EXPECT_DOUBLE_EQ(Rhs(0.0, x, p_)[kI], 0.0);  // t = 0: nothing yet
}

// Insulin sensitivity by definition: at a sustained insulin rise dI above IB, X settles at
// SI*dI and glucose at G* = p1 GB / (p1 + SI dI). Insulin is held by n at its lower bound and no
// secretion (gamma = 0); dI = 50 uU/mL -> X* = 0.025370 /min, G* = 92*0.03082/0.05619 = 50.46.
TEST_F(BergmanTest, ClampSteadyStateDefinesInsulinSensitivity) {
  std::vector<double> p = p_;
  p[kGamma] = 0.0;
  p[kN] = 1e-9;
  const double si = InsulinSensitivity(p.data()), d_insulin = 50.0;
  const double x_star = si * d_insulin;
  const double g_star = 0.03082 * 92.0 / (0.03082 + x_star);
  const std::vector<double> at_star = {g_star, x_star, 7.3 + d_insulin};
  const std::vector<double> d = Rhs(100.0, at_star, p);
  EXPECT_NEAR(d[kG], 0.0, 1e-12);
  EXPECT_NEAR(d[kX], 0.0, 1e-15);
  // From basal glucose, X rises and glucose falls to G* (time constants 1/p2 ~ 48 min).
  std::vector<double> x = {92.0, 0.0, 7.3 + d_insulin};
  testing::IntegrateRk4(*model_, p.data(), 0.0, 2000.0, 0.5, x);
  EXPECT_NEAR(x[kX], x_star, 1e-5 * x_star);  // n = 1e-9 lets dI drift by 2e-6
  EXPECT_NEAR(x[kG], g_star, 1e-4);
  EXPECT_NEAR(g_star, 50.46, 0.01);
}

// Population means of the minimal-model indices (DOMAIN 4.2, unverified): normal SG 0.021,
// SI 2.62e-4; type 2 diabetes SG 0.015, SI 0.57e-4. With the same IVGTT (+195 mg/dL glucose,
// +396.1 uU/mL insulin at 0) the diabetic glucose stays higher throughout.
TEST_F(BergmanTest, PublishedNormalAndDiabeticIndicesOrderTheIvgtt) {
  auto with_indices = [&](double sg, double si) {
    std::vector<double> p = p_;
    p[kP1] = sg;
    p[kP3] = si * p[kP2];
    return p;
  };
  const std::vector<double> normal = with_indices(0.021, 2.62e-4);
  const std::vector<double> t2d = with_indices(0.015, 0.57e-4);
  std::vector<double> xn = {287.0, 0.0, 403.4}, xd = xn;
  double t = 0.0;
  for (double step : {10.0, 20.0, 30.0, 60.0, 60.0}) {
    testing::IntegrateRk4(*model_, normal.data(), t, step, 0.05, xn);
    testing::IntegrateRk4(*model_, t2d.data(), t, step, 0.05, xd);
    t += step;
    EXPECT_GT(xd[kG], xn[kG]) << "t=" << t;
  }
}

TEST_F(BergmanTest, ImpossibleParametersAreRejectedByName) {
  std::vector<double> theta = p_, out(p_.size());
  theta[kP2] = -0.02;
  const Status st = model_->Individualize(theta, {}, {}, out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("P2"), std::string::npos) << st.message();
  theta = p_;
  theta[kGb] = 0.0;
  EXPECT_NE(model_->Individualize(theta, {}, {}, out).message().find("GB"), std::string::npos);
}

}  // namespace
}  // namespace medtwin
