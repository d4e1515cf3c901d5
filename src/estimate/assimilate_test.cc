// Ensemble Kalman filter: twin experiments on virtual vancomycin patients (calibration of the
// one-step-ahead prediction, parameters learnt), agreement with the batch posterior, refusals.
#include "medtwin/assimilate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "medtwin/estimate.h"

namespace medtwin {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Model> Vancomycin() { return std::move(MakeModel("vancomycin_goti2018")).value(); }

// A virtual patient: the regimen with levels at `times`, DVs simulated at `eta` with residual
// error.
Dataset Patient(const Model& m, const std::vector<double>& eta, const std::vector<double>& times,
                std::mt19937_64* rng) {
  const std::string cov = ",80,60,0,1.1\n";
  std::string csv = "ID,TIME,EVID,AMT,RATE,II,ADDL,DV,MDV,WT,AGE,SEX,SCR\n";
  csv += "1,0,1,1000,1000,12,7,.,1" + cov;
  for (double t : times) csv += "1," + std::to_string(t) + ",0,0,0,0,0,.,1" + cov;
  auto d = ReadDataset(csv, m);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  Simulator sim(m, {});
  auto out = sim.Run(*d, 0, {}, IndividualInput{{}, eta});
  EXPECT_TRUE(out.ok());
  std::normal_distribution<double> normal;
  const ResidualError& e = m.spec().observables[0].error;
  for (size_t r = 0; r < out->rows(); ++r) {
    Record& rec = d->subjects[0].records[1 + r];
    const double f = out->observables[r];
    rec.dv = f + e.Sd(f) * normal(*rng);
    rec.mdv = false;
  }
  return *d;
}

AssimilationOptions Options(FilterMethod method, int members, uint64_t seed) {
  AssimilationOptions o;
  o.method = method;
  o.members = members;
  o.seed = seed;
  return o;
}

// Twin experiment (issue 6, (c)): patients drawn from the population, six sparse levels over
// four days; the 90 % one-step-ahead interval must cover the next level at about its nominal
// rate, and the filter must learn clearance (error well below that of the typical value).
TEST(Assimilate, TwinExperimentOnVirtualVancomycinPatients) {
  auto m = Vancomycin();
  const ModelSpec& spec = m->spec();
  const Eigen::Map<const Eigen::MatrixXd> omega(spec.variability.omega.data(), 3, 3);
  const Eigen::MatrixXd l = omega.llt().matrixL();
  std::mt19937_64 rng(77);
  std::normal_distribution<double> normal;
  int covered = 0, total = 0, pf_covered = 0, ukf_covered = 0;
  double sum_z2 = 0.0, sq_sr = 0.0;
  int sr_covered = 0;
  double sq_prior = 0.0, sq_filter = 0.0, sq_map = 0.0, sq_pf = 0.0, sq_ukf = 0.0;
  const int patients = 40;
  for (int p = 0; p < patients; ++p) {
    Eigen::VectorXd z(3);
    for (int i = 0; i < 3; ++i) z(i) = normal(rng);
    const Eigen::VectorXd e = l * z;
    const std::vector<double> eta(e.data(), e.data() + 3);
    const Dataset d = Patient(*m, eta, {2, 11.5, 26, 47.5, 71.5, 95.5}, &rng);
    AssimilationOptions o;
    o.members = 200;
    o.seed = 500 + p;
    auto steps = AssimilateSubject(*m, d, 0, o);
    ASSERT_TRUE(steps.ok()) << steps.status().ToString();
    ASSERT_EQ(steps->size(), 6u);
    for (const AssimilationStep& s : *steps) {
      EXPECT_LE(s.pred_lo, s.pred);
      EXPECT_LE(s.pred, s.pred_hi);
      covered += s.dv >= s.pred_lo && s.dv <= s.pred_hi;
      ++total;
      sum_z2 += s.z * s.z;
      // The normal score agrees with the interval: inside it exactly when |z| <= 1.645, up to
      // the sampling of the interval's ends by 200 members (the score is exact for the
      // members' mixture).
      const bool inside = s.dv >= s.pred_lo && s.dv <= s.pred_hi;
      if (std::abs(s.z) < 1.3) {
        EXPECT_TRUE(inside) << s.z;
      }
      if (std::abs(s.z) > 2.1) {
        EXPECT_FALSE(inside) << s.z;
      }
    }
    // Clearance: true individual value vs the filter's median after the last level.
    std::vector<double> truth(m->num_parameters());
    ASSERT_TRUE(m->Individualize(std::vector<double>{4.5, 58.4, 38.4, 6.5}, eta,
                                 d.subjects[0].records[0].covariates, truth)
                    .ok());
    std::vector<double> typical(m->num_parameters());
    ASSERT_TRUE(m->Individualize(std::vector<double>{4.5, 58.4, 38.4, 6.5}, {},
                                 d.subjects[0].records[0].covariates, typical)
                    .ok());
    sq_prior += std::pow(std::log(typical[0] / truth[0]), 2);
    sq_filter += std::pow(std::log(steps->back().parameters[0] / truth[0]), 2);
    // The square-root variant on the same levels.
    AssimilationOptions so = o;
    so.method = FilterMethod::kEnsrf;
    auto sr = AssimilateSubject(*m, d, 0, so);
    ASSERT_TRUE(sr.ok()) << sr.status().ToString();
    for (const AssimilationStep& s : *sr) sr_covered += s.dv >= s.pred_lo && s.dv <= s.pred_hi;
    sq_sr += std::pow(std::log(sr->back().parameters[0] / truth[0]), 2);
    // The particle filter on the same levels.
    AssimilationOptions po;
    po.method = FilterMethod::kPf;
    po.members = 500;
    po.seed = 900 + p;
    auto pf = AssimilateSubject(*m, d, 0, po);
    ASSERT_TRUE(pf.ok()) << pf.status().ToString();
    for (const AssimilationStep& s : *pf) pf_covered += s.dv >= s.pred_lo && s.dv <= s.pred_hi;
    sq_pf += std::pow(std::log(pf->back().parameters[0] / truth[0]), 2);
    // The unscented Kalman filter on the same levels.
    AssimilationOptions uo;
    uo.method = FilterMethod::kUkf;
    auto ukf = AssimilateSubject(*m, d, 0, uo);
    ASSERT_TRUE(ukf.ok()) << ukf.status().ToString();
    for (const AssimilationStep& s : *ukf) ukf_covered += s.dv >= s.pred_lo && s.dv <= s.pred_hi;
    sq_ukf += std::pow(std::log(ukf->back().parameters[0] / truth[0]), 2);
    // The batch answer on the same levels: the MAP of all six.
    auto fit = FitSubject(*m, d, 0, FitOptions{});
    ASSERT_TRUE(fit.ok()) << fit.status().ToString();
    sq_map += std::pow(std::log(fit->parameters[0] / truth[0]), 2);
  }
  const double coverage = static_cast<double>(covered) / total;
  const double rmse_prior = std::sqrt(sq_prior / patients);
  const double rmse_filter = std::sqrt(sq_filter / patients);
  const double rmse_map = std::sqrt(sq_map / patients);
  const double rmse_pf = std::sqrt(sq_pf / patients);
  const double pf_coverage = static_cast<double>(pf_covered) / total;
  std::printf(
      "twin experiment: coverage EnKF %.3f, PF %.3f of %d levels; RMSE of log CL: prior %.3f, "
      "EnKF after six levels %.3f, PF %.3f, MAP of the six %.3f\n",
      coverage, pf_coverage, total, rmse_prior, rmse_filter, rmse_pf, rmse_map);
  const double rmse_ukf = std::sqrt(sq_ukf / patients);
  const double ukf_coverage = static_cast<double>(ukf_covered) / total;
  std::printf("twin experiment: UKF coverage %.3f, RMSE of log CL %.3f\n", ukf_coverage, rmse_ukf);
  const double rmse_sr = std::sqrt(sq_sr / patients);
  const double sr_coverage = static_cast<double>(sr_covered) / total;
  std::printf("twin experiment: EnSRF coverage %.3f, RMSE of log CL %.3f\n", sr_coverage, rmse_sr);
  EXPECT_GE(sr_coverage, 0.82);
  EXPECT_LE(sr_coverage, 0.97);
  EXPECT_LT(rmse_sr, 1.25 * rmse_map);
  EXPECT_GE(ukf_coverage, 0.82);
  EXPECT_LE(ukf_coverage, 0.97);
  EXPECT_LT(rmse_ukf, 1.25 * rmse_map);
  EXPECT_GE(pf_coverage, 0.82);
  EXPECT_LE(pf_coverage, 0.97);
  EXPECT_LT(rmse_pf, 1.25 * rmse_map);
  // A calibrated predictive distribution gives standard normal scores: E z^2 = 1.
  const double z_var = sum_z2 / total;
  std::printf("twin experiment: mean z^2 (EnKF) %.3f\n", z_var);
  EXPECT_GT(z_var, 0.7);
  EXPECT_LT(z_var, 1.4);
  // 240 levels: the binomial SD of the coverage is about 2 %.
  EXPECT_GE(coverage, 0.82);
  EXPECT_LE(coverage, 0.97);
  // The filter learns clearance about as well as the batch MAP of the same levels.
  EXPECT_LT(rmse_filter, 0.85 * rmse_prior);
  EXPECT_LT(rmse_filter, 1.25 * rmse_map);
}

// The 5-95 % interval of m exact draws covers 0.9 (m - 1)/(m + 1) in expectation with sample
// quantiles (0.794 for 16), 0.9 with plotting positions: 0.106 more. A 16-member EnKF is itself
// under-dispersed (about 0.72 on these 240 vancomycin levels), so the test checks the shift the
// option makes on the same ensembles (binomial SD of a coverage about 0.03).
TEST(Assimilate, PlottingPositionsCoverNinetyPercentForAnyEnsembleSize) {
  auto m = Vancomycin();
  const Eigen::Map<const Eigen::MatrixXd> omega(m->spec().variability.omega.data(), 3, 3);
  const Eigen::MatrixXd l = omega.llt().matrixL();
  std::mt19937_64 rng(31);
  std::normal_distribution<double> normal;
  int covered[2] = {0, 0}, total = 0;
  for (int p = 0; p < 40; ++p) {
    Eigen::VectorXd z(3);
    for (int i = 0; i < 3; ++i) z(i) = normal(rng);
    const Eigen::VectorXd e = l * z;
    const Dataset d = Patient(*m, {e(0), e(1), e(2)}, {2, 11.5, 26, 47.5, 71.5, 95.5}, &rng);
    for (int k = 0; k < 2; ++k) {
      AssimilationOptions o = Options(FilterMethod::kEnkf, 16, 700 + p);
      o.plotting_positions = k == 1;
      auto steps = AssimilateSubject(*m, d, 0, o);
      ASSERT_TRUE(steps.ok()) << steps.status().ToString();
      for (const AssimilationStep& s : *steps) {
        covered[k] += s.dv >= s.pred_lo && s.dv <= s.pred_hi;
        total += k;
      }
    }
  }
  const double sample = static_cast<double>(covered[0]) / total;
  const double plotting = static_cast<double>(covered[1]) / total;
  std::printf("16 members: coverage %.3f with sample quantiles, %.3f with plotting positions\n",
              sample, plotting);
  EXPECT_GT(plotting - sample, 0.06);
  EXPECT_LT(plotting - sample, 0.16);
}

// With many members the filter's posterior of log CL after all levels is close to the batch
// posterior (MCMC on the same data and prior): the EnKF is exact for linear-Gaussian problems
// and close for this mildly nonlinear one.
TEST(Assimilate, EnkfAgreesWithTheBatchPosterior) {
  auto m = Vancomycin();
  std::mt19937_64 rng(3);
  const Dataset d = Patient(*m, {0.3, -0.2, 0.1}, {11.5, 13, 35.5, 37}, &rng);
  AssimilationOptions o;
  o.members = 2000;
  o.seed = 9;
  auto steps = AssimilateSubject(*m, d, 0, o);
  ASSERT_TRUE(steps.ok()) << steps.status().ToString();
  FitOptions f;
  f.mcmc_samples = 4000;
  f.mcmc_burn_in = 3000;
  f.mcmc_thin = 5;
  auto fit = FitSubject(*m, d, 0, f);
  ASSERT_TRUE(fit.ok()) << fit.status().ToString();
  std::vector<double> eta_cl;
  for (size_t k = 0; k < fit->mcmc_draws.size() / 3; ++k) eta_cl.push_back(fit->mcmc_draws[k * 3]);
  std::sort(eta_cl.begin(), eta_cl.end());
  const double median_eta = eta_cl[eta_cl.size() / 2];
  const double sd = std::sqrt(fit->covariance[0]);
  std::vector<double> p(m->num_parameters());
  ASSERT_TRUE(m->Individualize(std::vector<double>{4.5, 58.4, 38.4, 6.5}, {},
                               d.subjects[0].records[0].covariates, p)
                  .ok());
  const double eta_filter = std::log(steps->back().parameters[0] / p[0]);
  EXPECT_NEAR(eta_filter, median_eta, 0.35 * sd);
}

// The MAP comparator ends where the batch fit of every level is, and predicts each level from
// the fit of the ones before it.
TEST(Assimilate, RefittingTheMapEndsAtTheBatchFit) {
  auto m = Vancomycin();
  std::mt19937_64 rng(8);
  const Dataset d = Patient(*m, {-0.2, 0.3, 0.0}, {11.5, 13, 35.5, 37}, &rng);
  AssimilationOptions o;
  o.method = FilterMethod::kMap;
  o.members = 300;
  auto steps = AssimilateSubject(*m, d, 0, o);
  ASSERT_TRUE(steps.ok()) << steps.status().ToString();
  ASSERT_EQ(steps->size(), 4u);
  auto fit = FitSubject(*m, d, 0, FitOptions{});
  ASSERT_TRUE(fit.ok());
  for (int j = 0; j < 3; ++j) {
    EXPECT_NEAR(steps->back().parameters[j], fit->parameters[j], 1e-9 * fit->parameters[j]);
  }
  for (const AssimilationStep& s : *steps) {
    EXPECT_LT(s.pred_lo, s.pred);
    EXPECT_LT(s.pred, s.pred_hi);
  }
  EXPECT_FALSE(FilterMethodFromString("kalman").ok());
  EXPECT_TRUE(FilterMethodFromString("ukf").ok());
  EXPECT_TRUE(FilterMethodFromString("pf").ok());
}

// A filter restored from a snapshot continues bit-for-bit as the one that never stopped, for
// every method, with white and with correlated residual error (its OU or second-order components
// carried by the members or the UKF's Gaussian); a prediction without update leaves the filter as
// it was.
TEST(Assimilate, SnapshotsRestoreExactly) {
  auto m = Vancomycin();
  std::mt19937_64 rng(21);
  const Dataset d = Patient(*m, {0.2, -0.1, 0.3}, {2, 11.5, 26, 47.5, 71.5}, &rng);
  auto obs = AssimilationRecords(d, 0);
  ASSERT_TRUE(obs.ok());
  std::vector<AssimilationOptions> runs;
  for (FilterMethod method : {FilterMethod::kEnkf, FilterMethod::kEnsrf, FilterMethod::kPf,
                              FilterMethod::kUkf, FilterMethod::kMap}) {
    runs.push_back(Options(method, 40, 5));
    if (method == FilterMethod::kMap) continue;
    runs.push_back(runs.back());
    runs.back().correlated_errors = {{"CP", 0.6, 20.0}};
    // Both augmentations at once: correlated error and model error (state spread, process
    // noise, parameter drift).
    runs.push_back(runs.back());
    runs.back().initial_state_sd = {0.1, 0.1};
    runs.back().state_noise_sd = {0.05, 0.05};
    runs.back().eta_noise_sd = {0.01, 0.01, 0.01};
    // A second-order (smooth) correlated error: two components per member.
    runs.push_back(Options(method, 40, 5));
    runs.back().correlated_errors = {{"CP", 0.6, 8.0, 2, 0.6}};
  }
  for (const AssimilationOptions& o : runs) {
    const FilterMethod method = o.method;
    SCOPED_TRACE(std::string(ToString(method)) +
                 (o.correlated_errors.empty()
                      ? ""
                      : " correlated order " + std::to_string(o.correlated_errors[0].order)) +
                 (o.state_noise_sd.empty() ? "" : " model error"));
    auto a = SequentialFilter::Make(*m, o);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    // A filter that has seen nothing yet restores too (a twin created before its first level;
    // the ensemble's state columns were once left uninitialised and saved as null).
    auto fresh = SequentialFilter::Restore(*m, (*a)->Snapshot());
    ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
    EXPECT_EQ((*fresh)->Snapshot(), (*a)->Snapshot());
    for (int k = 0; k < 2; ++k) ASSERT_TRUE((*a)->Assimilate(d, 0, (*obs)[k]).ok());
    // A prediction only: changes nothing.
    const std::string before = (*a)->Snapshot();
    auto peek = (*a)->Assimilate(d, 0, (*obs)[2], /*update=*/false);
    ASSERT_TRUE(peek.ok());
    EXPECT_TRUE(peek->parameters.empty());
    EXPECT_EQ((*a)->Snapshot(), before);
    auto b = SequentialFilter::Restore(*m, before);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ((*b)->Snapshot(), before);
    EXPECT_EQ((*b)->last_record(), (*obs)[1]);
    if (!o.correlated_errors.empty()) {
      const CorrelatedError& c = (*b)->options().correlated_errors.at(0);
      EXPECT_EQ(c.order, o.correlated_errors[0].order);
      EXPECT_EQ(c.damping, o.correlated_errors[0].damping);
    }
    for (size_t k = 2; k < obs->size(); ++k) {
      auto sa = (*a)->Assimilate(d, 0, (*obs)[k]);
      auto sb = (*b)->Assimilate(d, 0, (*obs)[k]);
      ASSERT_TRUE(sa.ok() && sb.ok());
      if (k == 2) {
        EXPECT_EQ(sa->pred, peek->pred);
        EXPECT_EQ(sa->z, peek->z);
      }
      EXPECT_EQ(sa->pred, sb->pred);
      EXPECT_EQ(sa->pred_lo, sb->pred_lo);
      EXPECT_EQ(sa->pred_hi, sb->pred_hi);
      EXPECT_EQ(sa->z, sb->z);
      EXPECT_EQ(sa->parameters, sb->parameters);
      EXPECT_EQ(sa->state_mean, sb->state_mean);
    }
    EXPECT_EQ((*a)->Snapshot(), (*b)->Snapshot());
    // Samples of the posterior: the state right after the last level, positive parameters.
    auto sample = (*b)->Sample(10, 3);
    ASSERT_TRUE(sample.ok());
    EXPECT_EQ(sample->count, 10);
    EXPECT_EQ(sample->rows.size(), 10u * (m->num_states() + 3));
    EXPECT_EQ(sample->after_record, method == FilterMethod::kMap ? -1 : obs->back());
    // Out of order: an observation before the last one assimilated.
    auto late = (*b)->Assimilate(d, 0, (*obs)[0]);
    ASSERT_FALSE(late.ok());
    EXPECT_THAT(late.status().message(), HasSubstr("before the last assimilated record"));
  }
  // Snapshots that cannot be restored say why.
  auto pk = std::move(MakeModel("pk1cmt")).value();
  AssimilationOptions o;
  auto f = SequentialFilter::Make(*m, o);
  ASSERT_TRUE(f.ok());
  auto wrong = SequentialFilter::Restore(*pk, (*f)->Snapshot());
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("made for model 'vancomycin_goti2018'"));
  EXPECT_THAT(SequentialFilter::Restore(*m, "{").status().message(), HasSubstr("not a JSON"));
  std::string cut = (*f)->Snapshot();
  cut.replace(cut.find("\"weights\""), 9, "\"weightz\"");
  EXPECT_THAT(SequentialFilter::Restore(*m, cut).status().message(), HasSubstr("weights"));
}

