// Tests of the model interface defaults (model.cc): enum spellings, residual SD, name look-ups,
// spec validation and the default Individualize / InitialState.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "medtwin/model.h"
#include "model/model_internal.h"

namespace medtwin {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

// A minimal valid spec: 2 states, parameters CL and V with IIV on both, one covariate, CP.
ModelSpec SmallSpec() {
  ModelSpec s;
  s.name = "small";
  s.states = {{"depot", "mg", "", true}, {"Central", "mg", "", true}};
  s.parameters = {{"CL", "L/h", 4.0, 1e-9, 100.0, "", ""}, {"V", "L", 50.0, 1e-9, kInf, "", ""}};
  s.covariates = {{"WT", "kg", "", 70.0, true, false, 1.0, 300.0}};
  s.observables = {{"CP", "mg/L", "", ResidualError{ErrorModel::kAdditive, 0.1, 0.0, 0.0}}};
  s.variability = {{"CL", "V"}, {0.09, 0.0, 0.0, 0.04}};
  s.default_dose_state = 0;
  return s;
}

class SmallModel final : public Model {
 public:
  explicit SmallModel(ModelSpec spec) : Model(std::move(spec)) {}
  void Rhs(double, const double* x, const double* p, double* dxdt) const override {
    dxdt[0] = -x[0];
    dxdt[1] = x[0] - p[0] / p[1] * x[1];
  }
  void Observe(double, const double* x, const double* p, double* y) const override {
    y[0] = x[1] / p[1];
  }
};

TEST(ErrorModelTest, SpellingsRoundTrip) {
  for (ErrorModel m : {ErrorModel::kAdditive, ErrorModel::kProportional, ErrorModel::kCombined,
                       ErrorModel::kExponential}) {
    Result<ErrorModel> back = ErrorModelFromString(ToString(m));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, m);
  }
  EXPECT_STREQ(ToString(ErrorModel::kCombined), "combined");
  EXPECT_EQ(*ErrorModelFromString("Proportional"), ErrorModel::kProportional);
}

TEST(ErrorModelTest, UnknownSpellingNamesValueAndChoices) {
  Result<ErrorModel> r = ErrorModelFromString("addtive");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'addtive'"), std::string::npos);
  EXPECT_NE(r.status().message().find("exponential"), std::string::npos);
}

TEST(ResidualErrorTest, SdPerModel) {
  EXPECT_DOUBLE_EQ((ResidualError{ErrorModel::kAdditive, 0.5, 0.2, 0.3}).Sd(10.0), 0.5);
  EXPECT_DOUBLE_EQ((ResidualError{ErrorModel::kProportional, 0.5, 0.2, 0.3}).Sd(10.0), 2.0);
  // Negative predictions still give a non-negative SD.
  EXPECT_DOUBLE_EQ((ResidualError{ErrorModel::kProportional, 0.5, 0.2, 0.3}).Sd(-10.0), 2.0);
  // Combined: variances add, sqrt(3^2 + (0.4*10)^2) = 5.
  EXPECT_DOUBLE_EQ((ResidualError{ErrorModel::kCombined, 3.0, 0.4, 0.0}).Sd(10.0), 5.0);
  EXPECT_DOUBLE_EQ((ResidualError{ErrorModel::kExponential, 0.5, 0.2, 0.3}).Sd(10.0), 0.3);
}

TEST(ModelSpecTest, StateIndexByNumberAndName) {
  const ModelSpec s = SmallSpec();
  EXPECT_EQ(s.StateIndex("1"), 0);
  EXPECT_EQ(s.StateIndex("2"), 1);
  EXPECT_EQ(s.StateIndex("0"), -1);
  EXPECT_EQ(s.StateIndex("3"), -1);
  EXPECT_EQ(s.StateIndex("99999999999999999999"), -1);  // overflow is "none", not UB
  EXPECT_EQ(s.StateIndex("central"), 1);
  EXPECT_EQ(s.StateIndex("DEPOT"), 0);
  EXPECT_EQ(s.StateIndex("-1"), -1);
  EXPECT_EQ(s.StateIndex(""), -1);
  EXPECT_EQ(s.StateIndex("periph"), -1);
}

TEST(ModelSpecTest, OtherLookupsIgnoreCase) {
  const ModelSpec s = SmallSpec();
  EXPECT_EQ(s.ParameterIndex("v"), 1);
  EXPECT_EQ(s.ParameterIndex("Q"), -1);
  EXPECT_EQ(s.CovariateIndex("wt"), 0);
  EXPECT_EQ(s.CovariateIndex("AGE"), -1);
  EXPECT_EQ(s.ObservableIndex("cp"), 0);
  EXPECT_EQ(s.ObservableIndex("EFFECT"), -1);
}

TEST(ModelSpecTest, SmallSpecIsValid) { EXPECT_TRUE(SmallSpec().Validate().ok()); }

