// Tests of viral_baccam2006 (viral.cc). Published numbers: Baccam P et al., J Virol
// 2006;80(15):7590-7599, abstract (eclipse ~6 h, production ~5 h, infected-cell lifetime ~11 h,
// virus half-life ~3 h, R0 ~22); model form and R0 = beta*p*T0/(c*delta) as in DOMAIN.md 4.6.
#include "model/viral.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "model/model_test_util.h"

namespace medtwin {
namespace {

enum { kT, kE, kI, kV };
enum { kT0, kV0, kBeta, kK, kDelta, kP, kC, kEpsBeta, kEpsP, kTrx };

// Early growth: with T = T0 the linear system (E, I, V) grows at the largest root r of
// (r + K)(r + DELTA)(r + C) = (1 - EPS_BETA)(1 - EPS_P) BETA T0 P K (bisection).
double EarlyGrowthRate(const std::vector<double>& p) {
  const double drive = (1 - p[kEpsBeta]) * (1 - p[kEpsP]) * p[kBeta] * p[kT0] * p[kP] * p[kK];
  auto f = [&](double r) { return (r + p[kK]) * (r + p[kDelta]) * (r + p[kC]) - drive; };
  double lo = -std::min({p[kK], p[kDelta], p[kC]}), hi = 100.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (f(mid) > 0 ? hi : lo) = mid;
  }
  return 0.5 * (lo + hi);
}

class ViralTest : public ::testing::Test {
 protected:
  std::vector<double> Start(const std::vector<double>& p) const {
    std::vector<double> x(4);
    model_->InitialState(p.data(), x.data());
    return x;
  }
  // Slope of ln V between days 1 and 1.5 from V0 = 1e-12 TCID50/mL: the other modes have decayed
  // (they are at least ~15/day slower) and target cells are not yet measurably depleted.
  double MeasuredGrowthRate(std::vector<double> p) const {
    p[kV0] = 1e-12;
    std::vector<double> x = Start(p);
    testing::IntegrateRk4(*model_, p.data(), 0.0, 1.0, 0.0005, x);
    const double v1 = x[kV];
    testing::IntegrateRk4(*model_, p.data(), 1.0, 0.5, 0.0005, x);
    return std::log(x[kV] / v1) / 0.5;
  }