// Warfarin 10 mg daily; a concentration at 24 h, then a concentration and an INR from one
// sample at 90 h.
Result<Dataset> WarfarinLevels(const Model& m) {
  const std::string cov = ",60,11,1,.\n";
  std::string csv = "ID,TIME,EVID,AMT,II,ADDL,DV,DVID,AGE,CYP2C9,VKORC1,INR0\n";
  csv += "1,0,1,10,24,5,.,." + cov;
  csv += "1,24,0,.,.,.,0.55,CP" + cov;
  csv += "1,90,0,.,.,.,0.8,CP" + cov;
  csv += "1,90,0,.,.,.,1.9,INR" + cov;
  return ReadDataset(csv, m);
}

// Two observations at one time (warfarin concentration and INR from one blood sample) are
// assimilated from one forecast: for the square-root filter, whose serial scalar updates are
// exact for the ensemble's Gaussian, the analysis after both equals the joint Kalman update of
// the forecast ensemble with the 2 x 2 innovation covariance (Whitaker & Hamill 2002). The
// forecast is rebuilt here from the members after the first level. Were the second
// observation forecast again from the analysed state (a run restarted at that time), its
// prediction would be log INR of the updated state, not the updated prediction: INR is
// nonlinear in the state, and the analyses would differ.
TEST(Assimilate, SimultaneousObservationsEqualTheJointUpdate) {
  auto m = std::move(MakeModel("warfarin_hamberg2007")).value();
  const ModelSpec& spec = m->spec();
  auto d = WarfarinLevels(*m);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  auto obs = AssimilationRecords(*d, 0);
  ASSERT_TRUE(obs.ok());
  ASSERT_EQ(obs->size(), 3u);
  const AssimilationOptions o = Options(FilterMethod::kEnsrf, 60, 12);
  auto a = SequentialFilter::Make(*m, o);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*a)->Assimilate(*d, 0, (*obs)[0]).ok());
  const int n = m->num_states(), q = static_cast<int>(spec.variability.parameters.size());
  const int dim = n + q, members = o.members;
  // The members after the first level (equal weights: Sample returns each member in turn).
  auto before = (*a)->Sample(members, 1);
  ASSERT_TRUE(before.ok());
  Eigen::MatrixXd x(members, dim), h(members, 2);
  Simulator sim(*m, o.sim);
  const Record& first = d->subjects[0].records[(*obs)[0]];
  for (int i = 0; i < members; ++i) {
    const double* row = before->rows.data() + i * dim;
    const std::vector<double> state(row, row + n), eta(row + n, row + dim);
    const RunStart start{first.time_h, state, (*obs)[0]};
    OutputRequest req;
    req.last_record = (*obs)[2];
    auto out = sim.Run(*d, 0, req, IndividualInput{{}, eta}, &start);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const size_t last = out->rows() - 1;
    ASSERT_EQ(out->record[last], (*obs)[2]);
    for (int j = 0; j < n; ++j) x(i, j) = out->states[last * n + j];
    for (int j = 0; j < q; ++j) x(i, n + j) = eta[j];
    for (int k = 0; k < 2; ++k) h(i, k) = std::log(out->observables[last * 2 + k]);
  }
  // The joint update of the forecast: K = P_xh (P_hh + R)^-1.
  const Eigen::RowVectorXd x_mean = x.colwise().mean(), h_mean = h.colwise().mean();
  const Eigen::MatrixXd xa = x.rowwise() - x_mean, ha = h.rowwise() - h_mean;
  const Eigen::MatrixXd p_xx = xa.transpose() * xa / (members - 1);
  const Eigen::MatrixXd p_xh = xa.transpose() * ha / (members - 1);
  Eigen::Matrix2d s = ha.transpose() * ha / (members - 1);
  for (int k = 0; k < 2; ++k) s(k, k) += std::pow(spec.observables[k].error.Sd(1.0), 2);
  const Eigen::MatrixXd gain = p_xh * s.inverse();
  const Eigen::Vector2d y(std::log(0.8), std::log(1.9));
  const Eigen::VectorXd joint_mean = x_mean.transpose() + gain * (y - h_mean.transpose());
  const Eigen::MatrixXd joint_cov = p_xx - gain * p_xh.transpose();
  // The filter: CP, then INR at the same time.
  ASSERT_TRUE((*a)->Assimilate(*d, 0, (*obs)[1]).ok());
  ASSERT_TRUE((*a)->Assimilate(*d, 0, (*obs)[2]).ok());
  auto after = (*a)->Sample(members, 1);
  ASSERT_TRUE(after.ok());
  const Eigen::MatrixXd post =
      Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          after->rows.data(), members, dim);
  const Eigen::RowVectorXd post_mean = post.colwise().mean();
  const Eigen::MatrixXd pa = post.rowwise() - post_mean;
  const Eigen::MatrixXd post_cov = pa.transpose() * pa / (members - 1);
  // Columns whose spread is above rounding (not the INR chains near baseline, whose spread is
  // ~1e-13 of their value).
  std::vector<int> spread;
  for (int j = 0; j < dim; ++j) {
    if (std::sqrt(p_xx(j, j)) > 1e-8 * (1.0 + std::abs(x_mean(j)))) spread.push_back(j);
  }
  EXPECT_GE(spread.size(), static_cast<size_t>(q + 3));
  for (int j : spread) {
    const double sd = std::sqrt(p_xx(j, j));
    EXPECT_NEAR(post_mean(j), joint_mean(j), 1e-9 * sd) << "column " << j;
    for (int k : spread) {
      EXPECT_NEAR(post_cov(j, k), joint_cov(j, k), 1e-9 * sd * std::sqrt(p_xx(k, k)))
          << "columns " << j << ", " << k;
    }
  }
  // The level moved the parameters (the check is not vacuous).
  EXPECT_GT((joint_mean.tail(q) - x_mean.tail(q).transpose()).norm(), 0.05);
}