// SBML files may declare INF or NaN values: allowed for unbounded parameters only.
TEST(ModelSpecTest, NonFiniteTypicalValuesOnlyWhenUnbounded) {
  ModelSpec s = SmallSpec();
  ParameterSpec free;
  free.name = "P";
  free.lower = -kInf;
  free.upper = kInf;
  free.typical = std::numeric_limits<double>::quiet_NaN();
  s.parameters.push_back(free);
  EXPECT_TRUE(s.Validate().ok()) << s.Validate().ToString();
  s.parameters.back().typical = kInf;
  EXPECT_TRUE(s.Validate().ok());
  s.parameters.back().lower = 0.0;
  s.parameters.back().typical = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(s.Validate().ok());
  s.parameters.back().typical = kInf;
  EXPECT_FALSE(s.Validate().ok());
}

// Names differing only in case are distinct; look-ups prefer the exact spelling and fall back to
// a case-insensitive match only when it is unambiguous.
TEST(ModelSpecTest, ExactSpellingWinsOverCaseInsensitiveMatch) {
  ModelSpec s = SmallSpec();
  ParameterSpec extra = s.parameters[0];
  extra.name = "cl";
  s.parameters.push_back(extra);
  EXPECT_TRUE(s.Validate().ok()) << s.Validate().ToString();
  EXPECT_EQ(s.ParameterIndex("cl"), static_cast<int>(s.parameters.size()) - 1);
  EXPECT_EQ(s.ParameterIndex(s.parameters[0].name), 0);
  EXPECT_EQ(s.ParameterIndex("Cl"), -1);  // ambiguous
}

// Each mutation breaks one rule; the message must name what is wrong.
void ExpectInvalid(const ModelSpec& s, const std::string& fragment) {
  const Status st = s.Validate();
  ASSERT_FALSE(st.ok()) << "expected a failure mentioning " << fragment;
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find(fragment), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("model 'small'"), std::string::npos) << st.message();
}

// Names are unique as spelled (SBML ids are case-sensitive: "Param" and "param" are two).
TEST(ModelSpecTest, RejectsDuplicateNames) {
  ModelSpec s = SmallSpec();
  s.states[1].name = s.states[0].name;
  ExpectInvalid(s, "'" + s.states[0].name + "' is used twice");
  s = SmallSpec();
  s.parameters[1].name = s.parameters[0].name;
  ExpectInvalid(s, "'" + s.parameters[0].name + "' is used twice");
  s = SmallSpec();
  s.covariates.push_back(s.covariates[0]);
  ExpectInvalid(s, "'WT' is used twice");
  s = SmallSpec();
  s.observables.push_back(s.observables[0]);
  ExpectInvalid(s, "'CP' is used twice");
  s = SmallSpec();
  s.covariates[0].name = "V";
  ExpectInvalid(s, "both a parameter and a covariate");
}

TEST(ModelSpecTest, RejectsNumericStateNameAndBadDoseState) {
  ModelSpec s = SmallSpec();
  s.states[0].name = "2";
  ExpectInvalid(s, "is a number");
  s = SmallSpec();
  s.default_dose_state = 2;
  ExpectInvalid(s, "default_dose_state 2");
  s.default_dose_state = -1;
  ExpectInvalid(s, "default_dose_state -1");
}

TEST(ModelSpecTest, RejectsTypicalOutsideBounds) {
  ModelSpec s = SmallSpec();
  s.parameters[0].typical = 200.0;
  ExpectInvalid(s, "parameter CL: typical value 200");
  s.parameters[0].typical = kNan;
  ExpectInvalid(s, "parameter CL");
}

TEST(ModelSpecTest, CovariateReferenceMayBeNanOnlyWhenMissingAllowed) {
  ModelSpec s = SmallSpec();
  s.covariates[0].reference = kNan;
  ExpectInvalid(s, "covariate WT: reference nan");
  s.covariates[0].may_be_missing = true;
  EXPECT_TRUE(s.Validate().ok());
  s.covariates[0].reference = 500.0;
  ExpectInvalid(s, "covariate WT: reference 500");
}

TEST(ModelSpecTest, RejectsNegativeResidualSd) {
  ModelSpec s = SmallSpec();
  s.observables[0].error.proportional_sd = -0.1;
  ExpectInvalid(s, "observable CP");
}

TEST(ModelSpecTest, RejectsUnknownOrRepeatedVariabilityParameter) {
  ModelSpec s = SmallSpec();
  s.variability.parameters[1] = "KA";
  ExpectInvalid(s, "'KA' is not a parameter");
  s.variability.parameters[1] = "cl";
  ExpectInvalid(s, "'cl' is listed twice");
}

TEST(ModelSpecTest, RejectsOmegaOfWrongSize) {
  ModelSpec s = SmallSpec();
  s.variability.omega = {0.09, 0.04};
  ExpectInvalid(s, "omega has 2 values, expected 2 x 2");
}

TEST(ModelSpecTest, RejectsAsymmetricOmega) {
  ModelSpec s = SmallSpec();
  s.variability.omega = {0.09, 0.01, 0.02, 0.04};
  ExpectInvalid(s, "not symmetric");
}

