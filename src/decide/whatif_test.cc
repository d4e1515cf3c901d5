// What-if comparisons (CompareRegimens): exposure metrics against closed forms, common posterior
// draws across regimens, PTA, and named errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "medtwin/decide.h"

namespace medtwin {
namespace {

using ::testing::HasSubstr;

constexpr double kCl = 4.0, kV = 50.0, kK = kCl / kV;  // pk1cmt typical values

std::unique_ptr<Model> Pk1() { return std::move(MakeModel("pk1cmt")).value(); }

Dataset Data(const Model& m, const std::string& rows) {
  auto d = ReadDataset("ID,TIME,EVID,AMT,CMT,RATE,II,ADDL\n" + rows, m);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return std::move(d).value();
}

// Every draw at the typical patient (eta = 0).
IndividualPosterior Typical(const Model& m) {
  IndividualPosterior p;
  p.theta = m.spec().TypicalValues();
  p.error = m.spec().ResidualErrors();
  p.mode = {0.0, 0.0};
  p.covariance = {0.04, 0.0, 0.0, 0.04};
  p.draws = {0.0, 0.0};
  return p;
}

Target Metric(TargetKind kind, double low = -kInf, double high = kInf) {
  Target t;
  t.kind = kind;
  t.low = low;
  t.high = high;
  return t;
}

// 1000 mg IV boluses every 12 h from 0 into the central compartment; W = 24-36 h holds the
// third dose at its start and ends just before the fourth. With r = exp(-12 k) the level in W
// is D/V (1 + r + r^2) exp(-k s), s = t - 24.
TEST(WhatIf, BolusMetricsMatchTheClosedForm) {
  auto m = Pk1();
  Dataset bolus = Data(*m, "1,0,1,1000,2,0,12,3\n");
  Dataset infusion = Data(*m, "1,0,1,1000,2,500,12,3\n");  // over 2 h
  WhatIfOptions o;
  o.window_start_h = 24;
  o.window_end_h = 36;
  o.draws = 3;
  Target above = Metric(TargetKind::kTimeAbove);
  above.threshold = 20.0;
  Target peak1 = Metric(TargetKind::kPeak);
  peak1.peak_offset_h = 1.0;
  const std::vector<Target> targets = {Metric(TargetKind::kAuc24), Metric(TargetKind::kTrough),
                                       Metric(TargetKind::kPeak), above, peak1};
  auto r = CompareRegimens(*m, "1", {{"bolus", &bolus}, {"infusion", &infusion}}, Typical(*m),
                           targets, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  const double d = 1000, rr = std::exp(-12 * kK), acc = 1 + rr + rr * rr;
  const double c0 = d / kV * acc;  // level just after the dose at 24 h
  const RegimenExposure& b = (*r)[0];
  EXPECT_EQ(b.name, "bolus");
  EXPECT_DOUBLE_EQ(b.dose_in_window, 1000.0);  // the dose at 36 h is outside [24, 36)
  ASSERT_EQ(b.quantiles.size(), targets.size() * 3);
  const auto median = [&](const RegimenExposure& e, size_t j) { return e.quantiles[3 * j + 1]; };
  EXPECT_NEAR(median(b, 0), 24.0 / 12.0 * c0 * (1 - rr) / kK, 1e-5 * c0);  // auc24
  EXPECT_NEAR(median(b, 1), c0 * rr, 1e-6 * c0);                     // lowest: just before the 4th
  EXPECT_NEAR(median(b, 2), c0, 1e-6 * c0);                          // just after the 3rd
  EXPECT_NEAR(median(b, 3), std::log(c0 / 20.0) / kK / 12.0, 1e-3);  // time above 20
  EXPECT_NEAR(median(b, 4), c0 * std::exp(-kK * 1.0), 1e-6 * c0);    // 1 h after 24
  EXPECT_DOUBLE_EQ(b.pta, 1.0);  // summaries without a range are met in every draw
  // A window 30-42 h with the fourth bolus inside: the trough is the level just before it, the
  // peak just after it, and AUC adds the two pieces.
  WhatIfOptions across = o;
  across.window_start_h = 30;
  across.window_end_h = 42;
  auto x = CompareRegimens(
      *m, "1", {{"bolus", &bolus}}, Typical(*m),
      {Metric(TargetKind::kAuc24), Metric(TargetKind::kTrough), Metric(TargetKind::kPeak)}, across);
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  const double before = c0 * rr, after = before + d / kV;
  const double auc = (c0 * std::exp(-6 * kK) - before) / kK + after * (1 - std::exp(-6 * kK)) / kK;
  EXPECT_NEAR(median(x->front(), 0), 2 * auc, 1e-5 * c0);
  EXPECT_NEAR(median(x->front(), 1), before, 1e-6 * c0);
  EXPECT_NEAR(median(x->front(), 2), after, 1e-6 * c0);
  // The infusion: the same daily dose, so the same AUC at steady state within the window up to
  // the slower accumulation; peak(1) reads 1 h after its end (27 h), not 1 h after the start.
  const RegimenExposure& inf = (*r)[1];
  EXPECT_LT(median(inf, 2), median(b, 2));
  EXPECT_NEAR(median(inf, 0), median(b, 0), 0.02 * median(b, 0));
  EXPECT_LT(median(inf, 4), median(inf, 2));
}

// The same posterior draws for every regimen: with a linear model, twice the dose gives exactly
// twice every percentile of AUC24 and trough; the PTA counts the draws inside each range.
TEST(WhatIf, RegimensShareTheDrawsAndPtaCountsThem) {
  auto m = Pk1();
  Dataset one = Data(*m, "1,0,1,1000,2,1000,12,5\n");
  Dataset two = Data(*m, "1,0,1,2000,2,2000,12,5\n");
  IndividualPosterior p = Typical(*m);
  p.draws.clear();  // Laplace draws, CL and V both uncertain
  WhatIfOptions o;
  o.window_start_h = 48;
  o.window_end_h = 72;
  o.draws = 400;
  const std::vector<Target> summary = {Metric(TargetKind::kAuc24), Metric(TargetKind::kTrough)};
  auto r = CompareRegimens(*m, "1", {{"1000 mg", &one}, {"2000 mg", &two}}, p, summary, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_NEAR((*r)[1].quantiles[i], 2.0 * (*r)[0].quantiles[i], 1e-6 * (*r)[1].quantiles[i]);
  }
  EXPECT_DOUBLE_EQ((*r)[0].dose_in_window, 2000.0);
  // A range from the 5th to the 50th percentile holds about 45 % of the draws; joint with a
  // trough below its own median, fewer.
  const double p5 = (*r)[0].quantiles[0], p50 = (*r)[0].quantiles[1];
  auto ranged = CompareRegimens(
      *m, "1", {{"1000 mg", &one}}, p,
      {Metric(TargetKind::kAuc24, p5, p50), Metric(TargetKind::kTrough, 0, (*r)[0].quantiles[4])},
      o);
  ASSERT_TRUE(ranged.ok()) << ranged.status().ToString();
  EXPECT_NEAR(ranged->front().target_pta[0], 0.45, 0.01);
  EXPECT_NEAR(ranged->front().target_pta[1], 0.50, 0.01);
  EXPECT_LT(ranged->front().pta, ranged->front().target_pta[0]);
}

TEST(WhatIf, BadInputIsNamed) {
  auto m = Pk1();
  Dataset a = Data(*m, "1,0,1,1000,2,0,12,3\n");
  Dataset other = Data(*m, "2,0,1,1000,2,0,12,3\n");
  IndividualPosterior p = Typical(*m);
  const std::vector<Target> auc = {Metric(TargetKind::kAuc24)};
  WhatIfOptions o;
  o.window_start_h = 24;
  o.window_end_h = 36;
  auto missing = CompareRegimens(*m, "1", {{"a", &a}, {"b", &other}}, p, auc, o);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("regimen 'b' has no ID 1"));
  auto twice = CompareRegimens(*m, "1", {{"a", &a}, {"a", &a}}, p, auc, o);
  EXPECT_THAT(twice.status().message(), HasSubstr("the name 'a' is given twice"));
  WhatIfOptions backwards = o;
  backwards.window_end_h = 12;
  auto w = CompareRegimens(*m, "1", {{"a", &a}}, p, auc, backwards);
  EXPECT_THAT(w.status().message(), HasSubstr("window: needs 0 <= start < end (h), got 24..12"));
  Target late = Metric(TargetKind::kPeak);
  late.peak_offset_h = 20;
  auto peak = CompareRegimens(*m, "1", {{"a", &a}}, p, {late}, o);
  EXPECT_THAT(peak.status().message(), HasSubstr("is outside the window 24-36 h"));
  auto t1d = std::move(MakeModel("t1d_uvapadova")).value();
  IndividualPosterior none;
  auto minutes = CompareRegimens(*t1d, "1", {{"a", &a}}, none, auc, o);
  EXPECT_EQ(minutes.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(minutes.status().message(), HasSubstr("timed in min"));
}

}  // namespace
}  // namespace medtwin
