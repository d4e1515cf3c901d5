// WithVariability: random effects moved to other parameters, on top of the wrapped model's own
// covariate effects, with its dynamics, linearity and errors unchanged.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "medtwin/model.h"

namespace medtwin {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Model> Make(const std::string& name) {
  auto m = MakeModel(name);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

TEST(WithVariability, EtaScalesEachListedParameterOfAModelWithoutCovariates) {
  auto m = WithVariability(Make("pk1cmt"), {{"KA", "cl", "V"}, std::vector<double>(9, 0.0)});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const ModelSpec& s = (*m)->spec();
  EXPECT_EQ(s.name, "pk1cmt");
  EXPECT_EQ(s.variability.parameters,
            (std::vector<std::string>{"KA", "CL", "V"}));  // spec spelling
  const std::vector<double> theta = s.TypicalValues(), eta = {0.3, -0.2, 0.1};
  std::vector<double> p(theta.size());
  ASSERT_TRUE((*m)->Individualize(theta, eta, {}, p).ok());
  EXPECT_DOUBLE_EQ(p[s.ParameterIndex("KA")], theta[s.ParameterIndex("KA")] * std::exp(0.3));
  EXPECT_DOUBLE_EQ(p[s.ParameterIndex("CL")], theta[s.ParameterIndex("CL")] * std::exp(-0.2));
  EXPECT_DOUBLE_EQ(p[s.ParameterIndex("V")], theta[s.ParameterIndex("V")] * std::exp(0.1));
  // Linear models stay linear (the closed-form path), with the wrapped model's matrix.
  auto inner = Make("pk1cmt");
  std::vector<double> a(4), b(4);
  ASSERT_TRUE((*m)->LinearMatrix(p.data(), a.data()));
  ASSERT_TRUE(inner->LinearMatrix(p.data(), b.data()));
  EXPECT_EQ(a, b);
}

// Vancomycin's covariate model (creatinine clearance on CL, weight on V1 and V2) still applies;
// the new random effect on Q multiplies the individual value, and CL keeps its covariate value.
TEST(WithVariability, KeepsTheWrappedModelsCovariateEffects) {
  auto inner = Make("vancomycin_goti2018");
  const ModelSpec is = inner->spec();
  auto m = WithVariability(Make("vancomycin_goti2018"), {{"Q", "V1"}, {0.1, 0.0, 0.0, 0.2}});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::vector<double> theta = is.TypicalValues();
  const double nan = std::nan("");
  const std::vector<double> cov = {95.0, 70.0, 1.0, 1.6, 0.0, nan};  // WT AGE SEX SCR DIAL CRCL
  std::vector<double> want(theta.size()), got(theta.size());
  ASSERT_TRUE(inner->Individualize(theta, {}, cov, want).ok());
  ASSERT_TRUE((*m)->Individualize(theta, std::vector<double>{0.4, -0.3}, cov, got).ok());
  EXPECT_DOUBLE_EQ(got[is.ParameterIndex("CL")], want[is.ParameterIndex("CL")]);
  EXPECT_DOUBLE_EQ(got[is.ParameterIndex("V2")], want[is.ParameterIndex("V2")]);
  EXPECT_DOUBLE_EQ(got[is.ParameterIndex("Q")], want[is.ParameterIndex("Q")] * std::exp(0.4));
  EXPECT_DOUBLE_EQ(got[is.ParameterIndex("V1")], want[is.ParameterIndex("V1")] * std::exp(-0.3));
  EXPECT_NE(want[is.ParameterIndex("V1")], theta[is.ParameterIndex("V1")]);  // weight applied
  // The wrapped model's covariate checks still run.
  std::vector<double> bad = cov;
  bad[3] = -1.0;
  auto st = (*m)->Individualize(theta, std::vector<double>{0.0, 0.0}, bad, got);
  EXPECT_THAT(st.message(), HasSubstr("SCR"));
  // A wrong number of random effects is refused.
  EXPECT_FALSE((*m)->Individualize(theta, std::vector<double>{0.0}, cov, got).ok());
}

TEST(WithVariability, RefusesUnknownRepeatedOrNonPositiveParametersAndBadOmega) {
  auto unknown = WithVariability(Make("pk1cmt"), {{"CL", "KE"}, {0, 0, 0, 0}});
  EXPECT_THAT(unknown.status().message(), HasSubstr("'KE' is not a parameter"));
  auto twice = WithVariability(Make("pk1cmt"), {{"CL", "cl"}, {0, 0, 0, 0}});
  EXPECT_THAT(twice.status().message(), HasSubstr("listed twice"));
  // exp(eta) cannot move viral_baccam2006's antiviral effect EPS_P from its typical 0, nor
  // flip the sign of cvs_ursino1998's (negative) sympathetic gain on heart period.
  auto zero = WithVariability(Make("viral_baccam2006"), {{"EPS_P"}, {0.1}});
  EXPECT_THAT(zero.status().message(), HasSubstr("acts only on positive parameters"));
  auto negative_gain = WithVariability(Make("cvs_ursino1998"), {{"G_TS"}, {0.1}});
  EXPECT_THAT(negative_gain.status().message(), HasSubstr("'G_TS' has typical value -0.13"));
  auto omega = WithVariability(Make("pk1cmt"), {{"CL", "V"}, {0.1, 0.0, 0.0}});
  EXPECT_FALSE(omega.ok());
  auto negative = WithVariability(Make("pk1cmt"), {{"CL"}, {-0.1}});
  EXPECT_FALSE(negative.ok());
}

}  // namespace
}  // namespace medtwin