TEST(ModelSpecTest, OmegaMustBePositiveSemiDefinite) {
  ModelSpec s = SmallSpec();
  // Correlation 0.02/sqrt(0.09*0.04) = 0.33: valid.
  s.variability.omega = {0.09, 0.02, 0.02, 0.04};
  EXPECT_TRUE(s.Validate().ok());
  // A zero-variance (fixed) eta is singular but valid.
  s.variability.omega = {0.09, 0.0, 0.0, 0.0};
  EXPECT_TRUE(s.Validate().ok());
  // Perfect correlation: singular, still PSD (eigenvalues 0.13 and 0).
  s.variability.omega = {0.09, 0.06, 0.06, 0.04};
  EXPECT_TRUE(s.Validate().ok());
  // Covariance 0.1 > sqrt(0.09*0.04) = 0.06: indefinite.
  s.variability.omega = {0.09, 0.1, 0.1, 0.04};
  ExpectInvalid(s, "not positive semi-definite");
  // Zero diagonal with off-diagonal terms: eigenvalues +-1.
  s.variability.omega = {0.0, 1.0, 1.0, 0.0};
  ExpectInvalid(s, "not positive semi-definite");
  s.variability.omega = {-0.09, 0.0, 0.0, 0.04};
  ExpectInvalid(s, "not positive semi-definite");
}

TEST(ModelDefaultsTest, IndividualizeAppliesExpEtaToVariabilityParameters) {
  SmallModel m(SmallSpec());
  const std::vector<double> theta = {4.0, 50.0}, cov = {70.0};
  std::vector<double> out(2);
  ASSERT_TRUE(m.Individualize(theta, std::vector<double>{0.2, -0.1}, cov, out).ok());
  EXPECT_DOUBLE_EQ(out[0], 4.0 * std::exp(0.2));
  EXPECT_DOUBLE_EQ(out[1], 50.0 * std::exp(-0.1));
  // Empty eta means all zero.
  ASSERT_TRUE(m.Individualize(theta, {}, cov, out).ok());
  EXPECT_EQ(out, theta);
}

TEST(ModelDefaultsTest, IndividualizeEtaFollowsVariabilityOrder) {
  ModelSpec spec = SmallSpec();
  spec.variability.parameters = {"V", "CL"};  // reversed with respect to the parameter order
  SmallModel m(spec);
  std::vector<double> out(2);
  ASSERT_TRUE(m.Individualize(std::vector<double>{4.0, 50.0}, std::vector<double>{0.3, 0.0},
                              std::vector<double>{70.0}, out)
                  .ok());
  EXPECT_DOUBLE_EQ(out[0], 4.0);
  EXPECT_DOUBLE_EQ(out[1], 50.0 * std::exp(0.3));
}

TEST(ModelDefaultsTest, IndividualizeRejectsOutOfBoundsNamingParameterAndValue) {
  SmallModel m(SmallSpec());
  std::vector<double> out(2);
  // CL upper bound 100: 4 * exp(4) = 218.4 is outside.
  Status st = m.Individualize(std::vector<double>{4.0, 50.0}, std::vector<double>{4.0, 0.0},
                              std::vector<double>{70.0}, out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("parameter CL=218.39"), std::string::npos) << st.message();
  // Non-finite theta.
  st = m.Individualize(std::vector<double>{4.0, kNan}, {}, std::vector<double>{70.0}, out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("parameter V=nan"), std::string::npos) << st.message();
}

TEST(ModelDefaultsTest, IndividualizeChecksSizesAndCovariates) {
  SmallModel m(SmallSpec());
  std::vector<double> out(2);
  const std::vector<double> theta = {4.0, 50.0};
  Status st = m.Individualize(theta, std::vector<double>{0.1}, std::vector<double>{70.0}, out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("eta has 1 values, expected 0 or 2"), std::string::npos);
  st = m.Individualize(std::vector<double>{4.0}, {}, std::vector<double>{70.0}, out);
  EXPECT_FALSE(st.ok());
  st = m.Individualize(theta, {}, std::vector<double>{}, out);
  EXPECT_FALSE(st.ok());
  st = m.Individualize(theta, {}, std::vector<double>{0.5}, out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("covariate WT=0.5 kg"), std::string::npos) << st.message();
}

TEST(ModelDefaultsTest, InitialStateIsZero) {
  SmallModel m(SmallSpec());
  std::vector<double> x = {7.0, 8.0};
  const std::vector<double> p = {4.0, 50.0};
  m.InitialState(p.data(), x.data());
  EXPECT_EQ(x, (std::vector<double>{0.0, 0.0}));
}

TEST(ModelInternalTest, OmegaFromCv) {
  // ln(0.3^2 + 1) = ln(1.09) = 0.0861777
  EXPECT_NEAR(internal::OmegaSquaredFromCv(0.3), 0.0861777, 1e-7);
  EXPECT_EQ(internal::DiagonalOmega({1.0, 2.0}), (std::vector<double>{1.0, 0.0, 0.0, 2.0}));
}

}  // namespace
}  // namespace medtwin
