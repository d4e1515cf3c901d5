// Tests of warfarin_hamberg2007 (warfarin.cc). Published values: Hamberg A-K et al., Clin
// Pharmacol Ther 2007;81(4):529-538, Table 2 (PK), Table 4 (PD) and the Appendix structure, as
// restated in DOMAIN.md sections 2.3 and 4.7. Worked numbers are derived in the comments.
#include "model/warfarin.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "model/model_test_util.h"

namespace medtwin {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
enum { kDepot, kCentral, kPeriph, kA1, kA2, kA3, kA4, kA5, kA6, kA7 };
enum { kCl, kV1, kQ, kV2, kKa, kEc50, kEmax, kGamma, kMtt1, kMtt2, kLambda, kInrMax, kBase };

struct Patient {
  double age_y = 71.0, cyp2c9 = 11.0, vkorc1 = 0.0, inr0 = kNan;
  std::vector<double> Covariates() const { return {age_y, cyp2c9, vkorc1, inr0}; }
};

class WarfarinTest : public ::testing::Test {
 protected:
  std::vector<double> Individual(const Patient& patient) {
    std::vector<double> out(theta_.size());
    const Status st = model_->Individualize(theta_, {}, patient.Covariates(), out);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
  Status Try(const Patient& patient) {
    std::vector<double> out(theta_.size());
    return model_->Individualize(theta_, {}, patient.Covariates(), out);
  }
  double Inr(const std::vector<double>& x, const std::vector<double>& p) const {
    std::vector<double> y(2);
    model_->Observe(0.0, x.data(), p.data(), y.data());
    return y[1];
  }

  std::unique_ptr<Model> model_ = MakeWarfarinHamberg2007();
  std::vector<double> theta_ = testing::TypicalParameters(*model_);
};

TEST_F(WarfarinTest, SpecCarriesTables2And4) {
  const ModelSpec& s = model_->spec();
  ASSERT_TRUE(s.Validate().ok()) << s.Validate().ToString();
  EXPECT_EQ(s.name, "warfarin_hamberg2007");
  EXPECT_NE(s.citation.find("10.1038/sj.clpt.6100084"), std::string::npos);
  EXPECT_EQ(theta_, (std::vector<double>{0.314, 13.8, 0.131, 6.59, 2.0, 4.61, 1.0, 0.424, 11.6,
                                         120.0, 3.61, 20.0, 1.0}));
  ASSERT_EQ(model_->num_states(), 10);
  EXPECT_EQ(s.StateIndex("chain1_6"), kA6);
  EXPECT_EQ(s.StateIndex("chain2"), kA7);
  EXPECT_FALSE(s.states[kA1].dosable);
  EXPECT_EQ(s.default_dose_state, kDepot);
  EXPECT_EQ(s.observables[0].name, "CP");
  EXPECT_EQ(s.observables[1].name, "INR");
  EXPECT_DOUBLE_EQ(s.observables[1].error.exponential_sd, 0.0325);
}

// omega^2 = ln(1 + CV^2): CL 31.0 % -> 0.09171, V2 99.1 % -> 0.68415, MTT2 102 % -> 0.71315,
// EC50 40.9 % -> 0.15468 (Tables 2 and 4; no covariances are published).
TEST_F(WarfarinTest, VariabilityFromPublishedCvs) {
  const Variability& v = model_->spec().variability;
  ASSERT_EQ(v.parameters, (std::vector<std::string>{"CL", "V1", "V2", "MTT1", "MTT2", "EC50"}));
  EXPECT_NEAR(v.omega[0 * 6 + 0], 0.09171, 5e-5);
  EXPECT_NEAR(v.omega[2 * 6 + 2], 0.68415, 5e-5);
  EXPECT_NEAR(v.omega[4 * 6 + 4], 0.71315, 5e-5);
  EXPECT_NEAR(v.omega[5 * 6 + 5], 0.15468, 5e-5);
  EXPECT_EQ(v.omega[1], 0.0);
}

// Table 2: CL_S 0.314 L/h for *1/*1 at 71 years, reduced by 31.5 % (*1/*2), 45.3 % (*1/*3),
// 72.2 % (*2/*2), 69.0 % (*2/*3), 85.2 % (*3/*3).
TEST_F(WarfarinTest, ClearanceByCyp2c9Genotype) {
  const std::vector<std::pair<double, double>> expected = {
      {11, 0.314}, {12, 0.215090}, {13, 0.171758}, {22, 0.087292}, {23, 0.097340}, {33, 0.046472}};
  for (const auto& [code, cl] : expected) {
    Patient p;
    p.cyp2c9 = code;
    EXPECT_NEAR(Individual(p)[kCl], cl, 5e-7) << code;
  }
}

// Age: factor 1 - 0.0091*(AGE - 71). *1/*1 at 81 y: 0.314*0.909 = 0.285426 L/h; at 50 y:
// 0.314*1.1911 = 0.374005 L/h; *3/*3 at 81 y: 0.314*0.148*0.909 = 0.042243 L/h.
TEST_F(WarfarinTest, ClearanceByAge) {
  Patient p;
  p.age_y = 81.0;
  EXPECT_NEAR(Individual(p)[kCl], 0.285426, 5e-7);
  p.age_y = 50.0;
  EXPECT_NEAR(Individual(p)[kCl], 0.374005, 5e-7);
  p.age_y = 81.0;
  p.cyp2c9 = 33.0;
  EXPECT_NEAR(Individual(p)[kCl], 0.042243, 5e-7);
}

// Table 4: EC50 4.61 (GG), 3.02 (GA), 2.20 (AA) mg/L; the other parameters do not move.
TEST_F(WarfarinTest, Ec50ByVkorc1Genotype) {
  const double expected[] = {4.61, 3.02, 2.20};
  for (int a = 0; a <= 2; ++a) {
    Patient p;
    p.vkorc1 = a;
    const std::vector<double> ind = Individual(p);
    EXPECT_NEAR(ind[kEc50], expected[a], 1e-12) << a;
    EXPECT_DOUBLE_EQ(ind[kCl], 0.314);
  }
}

void ExpectInvalid(const Status& st, const std::string& fragment) {
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find(fragment), std::string::npos) << st.message();
}

TEST_F(WarfarinTest, UnknownGenotypesAndImpossibleCovariatesAreErrors) {
  for (double code : {14.0, 21.0, 12.5, 31.0}) {
    Patient p;
    p.cyp2c9 = code;
    ExpectInvalid(Try(p), "CYP2C9=");
    ExpectInvalid(Try(p), "expected 11 (*1/*1), 12 (*1/*2)");
  }
  Patient p;
  p.cyp2c9 = 44.0;  // outside [11, 33]
  ExpectInvalid(Try(p), "CYP2C9=44");
  p = Patient{};
  p.vkorc1 = 1.5;
  ExpectInvalid(Try(p), "VKORC1=1.5 is not a VKORC1 -1639 genotype");
  p.vkorc1 = 3.0;
  ExpectInvalid(Try(p), "VKORC1=3");
  p = Patient{};
  p.age_y = 10.0;
  ExpectInvalid(Try(p), "AGE=10");
  p = Patient{};
  p.inr0 = -1.0;
  ExpectInvalid(Try(p), "INR0=-1");
}

// Without drug every clotting-factor compartment stays at 1 and INR = BASE: 1 by default, the
// patient's own INR0 when given.
TEST_F(WarfarinTest, NoDrugBaselineInr) {
  for (double inr0 : {kNan, 1.2}) {
    Patient patient;
    patient.inr0 = inr0;
    const std::vector<double> p = Individual(patient);
    std::vector<double> x(10), d(10);
    model_->InitialState(p.data(), x.data());
    model_->Rhs(100.0, x.data(), p.data(), d.data());
    for (double v : d) EXPECT_EQ(v, 0.0);
    EXPECT_DOUBLE_EQ(Inr(x, p), std::isnan(inr0) ? 1.0 : 1.2);
  }
}

// Mass balance of the PK part: d(depot + central + periph)/dt = -CL*C for any state, and after a
// single oral dose AUC(0-inf) = Dose/CL (F = 1): 10 mg / 0.314 L/h = 31.847 mg*h/L.
TEST_F(WarfarinTest, PkMassBalance) {
  const std::vector<double> p = Individual(Patient{});
  std::mt19937 rng(11);
  for (int trial = 0; trial < 10; ++trial) {
    std::vector<double> x = testing::RandomState(*model_, rng), d(10);
    model_->Rhs(0.0, x.data(), p.data(), d.data());
    EXPECT_NEAR(d[kDepot] + d[kCentral] + d[kPeriph], -0.314 * x[kCentral] / 13.8, 1e-12);
  }
  std::vector<double> x(10);
  model_->InitialState(p.data(), x.data());
  x[kDepot] = 10.0;
  const double step_h = 0.05;
  double auc = 0.0, c_prev = 0.0;
  for (int k = 0; k < 60000; ++k) {  // 3,000 h, about 48 terminal half-lives
    testing::IntegrateRk4(*model_, p.data(), k * step_h, step_h, step_h, x);
    const double c = x[kCentral] / 13.8;
    auc += 0.5 * step_h * (c + c_prev);
    c_prev = c;
  }
  EXPECT_NEAR(auc, 10.0 / 0.314, 1e-4 * 10.0 / 0.314);
  EXPECT_LT(x[kDepot] + x[kCentral] + x[kPeriph], 1e-9);
}

// Held concentration (CL and Q at 1e-9 L/h, no depot): after a step to inhibition E the first
// transit compartment follows A1(t) = 1 - E (1 - exp(-t/MTT1)) and chain 2 the same with MTT2,
// the transit rate being 1/MTT per compartment.
TEST_F(WarfarinTest, TransitChainsFollowTheirMeanTransitTimes) {
  std::vector<double> p = Individual(Patient{});
  p[kCl] = p[kQ] = 1e-9;
  const double c = 1.0;  // mg/L
  const double e = 1.0 / (1.0 + std::pow(4.61 / c, 0.424));
  std::vector<double> x(10);
  model_->InitialState(p.data(), x.data());
  x[kCentral] = c * p[kV1];
  testing::IntegrateRk4(*model_, p.data(), 0.0, 24.0, 0.01, x);
  EXPECT_NEAR(x[kA1], 1.0 - e * (1.0 - std::exp(-24.0 / 11.6)), 1e-8);
  EXPECT_NEAR(x[kA7], 1.0 - e * (1.0 - std::exp(-24.0 / 120.0)), 1e-8);
  // Later compartments lag behind the first.
  EXPECT_GT(x[kA6], x[kA1]);
}

// Erlang CDF (regularised lower incomplete gamma function P(k, u) for integer k):
// P(k, u) = 1 - exp(-u) * sum_{j<k} u^j / j!.
double ErlangCdf(int k, double u) {
  double term = 1.0, sum = 0.0;
  for (int j = 0; j < k; ++j) {
    sum += term;
    term *= u / (j + 1);
  }
  return 1.0 - std::exp(-u) * sum;
}

// Time course of the whole chain at a held drug effect. From A = 1 everywhere, a step of the
// synthesis to 1 - E gives, with ktr = 1/MTT per compartment (Hamberg 2007 Appendix), the
// deficit 1 - A_k = E * P(k, t/MTT1) in compartment k of chain 1 (a k-fold convolution of the
// exponential: the Erlang CDF) and 1 - A7 = E * (1 - exp(-t/MTT2)) in chain 2. INR reads the
// last compartment of chain 1 (A6) and chain 2 (A7): INR = BASE + INRMAX (1 - A6 A7)^LAMBDA.
// Reading any other compartment of chain 1 gives a different INR while the chain fills.
TEST_F(WarfarinTest, TransitChainTimeCourseAndInrFollowTheErlangSolution) {
  std::vector<double> p = Individual(Patient{});
  p[kCl] = p[kQ] = 1e-9;  // concentration held at c (drift below 1e-7 over the run)
  const double c = 2.0;   // mg/L
  const double e = 1.0 / (1.0 + std::pow(4.61 / c, 0.424));
  std::vector<double> x(10);
  model_->InitialState(p.data(), x.data());
  x[kCentral] = c * p[kV1];
  double t = 0.0;
  for (double t_next : {6.0, 24.0, 48.0, 96.0, 240.0}) {
    testing::IntegrateRk4(*model_, p.data(), t, t_next - t, 0.01, x);
    t = t_next;
    for (int k = 1; k <= 6; ++k) {
      EXPECT_NEAR(x[kA1 + k - 1], 1.0 - e * ErlangCdf(k, t / 11.6), 1e-7)
          << "chain1_" << k << " at t=" << t << " h";
    }
    const double a7 = 1.0 - e * (1.0 - std::exp(-t / 120.0));
    EXPECT_NEAR(x[kA7], a7, 1e-7) << "t=" << t;
    const double a6 = 1.0 - e * ErlangCdf(6, t / 11.6);
    EXPECT_NEAR(Inr(x, p), 1.0 + 20.0 * std::pow(1.0 - a6 * a7, 3.61), 1e-6 * Inr(x, p))
        << "t=" << t;
  }
}

// At a constant concentration the steady state of both chains is A = 1 - E(C), so
// INR_ss = BASE + INRMAX (1 - (1 - E)^2)^LAMBDA. At C = 0.5 mg/L, VKORC1 GG:
// (0.5/4.61)^0.424 = 0.38993, E = 0.28054, 1 - (1-E)^2 = 0.48238, INR = 1 + 20*0.48238^3.61 =
// 2.439. More A alleles, lower EC50, higher INR: GG < GA < AA.
TEST_F(WarfarinTest, SteadyStateInrOrderedByVkorc1) {
  const double c = 0.5;
  double previous_inr = 0.0;
  for (int a = 0; a <= 2; ++a) {
    Patient patient;
    patient.vkorc1 = a;
    const std::vector<double> p = Individual(patient);
    const double e = 1.0 / (1.0 + std::pow(p[kEc50] / c, 0.424));
    std::vector<double> x(10, 1.0 - e), d(10);
    x[kDepot] = 0.0;
    x[kCentral] = c * p[kV1];
    x[kPeriph] = c * p[kV2];  // PK at equilibrium too
    model_->Rhs(0.0, x.data(), p.data(), d.data());
    for (int i = kA1; i <= kA7; ++i) EXPECT_NEAR(d[i], 0.0, 1e-15) << i;
    const double inr = Inr(x, p);
    EXPECT_NEAR(inr, 1.0 + 20.0 * std::pow(1.0 - (1.0 - e) * (1.0 - e), 3.61), 1e-12);
    if (a == 0) {
      EXPECT_NEAR(inr, 2.439, 0.001);
    }
    EXPECT_GT(inr, previous_inr) << a;
    previous_inr = inr;
  }
}

// Complete inhibition empties both chains: INR tends to BASE + INRMAX = 21; a slightly negative
// product from round-off gives exactly that bound, not NaN.
TEST_F(WarfarinTest, InrIsBoundedAtFullInhibition) {
  const std::vector<double> p = Individual(Patient{});
  std::vector<double> x(10, 0.0);
  EXPECT_DOUBLE_EQ(Inr(x, p), 21.0);
  x[kA6] = -1e-14;
  x[kA7] = 1e-3;
  EXPECT_DOUBLE_EQ(Inr(x, p), 21.0);
}

}  // namespace
}  // namespace medtwin
