// Population tests: determinism across thread counts, sampled variability matching omega,
// ordered percentiles, errors naming the virtual subject.
#include "medtwin/population.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace medtwin {
namespace {

struct Fixture {
  std::unique_ptr<Model> model;
  Dataset regimen;
};

Fixture Vancomycin() {
  Fixture f;
  f.model = std::move(MakeModel("vancomycin_goti2018")).value();
  auto d = ReadDataset(
      "ID,TIME,AMT,RATE,II,ADDL,EVID,WT,AGE,SEX,SCR\n"
      "1,0,1000,1000,12,5,1,70,50,0,1\n1,71,0,0,0,0,0,70,50,0,1\n"
      "2,0,1500,750,12,5,1,90,70,1,1.4\n2,71,0,0,0,0,0,90,70,1,1.4\n",
      *f.model);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  f.regimen = std::move(d).value();
  return f;
}

OutputRequest Hourly(double end_h) {
  OutputRequest r;
  r.observation_records = false;
  for (double t = 0; t <= end_h; t += 1) r.times_h.push_back(t);
  return r;
}

TEST(Population, SameSeedSameNumbersForAnyThreadCount) {
  Fixture f = Vancomycin();
  PopulationOptions o;
  o.n_subjects = 300;
  o.seed = 42;
  o.keep_all = true;
  o.residual_error = true;
  std::vector<PopulationResult> results;
  for (int threads : {1, 2, 3}) {
    o.threads = threads;
    auto r = RunPopulation(*f.model, f.regimen, Hourly(72), {}, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    results.push_back(std::move(r).value());
  }
  for (size_t k = 1; k < results.size(); ++k) {
    ASSERT_EQ(results[k].arms.size(), 2u);
    for (size_t a = 0; a < 2; ++a) {
      EXPECT_EQ(results[k].arms[a].all, results[0].arms[a].all);
      EXPECT_EQ(results[k].arms[a].percentiles, results[0].arms[a].percentiles);
      EXPECT_EQ(results[k].arms[a].eta, results[0].arms[a].eta);
    }
  }
  o.seed = 43;
  auto other = RunPopulation(*f.model, f.regimen, Hourly(72), {}, o);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->arms[0].eta, results[0].arms[0].eta);
}

// Goti 2018 IIV: omega^2 = ln(1 + CV^2) = 0.147 (CL), 0.510 (V1), 0.282 (V2). 4,000 draws: the
// sample variance is within 10 % of omega^2 (its standard error is about 2.2 %).
TEST(Population, SampledRandomEffectsFollowOmega) {
  Fixture f = Vancomycin();
  PopulationOptions o;
  o.n_subjects = 4000;
  o.threads = 2;
  auto r = RunPopulation(*f.model, f.regimen, Hourly(2), {}, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& v = f.model->spec().variability;
  const size_t ne = v.parameters.size();
  for (size_t j = 0; j < ne; ++j) {
    double sum = 0, sum2 = 0;
    for (int s = 0; s < o.n_subjects; ++s) {
      const double e = r->arms[0].eta[s * ne + j];
      sum += e;
      sum2 += e * e;
    }
    const double mean = sum / o.n_subjects, var = sum2 / o.n_subjects - mean * mean;
    const double omega = v.omega[j * ne + j];
    EXPECT_NEAR(mean, 0.0, 4 * std::sqrt(omega / o.n_subjects)) << v.parameters[j];
    EXPECT_NEAR(var, omega, 0.1 * omega) << v.parameters[j];
  }
}

TEST(Population, PercentilesAreOrderedAndBracketTheTypicalSubject) {
  Fixture f = Vancomycin();
  PopulationOptions o;
  o.n_subjects = 500;
  auto r = RunPopulation(*f.model, f.regimen, Hourly(72), {}, o);
  ASSERT_TRUE(r.ok());
  const auto& arm = r->arms[0];
  for (size_t row = 1; row < arm.time_h.size(); ++row) {
    const double* p = &arm.percentiles[row * 3];
    EXPECT_LT(p[0], p[1]) << "t=" << arm.time_h[row];
    EXPECT_LT(p[1], p[2]) << "t=" << arm.time_h[row];
  }
  EXPECT_GT(r->summary.subjects_per_second, 0.0);
  EXPECT_EQ(r->summary.subjects, 1000);
}

TEST(Population, BadOptionsAreRejectedByName) {
  PopulationOptions o;
  o.percentiles = {50, 5};
  EXPECT_THAT(o.Validate().message(), ::testing::HasSubstr("percentiles"));
  o = PopulationOptions();
  o.threads = 0;
  EXPECT_THAT(o.Validate().message(), ::testing::HasSubstr("threads"));
}

TEST(Population, FailingSubjectIsNamed) {
  Fixture f = Vancomycin();
  PopulationOptions o;
  o.n_subjects = 3;
  o.sim.max_steps = 1;
  o.sim.path = SimPath::kOde;
  auto r = RunPopulation(*f.model, f.regimen, Hourly(72), {}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNumerical);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("arm 1"));
}

}  // namespace
}  // namespace medtwin