// A snapshot taken between two observations at one time carries the forecast they share: the
// restored filter updates the second exactly as the original.
TEST(Assimilate, SnapshotBetweenSimultaneousObservationsRestoresExactly) {
  auto m = std::move(MakeModel("warfarin_hamberg2007")).value();
  auto d = WarfarinLevels(*m);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  for (FilterMethod method :
       {FilterMethod::kEnkf, FilterMethod::kEnsrf, FilterMethod::kPf, FilterMethod::kUkf}) {
    SCOPED_TRACE(ToString(method));
    auto a = SequentialFilter::Make(*m, Options(method, 30, 4));
    ASSERT_TRUE(a.ok());
    for (int r : {1, 2}) ASSERT_TRUE((*a)->Assimilate(*d, 0, r).ok());
    auto b = SequentialFilter::Restore(*m, (*a)->Snapshot());
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ((*b)->Snapshot(), (*a)->Snapshot());
    auto sa = (*a)->Assimilate(*d, 0, 3);
    auto sb = (*b)->Assimilate(*d, 0, 3);
    ASSERT_TRUE(sa.ok() && sb.ok());
    EXPECT_EQ(sa->pred, sb->pred);
    EXPECT_EQ(sa->z, sb->z);
    EXPECT_EQ(sa->parameters, sb->parameters);
    EXPECT_EQ((*a)->Snapshot(), (*b)->Snapshot());
  }
}

