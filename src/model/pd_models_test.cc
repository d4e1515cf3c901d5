// Tests of the PD links (pd_models.cc): direct sigmoid Emax (Holford & Sheiner, Clin Pharmacokinet
// 1981;6:429-453) and the four indirect response models (Dayneka, Garg & Jusko, J Pharmacokinet
// Biopharm 1993;21:457-478).
#include "model/pd_models.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "model/model_test_util.h"
#include "model/pk_models.h"
#include "model/vancomycin.h"

namespace medtwin {
namespace {

std::unique_ptr<Model> Link(std::unique_ptr<Model> pk, PdLink link) {
  Result<std::unique_ptr<Model>> m = MakePdLinkedModel(std::move(pk), link);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

// pk1cmt parameters CL, V, KA, then the link's four parameters.
std::vector<double> Pk1CmtParams(std::vector<double> pd) {
  std::vector<double> p = {4.0, 50.0, 1.0};
  p.insert(p.end(), pd.begin(), pd.end());
  return p;
}

// EFFECT at concentration conc_mg_per_L (central = conc * V with V = 50 L).
double EffectAt(const Model& m, const std::vector<double>& p, double conc_mg_per_L) {
  const std::vector<double> x = {0.0, conc_mg_per_L * 50.0};
  std::vector<double> y(2);
  m.Observe(0.0, x.data(), p.data(), y.data());
  EXPECT_DOUBLE_EQ(y[0], conc_mg_per_L);  // CP passes through unchanged
  return y[1];
}

TEST(PdLinkTest, SpellingsRoundTrip) {
  for (PdLink l : {PdLink::kEmax, PdLink::kIrm1, PdLink::kIrm2, PdLink::kIrm3, PdLink::kIrm4}) {
    EXPECT_EQ(*PdLinkFromString(ToString(l)), l);
  }
  EXPECT_EQ(*PdLinkFromString("IRM3"), PdLink::kIrm3);
  const Result<PdLink> bad = PdLinkFromString("irm5");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
  EXPECT_NE(bad.status().message().find("'irm5'"), std::string::npos);
}

TEST(EmaxTest, SpecConcatenatesPkThenPd) {
  const auto m = Link(MakePk1Cmt(), PdLink::kEmax);
  const ModelSpec& s = m->spec();
  EXPECT_EQ(s.name, "pk1cmt+emax");
  EXPECT_TRUE(s.Validate().ok());
  EXPECT_EQ(m->num_states(), 2);  // no extra state
  EXPECT_EQ(s.ParameterIndex("KA"), 2);
  EXPECT_EQ(s.ParameterIndex("E0"), 3);
  EXPECT_EQ(s.ParameterIndex("HILL"), 6);
  EXPECT_EQ(s.ObservableIndex("CP"), 0);
  EXPECT_EQ(s.ObservableIndex("EFFECT"), 1);
  EXPECT_EQ(s.variability.parameters, (std::vector<std::string>{"CL", "V"}));
  EXPECT_NE(s.citation.find("Holford"), std::string::npos);
}

// E = E0 + EMAX*C^h/(EC50^h + C^h): E0 at C = 0, E0 + EMAX/2 at C = EC50 for any h, and for h = 2
// at C = 2*EC50: E0 + EMAX*4/5.
TEST(EmaxTest, EffectValues) {
  const auto m = Link(MakePk1Cmt(), PdLink::kEmax);
  for (double hill : {0.5, 1.0, 3.0}) {
    const std::vector<double> p = Pk1CmtParams({10.0, 40.0, 4.0, hill});
    EXPECT_DOUBLE_EQ(EffectAt(*m, p, 0.0), 10.0);
    EXPECT_NEAR(EffectAt(*m, p, 4.0), 10.0 + 20.0, 1e-12);
  }
  const std::vector<double> p = Pk1CmtParams({10.0, 40.0, 4.0, 2.0});
  EXPECT_NEAR(EffectAt(*m, p, 8.0), 10.0 + 40.0 * 0.8, 1e-12);
  // Inhibitory (negative EMAX) effect with a huge Hill coefficient: a step at EC50, no NaN.
  const std::vector<double> steep = Pk1CmtParams({100.0, -100.0, 4.0, 500.0});
  EXPECT_NEAR(EffectAt(*m, steep, 3.0), 100.0, 1e-9);
  EXPECT_NEAR(EffectAt(*m, steep, 5.0), 0.0, 1e-9);
}

// Round-off can make CP slightly negative; a fractional Hill power must not turn that into NaN.
TEST(EmaxTest, NegativeConcentrationTreatedAsZero) {
  const auto m = Link(MakePk1Cmt(), PdLink::kEmax);
  EXPECT_DOUBLE_EQ(EffectAt(*m, Pk1CmtParams({10.0, 40.0, 4.0, 0.5}), -1e-12), 10.0);
}

TEST(EmaxTest, DynamicsAndLinearMatrixAreThePkModels) {
  const auto pk = MakePk2Cmt();
  const auto m = Link(MakePk2Cmt(), PdLink::kEmax);
  std::mt19937 rng(1);
  const std::vector<double> p = testing::RandomParameters(*m, rng);
  const std::vector<double> x = testing::RandomState(*m, rng);
  std::vector<double> d_pk(3), d_pd(3), a_pk(9), a_pd(9);
  pk->Rhs(0.0, x.data(), p.data(), d_pk.data());
  m->Rhs(0.0, x.data(), p.data(), d_pd.data());
  EXPECT_EQ(d_pd, d_pk);
  ASSERT_TRUE(pk->LinearMatrix(p.data(), a_pk.data()));
  ASSERT_TRUE(m->LinearMatrix(p.data(), a_pd.data()));
  EXPECT_EQ(a_pd, a_pk);
  // Over a nonlinear PK model the link is nonlinear too.
  const auto mm = Link(MakePk1CmtMm(), PdLink::kEmax);
  EXPECT_FALSE(mm->LinearMatrix(testing::TypicalParameters(*mm).data(), a_pd.data()));
}

struct IrmCase {
  PdLink link;
  double sign_of_drug_effect;  // direction of dR/dt at R = R0 when drug is present
};

// I and IV lower R (less production, more loss); II and III raise it.
const IrmCase kIrmCases[] = {
    {PdLink::kIrm1, -1.0}, {PdLink::kIrm2, +1.0}, {PdLink::kIrm3, +1.0}, {PdLink::kIrm4, -1.0}};

// KIN 10 unit/h, KOUT 0.2 /h (R0 = 50), IMAX/SMAX 0.8, IC50/SC50 2 mg/L.
const std::vector<double> kIrmParams = Pk1CmtParams({10.0, 0.2, 0.8, 2.0});

double ResponseRate(const Model& m, double conc_mg_per_L, double response) {
  const std::vector<double> x = {0.0, conc_mg_per_L * 50.0, response};
  std::vector<double> dxdt(3);
  m.Rhs(0.0, x.data(), kIrmParams.data(), dxdt.data());
  return dxdt[2];
}

TEST(IrmTest, SpecAddsResponseState) {
  for (const IrmCase& c : kIrmCases) {
    const auto m = Link(MakePk1Cmt(), c.link);
    const ModelSpec& s = m->spec();
    SCOPED_TRACE(s.name);
    EXPECT_EQ(s.name, std::string("pk1cmt+") + ToString(c.link));
    EXPECT_EQ(m->num_states(), 3);
    EXPECT_EQ(s.StateIndex("3"), s.StateIndex("response"));
    EXPECT_FALSE(s.states[2].dosable);
    EXPECT_EQ(s.ObservableIndex("RESPONSE"), 1);
    const bool inhibitory = c.link == PdLink::kIrm1 || c.link == PdLink::kIrm2;
    EXPECT_EQ(s.ParameterIndex(inhibitory ? "IMAX" : "SMAX"), 5);
    EXPECT_EQ(s.ParameterIndex(inhibitory ? "IC50" : "SC50"), 6);
    EXPECT_NE(s.citation.find("Dayneka"), std::string::npos);
    std::vector<double> a(9);
    EXPECT_FALSE(m->LinearMatrix(kIrmParams.data(), a.data()));
  }
}

// Without drug every IRM is at rest at R0 = KIN/KOUT, which is also the initial state.
TEST(IrmTest, BaselineSteadyStateIsKinOverKout) {
  for (const IrmCase& c : kIrmCases) {
    const auto m = Link(MakePk1Cmt(), c.link);
    SCOPED_TRACE(m->spec().name);
    std::vector<double> x(3, -1.0);
    m->InitialState(kIrmParams.data(), x.data());
    EXPECT_EQ(x[0], 0.0);
    EXPECT_EQ(x[1], 0.0);
    EXPECT_DOUBLE_EQ(x[2], 50.0);
    EXPECT_NEAR(ResponseRate(*m, 0.0, 50.0), 0.0, 1e-12);
    EXPECT_NEAR(ResponseRate(*m, 0.0, 60.0), -0.2 * 10.0, 1e-12);  // first-order return to R0
    std::vector<double> y(2);
    m->Observe(0.0, x.data(), kIrmParams.data(), y.data());
    EXPECT_DOUBLE_EQ(y[1], 50.0);
  }
}

TEST(IrmTest, DrugMovesResponseInTheDocumentedDirection) {
  for (const IrmCase& c : kIrmCases) {
    const auto m = Link(MakePk1Cmt(), c.link);
    SCOPED_TRACE(m->spec().name);
    EXPECT_GT(c.sign_of_drug_effect * ResponseRate(*m, 2.0, 50.0), 0.0);
  }
}

// At C = IC50 = SC50 the drug term is 0.8*2/(2 + 2) = 0.4, and at a constant C the response rests
// at
//   I: R = KIN*(1 - 0.4)/KOUT = 30   II: R = KIN/(KOUT*(1 - 0.4)) = 83.33
//   III: R = KIN*(1 + 0.4)/KOUT = 70 IV: R = KIN/(KOUT*(1 + 0.4)) = 35.71
TEST(IrmTest, SteadyStateAtConstantConcentration) {
  const double r_ss[] = {30.0, 10.0 / (0.2 * 0.6), 70.0, 10.0 / (0.2 * 1.4)};
  for (int i = 0; i < 4; ++i) {
    const auto m = Link(MakePk1Cmt(), kIrmCases[i].link);
    SCOPED_TRACE(m->spec().name);
    EXPECT_NEAR(ResponseRate(*m, 2.0, r_ss[i]), 0.0, 1e-12);
    EXPECT_GT(std::abs(ResponseRate(*m, 2.0, r_ss[i] * 1.1)), 0.1);
  }
}

TEST(IrmTest, PkPartDelegates) {
  const auto pk = MakePk1Cmt();
  const auto m = Link(MakePk1Cmt(), PdLink::kIrm3);
  const std::vector<double> x = {120.0, 80.0, 40.0};
  std::vector<double> d_pk(2), d_pd(3);
  pk->Rhs(0.0, x.data(), kIrmParams.data(), d_pk.data());
  m->Rhs(0.0, x.data(), kIrmParams.data(), d_pd.data());
  EXPECT_EQ(d_pd[0], d_pk[0]);
  EXPECT_EQ(d_pd[1], d_pk[1]);
}

TEST(PdIndividualizeTest, PkCovariatesAndEtaPassThroughPdCopied) {
  const auto m = Link(MakeVancomycinGoti2018(), PdLink::kIrm1);
  const ModelSpec& s = m->spec();
  ASSERT_EQ(s.covariates.size(), 6u);
  std::vector<double> theta = testing::TypicalParameters(*m);
  ASSERT_EQ(theta.size(), 8u);
  // Reference man (see vancomycin_test.cc): CL = 3.4952 L/h; eta_CL 0.1 multiplies it by e^0.1.
  const std::vector<double> cov = {70.0, 50.0, 0.0, 1.0, 0.0, std::nan("")};
  std::vector<double> out(8);
  ASSERT_TRUE(m->Individualize(theta, std::vector<double>{0.1, 0.0, 0.0}, cov, out).ok());
  EXPECT_NEAR(out[0], 3.495216 * std::exp(0.1), 1e-5);
  for (int k = 4; k < 8; ++k) EXPECT_EQ(out[k], theta[k]);
  // PD parameters are bounds-checked: IMAX above 1 would make production negative.
  theta[s.ParameterIndex("IMAX")] = 1.5;
  const Status st = m->Individualize(theta, {}, cov, out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("parameter IMAX=1.5"), std::string::npos) << st.message();
  // PK covariate errors come through with the covariate named.
  const std::vector<double> bad_cov = {70.0, 50.0, 0.0, 1.0, 0.0, -5.0};
  const Status st2 = m->Individualize(testing::TypicalParameters(*m), {}, bad_cov, out);
  ASSERT_FALSE(st2.ok());
  EXPECT_NE(st2.message().find("covariate CRCL=-5"), std::string::npos) << st2.message();
}

// A model without CP cannot take a PD link.
class NoCpModel final : public Model {
 public:
  NoCpModel() : Model(Spec()) {}
  static ModelSpec Spec() {
    ModelSpec s;
    s.name = "nocp";
    s.states = {{"a", "mg", "", true}};
    s.observables = {{"AMOUNT", "mg", "", {}}};
    return s;
  }
  void Rhs(double, const double*, const double*, double* dxdt) const override { dxdt[0] = 0; }
  void Observe(double, const double* x, const double*, double* y) const override { y[0] = x[0]; }
};

TEST(PdLinkTest, RejectsModelWithoutCp) {
  Result<std::unique_ptr<Model>> m =
      MakePdLinkedModel(std::make_unique<NoCpModel>(), PdLink::kEmax);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.status().message().find("'nocp' has no observable CP"), std::string::npos);
}

}  // namespace
}  // namespace medtwin