  std::unique_ptr<Model> model_ = MakeViralBaccam2006();
  std::vector<double> p_ = testing::TypicalParameters(*model_);
};

// 1/K = 6 h eclipse, 1/DELTA = 5 h production, together the ~11 h lifetime of an infected cell,
// ln2/C = 3 h virus half-life, R0 = 22 with T0 = 4e8 cells.
TEST_F(ViralTest, ParametersReproduceThePublishedDurationsAndR0) {
  const ModelSpec& s = model_->spec();
  ASSERT_TRUE(s.Validate().ok()) << s.Validate().ToString();
  EXPECT_EQ(s.time_unit, "day");
  EXPECT_NE(s.citation.find("10.1128/JVI.01623-05"), std::string::npos);
  EXPECT_NEAR(24.0 / p_[kK], 6.0, 1e-12);
  EXPECT_NEAR(24.0 / p_[kDelta], 5.0, 1e-12);
  EXPECT_NEAR(24.0 / p_[kK] + 24.0 / p_[kDelta], 11.0, 1e-12);
  EXPECT_NEAR(24.0 * std::log(2.0) / p_[kC], 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(p_[kT0], 4e8);
  EXPECT_NEAR(ViralR0(p_.data()), 22.0, 1e-9);
  EXPECT_EQ(s.default_dose_state, kV);
  EXPECT_EQ(p_[kEpsBeta], 0.0);
  EXPECT_EQ(p_[kEpsP], 0.0);
}

// The early exponential growth rate equals the dominant root of the linearised system (about
// 8.5 /day with the defaults), for the defaults and random parameter sets.
TEST_F(ViralTest, EarlyExponentialGrowthRate) {
  std::mt19937 rng(5);
  std::vector<std::vector<double>> sets = {p_};
  for (int i = 0; i < 4; ++i) {
    std::vector<double> p = testing::RandomParameters(*model_, rng);
    p[kEpsBeta] = p[kEpsP] = p[kTrx] = 0.0;
    sets.push_back(p);
  }
  for (const auto& p : sets) {
    const double r = EarlyGrowthRate(p);
    ASSERT_GT(r, 1.0);
    EXPECT_NEAR(MeasuredGrowthRate(p), r, 1e-3 * r);
  }
  EXPECT_NEAR(EarlyGrowthRate(p_), 8.51, 0.01);
}

// R0 is the threshold: at R0 = 1 the growth rate is exactly 0 (the cubic at r = 0 reads
// K*DELTA*C = BETA*T0*P*K), below it the infection declines, above it grows.
TEST_F(ViralTest, R0IsTheGrowthThreshold) {
  for (double r0 : {0.5, 1.0, 2.0}) {
    std::vector<double> p = p_;
    p[kP] *= r0 / 22.0;
    EXPECT_NEAR(ViralR0(p.data()), r0, 1e-12);
    const double r = EarlyGrowthRate(p);
    if (r0 == 1.0) {
      EXPECT_NEAR(r, 0.0, 1e-9);
    } else {
      EXPECT_EQ(r > 0.0, r0 > 1.0) << r0;
    }
  }
}

// Without infection (BETA = 0) target cells are conserved exactly and the inoculum is cleared as
// V0 exp(-C t); in general cells leave T + E + I only by death of producing cells.
TEST_F(ViralTest, TargetCellsConservedWithoutInfection) {
  std::vector<double> p = p_;
  p[kBeta] = 0.0;
  p[kV0] = 1e3;
  std::vector<double> x = Start(p);
  testing::IntegrateRk4(*model_, p.data(), 0.0, 2.0, 0.001, x);
  EXPECT_EQ(x[kT], 4e8);
  EXPECT_EQ(x[kE] + x[kI], 0.0);
  EXPECT_NEAR(x[kV], 1e3 * std::exp(-p[kC] * 2.0), 1e-9 * x[kV]);
  std::mt19937 rng(9);
  for (int trial = 0; trial < 10; ++trial) {
    const std::vector<double> pr = testing::RandomParameters(*model_, rng);
    std::vector<double> xr = testing::RandomState(*model_, rng), d(4);
    model_->Rhs(0.0, xr.data(), pr.data(), d.data());
    EXPECT_NEAR(d[kT] + d[kE] + d[kI], -pr[kDelta] * xr[kI], 1e-9 * (1 + pr[kDelta] * xr[kI]));
  }
}

// Antiviral efficacies scale R0 and the growth rate: EPS_BETA = EPS_P = 0.5 gives R0 = 5.5;
// EPS_P = 1 stops production, so the virus is cleared as V0 exp(-C t) despite infections.
TEST_F(ViralTest, AntiviralEfficacy) {
  std::vector<double> p = p_;
  p[kEpsBeta] = 0.5;
  p[kEpsP] = 0.5;
  const double r = EarlyGrowthRate(p);
  EXPECT_LT(r, EarlyGrowthRate(p_));
  EXPECT_NEAR(MeasuredGrowthRate(p), r, 1e-3 * r);
  p = p_;
  p[kEpsP] = 1.0;
  std::vector<double> x = Start(p);
  testing::IntegrateRk4(*model_, p.data(), 0.0, 1.0, 0.001, x);
  EXPECT_NEAR(x[kV], 0.1 * std::exp(-p[kC]), 1e-9);
  EXPECT_LT(x[kT], 4e8);  // cells were still infected by the inoculum
}

// The treatment starts at TRX: untreated before, treated from TRX on; the switch is a root.
TEST_F(ViralTest, TreatmentStartsAtTrx) {
  std::vector<double> p = p_;
  p[kEpsP] = 0.9;
  p[kTrx] = 2.0;
  const std::vector<double> x = {3e8, 1e6, 1e6, 1e4};
  std::vector<double> before(4), after(4), untreated(4);
  model_->Rhs(1.999, x.data(), p.data(), before.data());
  model_->Rhs(2.0, x.data(), p.data(), after.data());
  model_->Rhs(1.999, x.data(), p_.data(), untreated.data());
  EXPECT_EQ(before, untreated);
  EXPECT_NEAR(after[kV], 0.1 * p[kP] * 1e6 - p[kC] * 1e4, 1e-6);
  ASSERT_EQ(model_->num_roots(), 1);
  double g = 0.0;
  model_->Roots(2.5, x.data(), p.data(), &g);
  EXPECT_DOUBLE_EQ(g, 0.5);
}

TEST_F(ViralTest, ImpossibleParametersAreRejectedByName) {
  std::vector<double> theta = p_, out(p_.size());
  theta[kEpsP] = 1.5;
  const Status st = model_->Individualize(theta, {}, {}, out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("EPS_P"), std::string::npos) << st.message();
  theta = p_;
  theta[kC] = -1.0;
  EXPECT_NE(model_->Individualize(theta, {}, {}, out).message().find("C="), std::string::npos);
}

}  // namespace
}  // namespace medtwin
