// Tests of vancomycin_goti2018 (vancomycin.cc). Published values: Goti V et al., Ther Drug Monit
// 2018;40(2):212-221, Table 2, as restated in DOMAIN.md section 2.1. Worked examples are computed
// by hand in the comments.
#include "model/vancomycin.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "model/model_test_util.h"

namespace medtwin {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
enum { kCl, kV1, kV2, kQ };

// Covariates in spec order: WT (kg), AGE (years), SEX (0 male, 1 female), SCR (mg/dL), DIAL, CRCL.
struct Patient {
  double wt_kg = 70.0, age_y = 50.0, sex = 0.0, scr_mg_per_dL = 1.0, dial = 0.0, crcl = kNan;
  std::vector<double> Covariates() const { return {wt_kg, age_y, sex, scr_mg_per_dL, dial, crcl}; }
};

class GotiTest : public ::testing::Test {
 protected:
  // Individual parameters at the typical theta, eta = 0.
  std::vector<double> Individual(const Patient& patient, std::vector<double> eta = {}) {
    std::vector<double> out(4);
    const Status st = model_->Individualize(theta_, eta, patient.Covariates(), out);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
  Status Try(const Patient& patient) {
    std::vector<double> out(4);
    return model_->Individualize(theta_, {}, patient.Covariates(), out);
  }

  std::unique_ptr<Model> model_ = MakeVancomycinGoti2018();
  std::vector<double> theta_ = testing::TypicalParameters(*model_);
};

TEST_F(GotiTest, SpecMatchesTable2) {
  const ModelSpec& s = model_->spec();
  EXPECT_TRUE(s.Validate().ok()) << s.Validate().ToString();
  EXPECT_EQ(s.name, "vancomycin_goti2018");
  EXPECT_NE(s.citation.find("10.1097/FTD.0000000000000490"), std::string::npos);
  EXPECT_EQ(theta_, (std::vector<double>{4.5, 58.4, 38.4, 6.5}));
  EXPECT_EQ(s.StateIndex("1"), s.StateIndex("central"));
  EXPECT_EQ(s.StateIndex("2"), s.StateIndex("periph"));
  EXPECT_EQ(s.default_dose_state, s.StateIndex("central"));
  ASSERT_EQ(s.observables.size(), 1u);
  EXPECT_EQ(s.observables[0].name, "CP");
  EXPECT_EQ(s.observables[0].error.model, ErrorModel::kCombined);
  EXPECT_DOUBLE_EQ(s.observables[0].error.additive_sd, 3.4);
  EXPECT_DOUBLE_EQ(s.observables[0].error.proportional_sd, 0.227);
  EXPECT_EQ(s.covariate_formulas.size(), 5u);
  EXPECT_FALSE(s.covariates[s.CovariateIndex("DIAL")].required);
  EXPECT_TRUE(s.covariates[s.CovariateIndex("CRCL")].may_be_missing);
}

// omega^2 = ln(CV^2 + 1): CV 39.8 % -> 0.147, 81.6 % -> 0.510, 57.1 % -> 0.282 (DOMAIN.md 2.1).
TEST_F(GotiTest, OmegaFromPublishedCvs) {
  const Variability& var = model_->spec().variability;
  ASSERT_EQ(var.parameters, (std::vector<std::string>{"CL", "V1", "V2"}));
  ASSERT_EQ(var.omega.size(), 9u);
  EXPECT_NEAR(var.omega[0], 0.147, 0.0005);
  EXPECT_NEAR(var.omega[4], 0.510, 0.0005);
  EXPECT_NEAR(var.omega[8], 0.282, 0.0005);
  EXPECT_EQ(var.omega[1], 0.0);
  EXPECT_EQ(var.omega[5], 0.0);
}

// 70 kg, 50-year-old man, SCr 1 mg/dL: CrCL = (140 - 50)*70/(72*1) = 87.5 mL/min,
// CL = 4.5*(87.5/120)^0.8 = 3.4952 L/h; V1 = 58.4 L, V2 = 38.4 L, Q = 6.5 L/h at 70 kg.
TEST_F(GotiTest, ReferenceMan) {
  const std::vector<double> p = Individual(Patient{});
  EXPECT_NEAR(p[kCl], 3.495216, 1e-6);
  EXPECT_DOUBLE_EQ(p[kV1], 58.4);
  EXPECT_DOUBLE_EQ(p[kV2], 38.4);
  EXPECT_DOUBLE_EQ(p[kQ], 6.5);
}

// Female: CrCL = 87.5*0.85 = 74.375 mL/min, CL = 4.5*(74.375/120)^0.8 = 3.0691 L/h.
TEST_F(GotiTest, FemaleCockcroftGaultFactor) {
  Patient woman;
  woman.sex = 1.0;
  EXPECT_NEAR(Individual(woman)[kCl], 3.069086, 1e-6);
}

// Age 70, SCr 0.5 mg/dL: SCr raised to 1, CrCL = 70*70/72 = 68.056 mL/min,
// CL = 4.5*(68.056/120)^0.8 = 2.8586 L/h. At age 60 the floor does not apply:
// CrCL = 80*70/(72*0.5) = 155.6 -> capped at 150, CL = 4.5*(150/120)^0.8 = 5.3795 L/h.
TEST_F(GotiTest, SerumCreatinineFloorAboveAge60) {
  Patient old;
  old.age_y = 70.0;
  old.scr_mg_per_dL = 0.5;
  EXPECT_NEAR(Individual(old)[kCl], 2.858633, 1e-6);
  Patient sixty = old;
  sixty.age_y = 60.0;
  EXPECT_NEAR(Individual(sixty)[kCl], 5.379483, 1e-6);
  // Above 1 mg/dL the floor changes nothing: age 70, SCr 2 -> CrCL = 70*70/144 = 34.03 mL/min,
  // CL = 4.5*(34.03/120)^0.8 = 1.6414 L/h.
  old.scr_mg_per_dL = 2.0;
  EXPECT_NEAR(Individual(old)[kCl], 4.5 * std::pow(70.0 * 70.0 / 144.0 / 120.0, 0.8), 1e-12);
}

// Age 20, SCr 0.5: CrCL = 120*70/36 = 233 mL/min -> capped at 150, CL = 5.3795 L/h.
TEST_F(GotiTest, CreatinineClearanceCappedAt150) {
  Patient young;
  young.age_y = 20.0;
  young.scr_mg_per_dL = 0.5;
  EXPECT_NEAR(Individual(young)[kCl], 5.379483, 1e-6);
  young.scr_mg_per_dL = 0.25;  // CrCL 467 mL/min: still the cap
  EXPECT_NEAR(Individual(young)[kCl], 5.379483, 1e-6);
}

// Haemodialysis: CL x 0.7 (3.4952*0.7 = 2.4467 L/h), V1 x 0.5 (29.2 L), V2 unchanged.
TEST_F(GotiTest, DialysisEffects) {
  Patient dialysis;
  dialysis.dial = 1.0;
  const std::vector<double> p = Individual(dialysis);
  EXPECT_NEAR(p[kCl], 2.446651, 1e-6);
  EXPECT_DOUBLE_EQ(p[kV1], 29.2);
  EXPECT_DOUBLE_EQ(p[kV2], 38.4);
  EXPECT_DOUBLE_EQ(p[kQ], 6.5);
}

// A supplied CRCL replaces Cockcroft-Gault: 60 mL/min -> CL = 4.5*(0.5)^0.8 = 2.5846 L/h,
// whatever AGE/SEX/SCR say; 200 mL/min is capped at 150.
TEST_F(GotiTest, SuppliedCrclOverridesCockcroftGault) {
  Patient measured;
  measured.crcl = 60.0;
  measured.sex = 1.0;
  measured.scr_mg_per_dL = 3.0;
  EXPECT_NEAR(Individual(measured)[kCl], 2.584571, 1e-6);
  measured.crcl = 200.0;
  EXPECT_NEAR(Individual(measured)[kCl], 5.379483, 1e-6);
}

// Volumes scale linearly with weight: 100 kg -> V1 = 58.4*100/70 = 83.43 L, V2 = 54.86 L; weight
// also enters CrCL: (140-50)*100/72 = 125 mL/min -> CL = 4.5*(125/120)^0.8 = 4.6497 L/h.
TEST_F(GotiTest, WeightScaling) {
  Patient heavy;
  heavy.wt_kg = 100.0;
  const std::vector<double> p = Individual(heavy);
  EXPECT_NEAR(p[kV1], 83.428571, 1e-6);
  EXPECT_NEAR(p[kV2], 54.857143, 1e-6);
  EXPECT_NEAR(p[kCl], 4.5 * std::pow(125.0 / 120.0, 0.8), 1e-12);
  EXPECT_DOUBLE_EQ(p[kQ], 6.5);
}

TEST_F(GotiTest, EtasAndThetaOverrides) {
  const std::vector<double> base = Individual(Patient{});
  const std::vector<double> p = Individual(Patient{}, {0.2, -0.3, 0.1});
  EXPECT_NEAR(p[kCl], base[kCl] * std::exp(0.2), 1e-12);
  EXPECT_NEAR(p[kV1], base[kV1] * std::exp(-0.3), 1e-12);
  EXPECT_NEAR(p[kV2], base[kV2] * std::exp(0.1), 1e-12);
  EXPECT_DOUBLE_EQ(p[kQ], 6.5);  // no IIV on Q
  // A user-supplied theta replaces the typical value: CL theta 9 doubles CL.
  theta_[kCl] = 9.0;
  EXPECT_NEAR(Individual(Patient{})[kCl], 2.0 * base[kCl], 1e-12);
}

void ExpectRejected(const Status& st, const std::string& fragment) {
  ASSERT_FALSE(st.ok()) << "expected rejection mentioning " << fragment;
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find(fragment), std::string::npos) << st.message();
}

TEST_F(GotiTest, RejectsBadCovariatesNamingThem) {
  Patient p;
  p.wt_kg = -1.0;
  ExpectRejected(Try(p), "covariate WT=-1 kg");
  p = Patient{};
  p.scr_mg_per_dL = kNan;  // SCR may not be missing
  ExpectRejected(Try(p), "covariate SCR=nan");
  p = Patient{};
  p.age_y = 130.0;
  ExpectRejected(Try(p), "covariate AGE=130");
  p = Patient{};
  p.sex = 0.5;
  ExpectRejected(Try(p), "covariate SEX=0.5 must be 0 (male) or 1 (female)");
  p = Patient{};
  p.dial = 2.0;
  ExpectRejected(Try(p), "covariate DIAL=2");
  p = Patient{};
  p.crcl = std::numeric_limits<double>::infinity();
  ExpectRejected(Try(p), "covariate CRCL=inf");
  p = Patient{};
  p.crcl = 0.0;
  ExpectRejected(Try(p), "creatinine clearance 0 mL/min must be > 0");
}

TEST_F(GotiTest, RejectsIndividualParameterOutOfBounds) {
  std::vector<double> out(4);
  theta_[kV1] = 0.0;
  ExpectRejected(model_->Individualize(theta_, {}, Patient{}.Covariates(), out), "parameter V1=0");
}

// Mass balance: distribution only moves drug, so d(central + periph)/dt = -CL*central/V1.
TEST_F(GotiTest, RhsMassBalanceAndLinearMatrix) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    const std::vector<double> p = testing::RandomParameters(*model_, rng);
    const std::vector<double> x = testing::RandomState(*model_, rng);
    std::vector<double> dxdt(2), a(4);
    model_->Rhs(0.0, x.data(), p.data(), dxdt.data());
    EXPECT_NEAR(dxdt[0] + dxdt[1], -p[kCl] * x[0] / p[kV1], 1e-12 * (1 + std::abs(dxdt[0])));
    ASSERT_TRUE(model_->LinearMatrix(p.data(), a.data()));
    EXPECT_NEAR(a[0] * x[0] + a[1] * x[1], dxdt[0], 1e-12 * (1 + std::abs(dxdt[0])));
    EXPECT_NEAR(a[2] * x[0] + a[3] * x[1], dxdt[1], 1e-12 * (1 + std::abs(dxdt[1])));
  }
}

