// Estimation benchmarks (issue 5): MAP per patient and SIR with 10,000 proposals.
// The problem: vancomycin_goti2018 (2-compartment IV, 3 random effects), 1 g over 1 h every
// 12 h, four levels (a trough and a peak on day 1, a trough and a peak on day 2) simulated from
// a patient with eta = (0.3, -0.4, 0.2) plus residual error drawn with a fixed seed.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>

#include "medtwin/assimilate.h"
#include "medtwin/estimate.h"
#include "medtwin/twin.h"

namespace medtwin {
namespace {

struct Problem {
  std::unique_ptr<Model> model;
  Dataset data;
};

Problem MakeProblem() {
  Problem p;
  p.model = std::move(MakeModel("vancomycin_goti2018")).value();
  const std::string cov = ",80,60,0,1.1\n";
  std::string csv = "ID,TIME,EVID,AMT,RATE,II,ADDL,DV,MDV,WT,AGE,SEX,SCR\n";
  csv += "1,0,1,1000,1000,12,5,.,1" + cov;
  const double times[] = {11.5, 13, 23.5, 25};
  for (double t : times) csv += "1," + std::to_string(t) + ",0,0,0,0,0,.,1" + cov;
  auto regimen = ReadDataset(csv, *p.model);
  if (!regimen.ok()) std::abort();
  Simulator sim(*p.model, {});
  const std::vector<double> eta = {0.3, -0.4, 0.2};
  auto out = sim.Run(*regimen, 0, {}, IndividualInput{{}, eta});
  if (!out.ok()) std::abort();
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal;
  const ResidualError& e = p.model->spec().observables[0].error;
  p.data = *regimen;
  for (size_t r = 0; r < out->rows(); ++r) {
    Record& rec = p.data.subjects[0].records[1 + r];
    const double f = out->observables[r];
    rec.dv = f + e.Sd(f) * normal(rng);
    rec.mdv = false;
  }
  return p;
}

// The MAP on the closed-form path (vancomycin_goti2018 is linear), with the gradient from the
// closed form's forward sensitivities (auto) and from central finite differences of OFV.
void BM_Map(benchmark::State& state, GradientMethod gradient) {
  Problem p = MakeProblem();
  FitOptions o;
  o.gradient = gradient;
  SubjectFit last;
  for (auto _ : state) {
    auto fit = FitSubject(*p.model, p.data, 0, o);
    if (!fit.ok()) {
      state.SkipWithError(fit.status().ToString().c_str());
      break;
    }
    last = std::move(fit).value();
    benchmark::DoNotOptimize(last.eta);
  }
  state.counters["objective_evaluations"] = last.evaluations;
  state.counters["lbfgs_points"] = last.gradient_evaluations;
  state.counters["ofv"] = last.objective;
  state.SetLabel(last.gradient);
}
BENCHMARK_CAPTURE(BM_Map, sensitivities, GradientMethod::kAuto)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Map, finite_differences, GradientMethod::kFiniteDifference)
    ->Unit(benchmark::kMillisecond);

void BM_Sir10000(benchmark::State& state) {
  Problem p = MakeProblem();
  FitOptions o;
  o.sir_proposals = 10000;
  o.sir_resamples = 1000;
  double ess = 0;
  for (auto _ : state) {
    auto fit = FitSubject(*p.model, p.data, 0, o);
    if (!fit.ok()) state.SkipWithError(fit.status().ToString().c_str());
    ess = fit->sir_effective_size;
    benchmark::DoNotOptimize(fit->sir_draws);
  }
  state.counters["effective_sample_size"] = ess;
}
BENCHMARK(BM_Sir10000)->Unit(benchmark::kMillisecond);

// MAP on nonlinear ODE models (issue 5: gradients from forward sensitivities), with the
// gradient from CVODES forward sensitivities (auto) against central finite differences.
//   irm3: vancomycin_goti2018+irm3 (3 states, 3 random effects), the course above, CP levels
//         at 11.5, 13, 23.5 h and indirect-response levels at 25 and 36 h;
//   warfarin: warfarin_hamberg2007 (10 states, 6 random effects), 2.5 mg S-warfarin daily for
//         7 days (CYP2C9 *1/*2, VKORC1 GA, 65 years), CP at 12, 72 and 167.5 h, INR at 23, 47,
//         71, 95, 119, 143 and 167 h.
// Levels are the predictions at a fixed eta times fixed factors (deterministic "noise").
// Counters: simulations (objective evaluations, finite-difference ones included), L-BFGS
// points, and OFV at the estimate.
struct Level {
  double t_h;
  int observable;  // DVID, 1-based
  double factor;
};

Problem MakeNonlinearProblem(const std::string& model, const std::string& regimen,
                             const std::string& covariates, const std::vector<Level>& levels,
                             const std::vector<double>& eta) {
  Problem p;
  p.model = std::move(MakeModel(model)).value();
  std::string csv = regimen;
  for (const Level& l : levels) {
    csv += "1," + std::to_string(l.t_h) + ",0,0,0,0," + std::to_string(l.observable) + "," +
           covariates + "\n";
  }
  auto data = ReadDataset(csv, *p.model);
  if (!data.ok()) std::abort();
  Simulator sim(*p.model, {});
  auto out = sim.Run(*data, 0, {}, IndividualInput{{}, eta});
  if (!out.ok()) std::abort();
  p.data = *data;
  const int no = p.model->num_observables();
  for (size_t i = 0; i < levels.size(); ++i) {
    Record& rec = p.data.subjects[0].records[1 + i];
    rec.dv = out->observables[i * no + levels[i].observable - 1] * levels[i].factor;
    rec.mdv = false;
  }
  return p;
}

Problem MakeIrm3Problem() {
  return MakeNonlinearProblem(
      "vancomycin_goti2018+irm3",
      "ID,TIME,EVID,AMT,RATE,ADDL,DVID,WT,AGE,SEX,SCR,II\n1,0,1,1000,1000,5,1,80,60,0,1.1,12\n",
      "80,60,0,1.1,0",
      {{11.5, 1, 1.1}, {13, 1, 0.92}, {23.5, 1, 1.05}, {25, 2, 0.97}, {36, 2, 1.02}},
      {0.3, -0.4, 0.2});
}

Problem MakeWarfarinProblem() {
  std::vector<Level> levels;
  const double times_h[] = {12, 23, 47, 71, 72, 95, 119, 143, 167, 167.5};
  const int observable[] = {1, 2, 2, 2, 1, 2, 2, 2, 2, 1};
  for (int i = 0; i < 10; ++i) levels.push_back({times_h[i], observable[i], i % 2 ? 1.05 : 0.95});
  return MakeNonlinearProblem(
      "warfarin_hamberg2007",
      "ID,TIME,EVID,AMT,CMT,ADDL,DVID,AGE,CYP2C9,VKORC1,II\n1,0,1,2.5,1,6,1,65,12,1,24\n",
      "65,12,1,0", levels, {0.2, -0.1, 0.3, 0.1, -0.2, 0.25});
}

void BM_MapNonlinear(benchmark::State& state, Problem (*make)(), GradientMethod gradient,
                     bool sensitivity_error_control) {
  Problem p = make();
  FitOptions o;
  o.gradient = gradient;
  o.sim.sensitivity_error_control = sensitivity_error_control;
  SubjectFit last;
  for (auto _ : state) {
    auto fit = FitSubject(*p.model, p.data, 0, o);
    if (!fit.ok()) {
      state.SkipWithError(fit.status().ToString().c_str());
      break;
    }
    last = std::move(fit).value();
    benchmark::DoNotOptimize(last.eta);
  }
  state.counters["simulations"] = last.evaluations;
  state.counters["lbfgs_points"] = last.gradient_evaluations;
  state.counters["ofv"] = last.objective;
  state.SetLabel(last.gradient.substr(0, last.gradient.find(' ', 10)));
}
// *_no_errcon: SimOptions::sensitivity_error_control = false.
BENCHMARK_CAPTURE(BM_MapNonlinear, irm3_sensitivities, MakeIrm3Problem, GradientMethod::kAuto, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MapNonlinear, irm3_sensitivities_no_errcon, MakeIrm3Problem,
                  GradientMethod::kAuto, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MapNonlinear, irm3_finite_differences, MakeIrm3Problem,
                  GradientMethod::kFiniteDifference, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MapNonlinear, warfarin_sensitivities, MakeWarfarinProblem,
                  GradientMethod::kAuto, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MapNonlinear, warfarin_sensitivities_no_errcon, MakeWarfarinProblem,
                  GradientMethod::kAuto, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MapNonlinear, warfarin_finite_differences, MakeWarfarinProblem,
                  GradientMethod::kFiniteDifference, true)
    ->Unit(benchmark::kMillisecond);

// Ensemble Kalman filter (issue 6): the four levels assimilated one by one with 64 members;
// the counter is the time per observation (forecast of every member plus the update). With
// the argument 1, model error on (docs/assimilation.md, "Model error"): an initial-state
// spread, process noise on every state and a random walk of every eta. With 2 and 3, a
// correlated residual error of CP (docs/assimilation.md, "Correlated residual error"): half the
// variance an OU of 12 h (2) or a second-order process of natural time 12 h, damping 0.7 (3).
void BM_Enkf64(benchmark::State& state) {
  Problem p = MakeProblem();
  AssimilationOptions o;
  o.members = 64;
  if (state.range(0) == 1) {
    const size_t n = p.model->spec().states.size();
    o.initial_state_sd.assign(n, 0.1);
    o.state_noise_sd.assign(n, 0.05);
    o.eta_noise_sd.assign(p.model->spec().variability.parameters.size(), 0.01);
  }
  if (state.range(0) == 2) o.correlated_errors = {{"CP", 0.5, 12.0}};
  if (state.range(0) == 3) o.correlated_errors = {{"CP", 0.5, 12.0, 2, 0.7}};
  size_t observations = 0;
  for (auto _ : state) {
    auto steps = AssimilateSubject(*p.model, p.data, 0, o);
    if (!steps.ok()) state.SkipWithError(steps.status().ToString().c_str());
    observations += steps->size();
    benchmark::DoNotOptimize(steps->back().parameters);
  }
  state.counters["us_per_observation"] = benchmark::Counter(
      static_cast<double>(observations), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Enkf64)->DenseRange(0, 3)->Unit(benchmark::kMillisecond);

// The same four levels through a Twin (issue 6): events and levels one at a time, as a server
// receives them; the counter is the time per level (each Update: validate the row, forecast the
// 64 members, update, monitor), events and twin creation included in the total.
void BM_TwinUpdate64(benchmark::State& state) {
  Problem p = MakeProblem();
  TwinOptions o;
  o.patient_id = "1";
  o.covariates = {{"WT", 80}, {"AGE", 60}, {"SEX", 0}, {"SCR", 1.1}};
  o.filter.members = 64;
  size_t observations = 0;
  std::string snapshot;
  for (auto _ : state) {
    auto twin = Twin::Create(*p.model, o);
    if (!twin.ok()) state.SkipWithError(twin.status().ToString().c_str());
    size_t next = 1;
    for (double t = 0.0; t < 48.0; t += 12.0) {
      const auto& records = p.data.subjects[0].records;
      while (next < records.size() && records[next].time_h < t) {
        auto u = (*twin)->Update({records[next].time_h, "CP", records[next].dv});
        if (!u.ok()) state.SkipWithError(u.status().ToString().c_str());
        ++next;
        ++observations;
      }
      if (!(*twin)->Apply({t, "", 1000.0, 1000.0}).ok()) state.SkipWithError("dose");
    }
    snapshot = (*twin)->Snapshot();
  }
  state.counters["us_per_observation"] = benchmark::Counter(
      static_cast<double>(observations), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["snapshot_bytes"] = static_cast<double>(snapshot.size());
}
BENCHMARK(BM_TwinUpdate64)->Unit(benchmark::kMillisecond);

// Restoring that twin (64 members after four levels) from its snapshot.
void BM_TwinRestore64(benchmark::State& state) {
  Problem p = MakeProblem();
  TwinOptions o;
  o.patient_id = "1";
  o.covariates = {{"WT", 80}, {"AGE", 60}, {"SEX", 0}, {"SCR", 1.1}};
  auto twin = Twin::Create(*p.model, o);
  if (!twin.ok()) std::abort();
  if (!(*twin)->Apply({0.0, "", 1000.0, 1000.0}).ok()) std::abort();
  for (size_t r = 1; r < 3; ++r) {
    const Record& rec = p.data.subjects[0].records[r];
    if (!(*twin)->Update({rec.time_h, "CP", rec.dv}).ok()) std::abort();
  }
  const std::string snapshot = (*twin)->Snapshot();
  for (auto _ : state) {
    auto restored = Twin::Restore(*p.model, snapshot);
    if (!restored.ok()) state.SkipWithError(restored.status().ToString().c_str());
    benchmark::DoNotOptimize(restored);
  }
}
BENCHMARK(BM_TwinRestore64)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace medtwin

BENCHMARK_MAIN();
