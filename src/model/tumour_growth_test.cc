// Tests of tgi_simeoni2004 and the +simeoni link (tumour_growth.cc). Equations and published
// values: Simeoni M et al., Cancer Res 2004;64(3):1094-1101, Table 2, paclitaxel experiment 1
// (DOMAIN.md section 4.5). Analytic solutions are derived in the comments.
#include "model/tumour_growth.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "model/model_test_util.h"
#include "model/pd_models.h"
#include "model/pk_models.h"

namespace medtwin {
namespace {

// Standalone layout: states drug, cycling, damaged1..3; parameters LAMBDA0, LAMBDA1, K1, K2, W0,
// PSI, KE.
enum { kDrug, kX1, kX2, kX3, kX4 };
enum { kLambda0, kLambda1, kK1, kK2, kW0, kPsi, kKe };

class SimeoniTest : public ::testing::Test {
 protected:
  std::vector<double> Start(const std::vector<double>& p, double conc_ng_per_mL) const {
    std::vector<double> x(5);
    model_->InitialState(p.data(), x.data());
    x[kDrug] = conc_ng_per_mL;
    return x;
  }
  double Weight(const std::vector<double>& x) const { return x[kX1] + x[kX2] + x[kX3] + x[kX4]; }

  std::unique_ptr<Model> model_ = MakeTgiSimeoni2004();
  std::vector<double> p_ = testing::TypicalParameters(*model_);
};

TEST_F(SimeoniTest, SpecCarriesTable2) {
  const ModelSpec& s = model_->spec();
  ASSERT_TRUE(s.Validate().ok()) << s.Validate().ToString();
  EXPECT_EQ(s.time_unit, "day");
  EXPECT_NE(s.citation.find("10.1158/0008-5472.CAN-03-2524"), std::string::npos);
  EXPECT_DOUBLE_EQ(p_[kLambda0], 0.273);
  EXPECT_DOUBLE_EQ(p_[kLambda1], 0.814);
  EXPECT_DOUBLE_EQ(p_[kK1], 0.968);
  EXPECT_DOUBLE_EQ(p_[kK2], 0.000629);
  EXPECT_DOUBLE_EQ(p_[kPsi], 20.0);
  EXPECT_EQ(s.parameters[kK2].unit, "1/(day*ng/mL)");
  EXPECT_EQ(s.default_dose_state, kDrug);
  EXPECT_FALSE(s.states[kX1].dosable);
  EXPECT_EQ(s.observables[0].name, "TUMOR");
}

// Small tumours grow exponentially: w(t) = W0 exp(lambda0 t). From 0.01 g, w(5 d) = 0.039 g, where
// (lambda0 w / lambda1)^20 < 1e-37, so the switch term is invisible in double precision.
TEST_F(SimeoniTest, UnperturbedSmallTumourGrowsExponentially) {
  std::vector<double> p = p_;
  p[kW0] = 0.01;
  for (double t : {1.0, 3.0, 5.0}) {
    std::vector<double> x = Start(p, 0.0);
    testing::IntegrateRk4(*model_, p.data(), 0.0, t, 0.005, x);
    EXPECT_NEAR(Weight(x), 0.01 * std::exp(0.273 * t), 1e-12) << t;
  }
}

// Large tumours grow linearly: for w >> lambda1/lambda0 = 2.98 g the growth is lambda1, so from
// 30 g, w(t) = 30 + 0.814 t.
TEST_F(SimeoniTest, UnperturbedLargeTumourGrowsLinearly) {
  std::vector<double> p = p_;
  p[kW0] = 30.0;
  std::vector<double> x = Start(p, 0.0);
  testing::IntegrateRk4(*model_, p.data(), 0.0, 10.0, 0.01, x);
  EXPECT_NEAR(Weight(x), 30.0 + 0.814 * 10.0, 1e-9);
}

// At the switch weight w = lambda1/lambda0 the growth is lambda1 / 2^(1/psi) (exact from the
// formula); psi = 20 makes the switch sharp: 0.814/2^0.05 = 0.78634 g/day.
TEST_F(SimeoniTest, GrowthAtTheSwitchWeight) {
  std::vector<double> p = p_;
  p[kW0] = 0.814 / 0.273;
  std::vector<double> x = Start(p, 0.0), d(5);
  model_->Rhs(0.0, x.data(), p.data(), d.data());
  EXPECT_NEAR(d[kX1], 0.814 / std::pow(2.0, 0.05), 1e-12);
}

// Weight balance: d(x1+x2+x3+x4)/dt = growth - K1 x4 for any state and concentration; the drug
// only moves weight from x1 to x2.
TEST_F(SimeoniTest, DrugMovesWeightAndOnlyTheLastCompartmentLosesIt) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 2.0);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> x = {u(rng) * 1000.0, u(rng), u(rng), u(rng), u(rng)}, d(5), d0(5);
    model_->Rhs(0.0, x.data(), p_.data(), d.data());
    std::vector<double> no_drug = x;
    no_drug[kDrug] = 0.0;
    model_->Rhs(0.0, no_drug.data(), p_.data(), d0.data());
    const double growth = d0[kX1];  // without drug dx1/dt is the growth term
    EXPECT_NEAR(d[kX1] + d[kX2] + d[kX3] + d[kX4], growth - 0.968 * x[kX4], 1e-12);
  }
}