// IV bolus of 1000 mg into central for the reference man: biexponential
//   C(t) = D/V1 * [(alpha - k21)/(alpha - beta) e^(-alpha t) + (k21 - beta)/(alpha - beta) e^(-beta
//   t)]
// (k10 = CL/V1, k12 = Q/V1, k21 = Q/V2; alpha + beta = k10 + k12 + k21, alpha*beta = k10*k21).
TEST_F(GotiTest, BolusMatchesBiexponential) {
  const std::vector<double> p = Individual(Patient{});
  const double k10 = p[kCl] / p[kV1], k12 = p[kQ] / p[kV1], k21 = p[kQ] / p[kV2];
  const double sum = k10 + k12 + k21;
  const double alpha = 0.5 * (sum + std::sqrt(sum * sum - 4 * k10 * k21));
  const double beta = k10 * k21 / alpha;
  std::vector<double> x = {1000.0, 0.0};
  testing::IntegrateRk4(*model_, p.data(), 0.0, 12.0, 0.005, x);
  double cp = 0.0;
  model_->Observe(12.0, x.data(), p.data(), &cp);
  const double expected = 1000.0 / p[kV1] *
                          ((alpha - k21) / (alpha - beta) * std::exp(-alpha * 12.0) +
                           (k21 - beta) / (alpha - beta) * std::exp(-beta * 12.0));
  EXPECT_NEAR(cp, expected, 1e-9 * expected);
}

}  // namespace
}  // namespace medtwin
