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

void BM_Map(benchmark::State& state) {
  Problem p = MakeProblem();
  FitOptions o;
  int evaluations = 0;
  for (auto _ : state) {
    auto fit = FitSubject(*p.model, p.data, 0, o);
    if (!fit.ok()) state.SkipWithError(fit.status().ToString().c_str());
    evaluations = fit->evaluations;
    benchmark::DoNotOptimize(fit->eta);
  }
  state.counters["objective_evaluations"] = evaluations;
}
BENCHMARK(BM_Map)->Unit(benchmark::kMillisecond);

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

// Ensemble Kalman filter (issue 6): the four levels assimilated one by one with 64 members;
// the counter is the time per observation (forecast of every member plus the update).
void BM_Enkf64(benchmark::State& state) {
  Problem p = MakeProblem();
  AssimilationOptions o;
  o.members = 64;
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
BENCHMARK(BM_Enkf64)->Unit(benchmark::kMillisecond);

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