TEST(Assimilate, RefusesWhatItCannotUse) {
  auto m = Vancomycin();
  AssimilationOptions o;
  auto none = ReadDataset("ID,TIME,AMT,RATE,WT,AGE,SEX,SCR\n1,0,1000,1000,80,60,0,1.1\n", *m);
  ASSERT_TRUE(none.ok());
  auto r = AssimilateSubject(*m, *none, 0, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("subject 1 has no observations"));
  auto cens = ReadDataset(
      "ID,TIME,AMT,RATE,DV,MDV,CENS,EVID,WT,AGE,SEX,SCR\n"
      "1,0,1000,1000,.,1,0,1,80,60,0,1.1\n1,24,0,0,4,0,1,0,80,60,0,1.1\n",
      *m);
  ASSERT_TRUE(cens.ok());
  r = AssimilateSubject(*m, *cens, 0, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("line 3"));
  EXPECT_THAT(r.status().message(), HasSubstr("CENS=1"));
  o.members = 1;
  r = AssimilateSubject(*m, *cens, 0, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("members must be >= 2"));
}

// Exponential decay dx/dt = -k x from x0 = 100, observed with a log-normal error (SD 0.1),
// random effect on k (omega 0.09), whose right-hand side is not finite where k exceeds KMAX:
// a physiology the solver cannot integrate, as some drawn members are.
class FragileDecay final : public Model {
 public:
  FragileDecay() : Model(Spec()) {}
  void InitialState(const double*, double* x) const override { x[0] = 100.0; }
  void Rhs(double, const double* x, const double* p, double* dxdt) const override {
    dxdt[0] = p[0] > p[1] ? std::numeric_limits<double>::quiet_NaN() : -p[0] * x[0];
  }
  void Observe(double, const double* x, const double*, double* y) const override { y[0] = x[0]; }