// With K1 = 0 (no death) and growth switched off (LAMBDA0 at 1e-9/day), total weight is
// conserved under drug; at a constant concentration C the cycling weight decays as
// W0 exp(-K2 C t), and everything it loses sits in x2. C = 2000 ng/mL: K2 C = 1.258 /day.
TEST_F(SimeoniTest, WithoutDeathTotalWeightIsConserved) {
  std::vector<double> p = p_;
  p[kK1] = 0.0;
  p[kLambda0] = 1e-9;
  p[kKe] = 1e-9;  // concentration held
  std::vector<double> x = Start(p, 2000.0);
  testing::IntegrateRk4(*model_, p.data(), 0.0, 3.0, 0.001, x);
  const double w0 = p[kW0];
  EXPECT_NEAR(Weight(x), w0, 1e-8);
  EXPECT_NEAR(x[kX1], w0 * std::exp(-0.000629 * 2000.0 * 3.0), 1e-8);
  EXPECT_NEAR(x[kX2], w0 - x[kX1], 1e-8);
  EXPECT_EQ(x[kX3], 0.0);
}

// Simeoni 2004 define the threshold concentration CT = lambda0/k2 (434 ng/mL with Table 2):
// in the exponential phase a constant concentration above CT shrinks the cycling cells, below it
// they still grow.
TEST_F(SimeoniTest, ThresholdConcentration) {
  const double ct = 0.273 / 0.000629;
  EXPECT_NEAR(ct, 434.0, 0.1);
  std::vector<double> p = p_, d(5);
  p[kW0] = 0.01;
  for (double factor : {0.99, 1.01}) {
    const std::vector<double> x = Start(p, factor * ct);
    model_->Rhs(0.0, x.data(), p.data(), d.data());
    EXPECT_EQ(d[kX1]<0.0, factor> 1.0) << factor;
  }
}

TEST_F(SimeoniTest, ImpossibleParametersAreRejectedByName) {
  std::vector<double> theta = p_, out(p_.size());
  theta[kK2] = -1.0;
  const Status st = model_->Individualize(theta, {}, {}, out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("K2"), std::string::npos) << st.message();
  theta = p_;
  theta[kW0] = 0.0;
  EXPECT_NE(model_->Individualize(theta, {}, {}, out).message().find("W0"), std::string::npos);
}

