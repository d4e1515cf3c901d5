// Model error in the sequential filters (AssimilationOptions::initial_state_sd, state_noise_sd,
// eta_noise_sd; docs/assimilation.md "Model error"): the spreads the options put into the
// members at the stated rates, a truth that starts off the model's initial state, snapshots,
// validation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "medtwin/assimilate.h"

namespace medtwin {
namespace {

using ::testing::HasSubstr;

// A level x that relaxes to its baseline B at rate k (dx/dt = k (B - x), x0 = B), doses
// adding to it, observed as x with a log-normal error of SD 0.05; random effect on k
// (omega 0.09).
class Relaxation final : public Model {
 public:
  Relaxation() : Model(Spec()) {}
  void InitialState(const double* p, double* x) const override { x[0] = p[0]; }
  void Rhs(double, const double* x, const double* p, double* dxdt) const override {
    dxdt[0] = p[1] * (p[0] - x[0]);
  }
  void Observe(double, const double* x, const double*, double* y) const override { y[0] = x[0]; }

 private:
  static ModelSpec Spec() {
    ModelSpec s;
    s.name = "relaxation";
    s.states = {{"level", "mg/L", "", true}};
    s.parameters = {{"B", "mg/L", 100.0, 1e-9, kInf, "", ""},
                    {"k", "1/h", 0.1, 1e-15, kInf, "", ""}};
    s.observables = {{"Y", "mg/L", "", ResidualError{ErrorModel::kExponential, 0.0, 0.0, 0.05}}};
    s.variability = {{"k"}, {0.09}};
    return s;
  }
};

// Records: `first` at 0 (an EVID 2 row where the run starts, or a bolus of `dose`), then
// observations at `times` (DV 150: the gate rejects them, or set later).
Dataset Records(const Model& m, const std::vector<double>& times, double dose = 0.0) {
  std::string csv = "ID,TIME,EVID,AMT,DV\n";
  csv += dose > 0.0 ? "1,0,1," + std::to_string(dose) + ",.\n" : "1,0,2,.,.\n";
  for (double t : times) csv += "1," + std::to_string(t) + ",0,.,150\n";
  auto d = ReadDataset(csv, m);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return *d;
}

double Variance(const std::vector<double>& v) {
  double mean = 0.0, sq = 0.0;
  for (double x : v) mean += x / v.size();
  for (double x : v) sq += (x - mean) * (x - mean);
  return sq / (v.size() - 1);
}

// Members' (log level, eta) after each record, from the filter's samples (equal weights: each
// member in turn).
struct Spread {
  std::vector<std::vector<double>> log_level, eta;  // [observation][member]
};

Spread RunRejected(const Model& m, const Dataset& d, const AssimilationOptions& o,
                   std::vector<AssimilationStep>* steps = nullptr) {
  Spread s;
  auto f = SequentialFilter::Make(m, o);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  const std::vector<int> records = AssimilationRecords(d, 0).value();
  for (int r : records) {
    auto step = (*f)->Assimilate(d, 0, r);
    EXPECT_TRUE(step.ok()) << step.status().ToString();
    EXPECT_TRUE(step->rejected);
    if (steps != nullptr) steps->push_back(*step);
    auto sample = (*f)->Sample(o.members, 1);
    EXPECT_TRUE(sample.ok());
    s.log_level.emplace_back();
    s.eta.emplace_back();
    for (int i = 0; i < o.members; ++i) {
      s.log_level.back().push_back(std::log(sample->rows[2 * i]));
      s.eta.back().push_back(sample->rows[2 * i + 1]);
    }
  }
  return s;
}

// Var(differences) of two columns of one ensemble (the increment of each member).
double IncrementVariance(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = b[i] - a[i];
  return Variance(d);
}

// With the level held constant (k ~ 1e-12) and every observation rejected by the gate (the
// forecast is kept, nothing is updated), the members' log level is log B plus the
// initial-state factor plus a random walk: its variance after the first observation at 1 h
// is initial_state_sd^2 + state_noise_sd^2 * 1 h, and each member's increment from 1 h to 7 h
// has variance state_noise_sd^2 * 6 h; eta's increment eta_noise_sd^2 * 6 h. 2000 members: the
// sample variance has a relative SD of sqrt(2 / 1999) = 3.2 %; the test allows 4 SD.
TEST(AssimilateModelError, MembersSpreadAtTheStatedRates) {
  const Relaxation m;
  const Dataset d = Records(m, {1.0, 3.0, 7.0});
  for (FilterMethod method : {FilterMethod::kEnkf, FilterMethod::kPf}) {
    SCOPED_TRACE(ToString(method));
    AssimilationOptions o;
    o.method = method;
    o.members = 2000;
    o.seed = 11;
    o.gate_z = 1e-12;  // rejects every observation
    o.theta = {100.0, 1e-12};
    // Initial-state spread alone: log level ~ N(log B, 0.2^2), eta as drawn.
    o.initial_state_sd = {0.2};
    const Spread initial = RunRejected(m, d, o);
    const double tol = 4.0 * std::sqrt(2.0 / (o.members - 1));
    EXPECT_NEAR(Variance(initial.log_level[0]), 0.04, 0.04 * tol);
    EXPECT_NEAR(IncrementVariance(initial.log_level[0], initial.log_level[2]), 0.0, 1e-20);
    EXPECT_NEAR(IncrementVariance(initial.eta[0], initial.eta[2]), 0.0, 1e-20);
    // With process noise on the level and eta.
    o.state_noise_sd = {0.1};
    o.eta_noise_sd = {0.05};
    const Spread noisy = RunRejected(m, d, o);
    EXPECT_NEAR(Variance(noisy.log_level[0]), 0.04 + 0.01 * 1.0, 0.05 * tol);
    EXPECT_NEAR(IncrementVariance(noisy.log_level[0], noisy.log_level[2]), 0.01 * 6.0, 0.06 * tol);
    EXPECT_NEAR(IncrementVariance(noisy.log_level[1], noisy.log_level[2]), 0.01 * 4.0, 0.04 * tol);
    EXPECT_NEAR(IncrementVariance(noisy.eta[0], noisy.eta[2]), 0.0025 * 6.0, 0.015 * tol);
  }
}

// The UKF carries the same spreads as moments. At the first observation the log level is
// exactly linear in the sigma points' factor (k ~ 0), so its predictive variance is
// initial_state_sd^2 + state_noise_sd^2 * 1 h + the residual 0.05^2. After it the state is
// Gaussian in the level itself and each forecast (the identity here, which the unscented
// transform reproduces exactly) adds mean^2 (exp(state_noise_sd^2 dt) - 1) to the level's
// variance and eta_noise_sd^2 dt to eta's (read from the snapshots).
TEST(AssimilateModelError, UnscentedFilterAddsTheMatchingCovariance) {
  const Relaxation m;
  const Dataset d = Records(m, {1.0, 3.0, 7.0});
  AssimilationOptions o;
  o.method = FilterMethod::kUkf;
  o.gate_z = 1e-12;
  o.theta = {100.0, 1e-12};
  o.initial_state_sd = {0.2};
  o.state_noise_sd = {0.1};
  o.eta_noise_sd = {0.05};
  auto f = SequentialFilter::Make(m, o);
  ASSERT_TRUE(f.ok());
  std::vector<nlohmann::json> after;
  for (int r : {1, 2, 3}) {
    auto step = (*f)->Assimilate(d, 0, r);
    ASSERT_TRUE(step.ok() && step->rejected);
    if (r == 1) {
      const double z90 = 1.6448536269514722;
      EXPECT_NEAR(std::pow(std::log(step->pred_hi / step->pred) / z90, 2),
                  0.04 + 0.01 * 1.0 + 0.05 * 0.05, 1e-9);
    }
    after.push_back(nlohmann::json::parse((*f)->Snapshot()));
  }
  for (int k = 1; k < 3; ++k) {
    const double dt = k == 1 ? 2.0 : 4.0;
    const double mean = after[k - 1]["mean"]["values"][0].get<double>();
    const double level =
        after[k - 1]["cov"]["values"][0].get<double>() + mean * mean * std::expm1(0.01 * dt);
    EXPECT_NEAR(after[k]["cov"]["values"][0].get<double>(), level, 1e-8 * level);
    const double eta = after[k - 1]["cov"]["values"][3].get<double>() + 0.0025 * dt;
    EXPECT_NEAR(after[k]["cov"]["values"][3].get<double>(), eta, 1e-8);
  }
  EXPECT_NEAR(after[2]["cov"]["values"][3].get<double>(), 0.09 + 0.0025 * 7.0, 1e-8);
}
// A truth that starts off the model's initial state: patients drawn from the prior on k whose
// level starts at B exp(0.3 e) instead of B, a bolus of 50 at 0, levels at 0.5-24 h. Without
// an initial-state spread every member starts at B and the early levels fall outside the
// 90 % interval; with initial_state_sd 0.3 (the truth's own spread) the filters are the exact
// Bayesian model of the truth and calibrated: coverage near the nominal (0.872 for 64 members'
// sample quantiles, 0.886 for 128 particles, 0.9 for the UKF; binomial SD about 0.023 on 210
// levels), mean z^2 near 1.
TEST(AssimilateModelError, InitialStateSpreadCalibratesATruthThatStartsElsewhere) {
  const Relaxation m;
  const std::vector<double> times = {0.5, 1, 2, 4, 8, 12, 24};
  std::mt19937_64 rng(2026);
  std::normal_distribution<double> normal;
  Simulator sim(m, {});
  const int patients = 30, methods = 3;
  int covered[methods][2] = {}, total = 0;
  double z2[methods][2] = {};
  const FilterMethod method_of[methods] = {FilterMethod::kEnkf, FilterMethod::kUkf,
                                           FilterMethod::kPf};
  for (int p = 0; p < patients; ++p) {
    Dataset d = Records(m, times, 50.0);
    const std::vector<double> eta = {0.3 * normal(rng)}, x0 = {100.0 * std::exp(0.3 * normal(rng))};
    const RunStart start{0.0, x0, -1};
    auto out = sim.Run(d, 0, {}, IndividualInput{{}, eta}, &start);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    for (size_t k = 0; k < out->rows(); ++k) {
      Record& rec = d.subjects[0].records[out->record[k]];
      rec.dv = m.spec().observables[0].error.Observation(out->observables[k], normal(rng));
    }
    total += static_cast<int>(times.size());
    for (int k = 0; k < methods; ++k) {
      for (int spread = 0; spread < 2; ++spread) {
        AssimilationOptions o;
        o.method = method_of[k];
        o.members = method_of[k] == FilterMethod::kPf ? 128 : 64;
        o.seed = 100 + p;
        if (spread == 1) o.initial_state_sd = {0.3};
        auto steps = AssimilateSubject(m, d, 0, o);
        ASSERT_TRUE(steps.ok()) << steps.status().ToString();
        for (const AssimilationStep& s : *steps) {
          covered[k][spread] += s.dv >= s.pred_lo && s.dv <= s.pred_hi;
          z2[k][spread] += s.z * s.z;
        }
      }
    }
  }
  for (int k = 0; k < methods; ++k) {
    SCOPED_TRACE(ToString(method_of[k]));
    const double without = static_cast<double>(covered[k][0]) / total;
    const double with = static_cast<double>(covered[k][1]) / total;
    std::printf("%s: coverage %.3f without the spread (z^2 %.2f), %.3f with it (z^2 %.2f)\n",
                ToString(method_of[k]), without, z2[k][0] / total, with, z2[k][1] / total);
    const double nominal = method_of[k] == FilterMethod::kUkf  ? 0.9
                           : method_of[k] == FilterMethod::kPf ? 0.886
                                                               : 0.872;
    EXPECT_NEAR(with, nominal, 0.05);
    EXPECT_NEAR(z2[k][1] / total, 1.0, 0.3);
    EXPECT_LT(without, nominal - 0.15);
    EXPECT_GT(z2[k][0] / total, 2.0);
  }
}

// A filter with model error restored from a snapshot continues bit-for-bit, from before the
// first observation (the members' initial factors) and from the middle; snapshots without it
// are as before (no model-error keys).
TEST(AssimilateModelError, SnapshotsRestoreExactly) {
  const Relaxation m;
  Dataset d = Records(m, {1.0, 2.0, 5.0, 9.0}, 30.0);
  const double dv[4] = {125.0, 121.0, 108.0, 104.0};
  for (int k = 0; k < 4; ++k) d.subjects[0].records[k + 1].dv = dv[k];
  AssimilationOptions plain;
  auto off = SequentialFilter::Make(m, plain);
  ASSERT_TRUE(off.ok());
  EXPECT_THAT((*off)->Snapshot(), ::testing::Not(HasSubstr("noise_sd")));
  for (FilterMethod method :
       {FilterMethod::kEnkf, FilterMethod::kEnsrf, FilterMethod::kPf, FilterMethod::kUkf}) {
    SCOPED_TRACE(ToString(method));
    AssimilationOptions o;
    o.method = method;
    o.members = 30;
    o.seed = 3;
    o.initial_state_sd = {0.2};
    o.state_noise_sd = {0.05};
    o.eta_noise_sd = {0.03};
    auto a = SequentialFilter::Make(m, o);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    auto fresh = SequentialFilter::Restore(m, (*a)->Snapshot());
    ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
    EXPECT_EQ((*fresh)->options().state_noise_sd, o.state_noise_sd);
    EXPECT_EQ((*fresh)->options().eta_noise_sd, o.eta_noise_sd);
    EXPECT_EQ((*fresh)->options().initial_state_sd, o.initial_state_sd);
    auto first_a = (*a)->Assimilate(d, 0, 1);
    auto first_fresh = (*fresh)->Assimilate(d, 0, 1);
    ASSERT_TRUE(first_a.ok() && first_fresh.ok());
    EXPECT_EQ(first_a->pred_hi, first_fresh->pred_hi);
    EXPECT_EQ(first_a->z, first_fresh->z);
    ASSERT_TRUE((*a)->Assimilate(d, 0, 2).ok());
    auto b = SequentialFilter::Restore(m, (*a)->Snapshot());
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    double third_hi = 0.0;
    for (int r : {3, 4}) {
      auto sa = (*a)->Assimilate(d, 0, r);
      auto sb = (*b)->Assimilate(d, 0, r);
      ASSERT_TRUE(sa.ok() && sb.ok());
      if (r == 3) third_hi = sa->pred_hi;
      EXPECT_EQ(sa->pred, sb->pred);
      EXPECT_EQ(sa->pred_lo, sb->pred_lo);
      EXPECT_EQ(sa->z, sb->z);
      EXPECT_EQ(sa->parameters, sb->parameters);
      EXPECT_EQ(sa->state_mean, sb->state_mean);
    }
    EXPECT_EQ((*a)->Snapshot(), (*b)->Snapshot());
    // The noise is drawn: the same filter without it predicts the third level differently.
    AssimilationOptions quiet = o;
    quiet.state_noise_sd.clear();
    quiet.eta_noise_sd.clear();
    auto c = SequentialFilter::Make(m, quiet);
    ASSERT_TRUE(c.ok());
    for (int r : {1, 2}) ASSERT_TRUE((*c)->Assimilate(d, 0, r).ok());
    auto sc = (*c)->Assimilate(d, 0, 3, /*update=*/false);
    ASSERT_TRUE(sc.ok());
    EXPECT_NE(third_hi, sc->pred_hi);
  }
}

TEST(AssimilateModelError, OptionsAreValidatedAndReadFromText) {
  const Relaxation m;
  AssimilationOptions o;
  o.state_noise_sd = {0.1, 0.2};
  auto f = SequentialFilter::Make(m, o);
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(),
              HasSubstr("state_noise_sd: expected 1 values (one per state of model "
                        "'relaxation'), got 2"));
  o.state_noise_sd = {};
  o.eta_noise_sd = {0.1, 0.1};
  EXPECT_THAT(SequentialFilter::Make(m, o).status().message(),
              HasSubstr("eta_noise_sd: expected 1 values (one per random effect"));
  o.eta_noise_sd = {-0.1};
  EXPECT_THAT(SequentialFilter::Make(m, o).status().message(),
              HasSubstr("eta_noise_sd[0] is -0.100000; it must be finite and >= 0"));
  o.eta_noise_sd = {};
  o.initial_state_sd = {NAN};
  EXPECT_THAT(SequentialFilter::Make(m, o).status().message(), HasSubstr("initial_state_sd[0]"));
  o.initial_state_sd = {0.1};
  o.method = FilterMethod::kMap;
  EXPECT_THAT(SequentialFilter::Make(m, o).status().message(),
              HasSubstr("initial_state_sd: method map carries no state"));
  const std::vector<std::string> names = {"Gp", "Gt", "Ip"};
  EXPECT_EQ(NamedValues(names, "0.05", "f").value(), std::vector<double>({0.05, 0.05, 0.05}));
  EXPECT_EQ(NamedValues(names, "Ip=0.2,Gp=0.1", "f").value(), std::vector<double>({0.1, 0, 0.2}));
  EXPECT_THAT(NamedValues(names, "Gq=0.1", "--state-noise").status().message(),
              HasSubstr("--state-noise: 'Gq' is not one of Gp, Gt, Ip"));
  EXPECT_THAT(NamedValues(names, "Gp=x", "f").status().message(),
              HasSubstr("f: 'Gp=x' is not a number or NAME=VALUE"));
  EXPECT_THAT(NamedValues(names, "Gp=0.1,Gp=0.2", "f").status().message(),
              HasSubstr("'Gp' is given twice"));
  EXPECT_THAT(NamedValues(names, "", "f").status().message(), HasSubstr("not a number"));
}

}  // namespace
}  // namespace medtwin