 private:
  static ModelSpec Spec() {
    ModelSpec s;
    s.name = "fragile_decay";
    s.states = {{"x", "mg/L", "", true}};
    s.parameters = {{"k", "1/h", 0.1, 1e-9, 1e9, "", ""}, {"KMAX", "1/h", 0.12, 0.0, 1e9, "", ""}};
    s.observables = {{"Y", "mg/L", "", ResidualError{ErrorModel::kExponential, 0.0, 0.0, 0.1}}};
    s.variability = {{"k"}, {0.09}};
    return s;
  }
};

// A member the solver cannot simulate does not stop the twin: the particle filter gives it
// weight 0, the EnKF replaces it by a copy of another member, and each step says how many were
// lost. About a quarter of the prior's members have k > KMAX (eta > ln 1.2, 0.6 SD).
TEST(Assimilate, MembersThatCannotBeSimulatedAreDroppedNotFatal) {
  FragileDecay m;
  auto d = ReadDataset("ID,TIME,EVID,DV\n1,0,2,.\n1,2,0,82\n1,4,0,67\n1,8,0,45\n", m);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  for (FilterMethod method : {FilterMethod::kPf, FilterMethod::kEnkf, FilterMethod::kEnsrf}) {
    SCOPED_TRACE(ToString(method));
    AssimilationOptions o;
    o.method = method;
    o.members = 256;
    auto f = SequentialFilter::Make(m, o);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    int lost = 0;
    double last_k = 0.0;
    const std::vector<int> records = AssimilationRecords(*d, 0).value();
    for (int r : records) {
      auto step = (*f)->Assimilate(*d, 0, r);
      ASSERT_TRUE(step.ok()) << step.status().ToString();
      EXPECT_TRUE(std::isfinite(step->pred) && std::isfinite(step->z));
      lost += step->lost_members;
      last_k = step->parameters[0];
      if (r == 1) {  // the first forecast: from the prior
        EXPECT_GT(step->lost_members, 256 / 8);
        EXPECT_LT(step->lost_members, 256 / 2);
      }
    }
    EXPECT_GT(lost, 0);
    // The levels fall by e^-0.1 an hour (82, 67, 45 at 2, 4, 8 h): the filter finds k = 0.1.
    EXPECT_NEAR(last_k, 0.1, 0.01);
  }
  // With KMAX below every plausible k no member is left: a numerical error that says so.
  AssimilationOptions o;
  o.theta = {0.1, 0.01};
  auto all = AssimilateSubject(m, *d, 0, o);
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().code(), StatusCode::kNumerical);
  EXPECT_THAT(all.status().message(), HasSubstr("members could not be simulated"));
}

}  // namespace
}  // namespace medtwin