// The link over pk1cmt (states depot, central; parameters CL, V, KA): rate constants per hour and
// K2 per mg/L, so at CP = c mg/L its tumour derivatives times 24 equal the standalone model's at
// C = 1000 c ng/mL, for any tumour state.
TEST(SimeoniLinkTest, ConvertsThePaperUnitsExactly) {
  Result<std::unique_ptr<Model>> linked = MakePdLinkedModel(MakePk1Cmt(), PdLink::kSimeoni);
  ASSERT_TRUE(linked.ok()) << linked.status().ToString();
  const Model& m = **linked;
  EXPECT_EQ(m.spec().name, "pk1cmt+simeoni");
  ASSERT_EQ(m.num_states(), 6);
  EXPECT_EQ(m.spec().states[2].name, "cycling");
  EXPECT_EQ(m.spec().ObservableIndex("TUMOR"), 1);
  EXPECT_EQ(m.spec().parameters[m.spec().ParameterIndex("K2")].unit, "1/(h*mg/L)");
  const std::unique_ptr<Model> standalone = MakeTgiSimeoni2004();
  std::vector<double> p = testing::TypicalParameters(m);
  const std::vector<double> ps = testing::TypicalParameters(*standalone);
  const double v_L = p[1];
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0.0, 3.0);
  for (int trial = 0; trial < 10; ++trial) {
    const double cp_mg_per_L = u(rng);
    std::vector<double> x = {0.0, cp_mg_per_L * v_L, u(rng), u(rng), u(rng), u(rng)}, d(6);
    std::vector<double> xs = {1000.0 * cp_mg_per_L, x[2], x[3], x[4], x[5]}, ds(5);
    m.Rhs(0.0, x.data(), p.data(), d.data());
    standalone->Rhs(0.0, xs.data(), ps.data(), ds.data());
    for (int i = 0; i < 4; ++i)
      EXPECT_NEAR(24.0 * d[2 + i], ds[1 + i], 1e-12 * (1 + std::fabs(ds[1 + i])));
  }
  // Initial state: the PK model's, then W0 in the cycling cells.
  std::vector<double> x0(6);
  m.InitialState(p.data(), x0.data());
  EXPECT_EQ(x0, (std::vector<double>{0.0, 0.0, 0.05, 0.0, 0.0, 0.0}));
}

// A fake model with CP in mg/L but time in minutes: the link refuses it rather than mixing units.
class MinutesModel final : public Model {
 public:
  MinutesModel() : Model(Spec()) {}
  void Rhs(double, const double*, const double*, double* d) const override { d[0] = 0.0; }
  void Observe(double, const double* x, const double*, double* y) const override { y[0] = x[0]; }

 private:
  static ModelSpec Spec() {
    ModelSpec s;
    s.name = "minutes";
    s.time_unit = "min";
    s.states = {{"central", "mg", "", true}};
    s.observables = {{"CP", "mg/L", "", {}}};
    return s;
  }
};

TEST(SimeoniLinkTest, RefusesModelsItCannotRead) {
  Result<std::unique_ptr<Model>> m =
      MakePdLinkedModel(std::make_unique<MinutesModel>(), PdLink::kSimeoni);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.status().message().find("'min'"), std::string::npos) << m.status().message();
  Result<std::unique_ptr<Model>> tumour_on_tumour =
      MakePdLinkedModel(MakeTgiSimeoni2004(), PdLink::kSimeoni);
  ASSERT_FALSE(tumour_on_tumour.ok());
  EXPECT_NE(tumour_on_tumour.status().message().find("no observable CP"), std::string::npos);
}

TEST(SimeoniLinkTest, IndividualizeChecksTheTumourParameters) {
  Result<std::unique_ptr<Model>> linked = MakePdLinkedModel(MakePk1Cmt(), PdLink::kSimeoni);
  ASSERT_TRUE(linked.ok());
  const Model& m = **linked;
  std::vector<double> theta = testing::TypicalParameters(m), out(theta.size());
  ASSERT_TRUE(m.Individualize(theta, {}, {}, out).ok());
  theta[m.spec().ParameterIndex("LAMBDA1")] = 0.0;
  const Status st = m.Individualize(theta, {}, {}, out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("LAMBDA1"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace medtwin
