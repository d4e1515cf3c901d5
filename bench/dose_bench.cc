// Dose optimization over the posterior for one patient (issue 5 target: under 1 s): a MAP fit of
// two vancomycin levels (outside the timing), then the search of 16 amounts (250:250:4000 mg) x
// 3 intervals (8, 12, 24 h) x 2 infusion durations (1, 2 h) = 96 regimens for AUC24 400-600 and
// trough <= 20 mg/L at steady state, over N posterior draws; and the same on day 1 with loading
// doses (912 regimens: loading amounts at least the maintenance amount).
#include <benchmark/benchmark.h>

#include <cstdio>

#include "medtwin/decide.h"

namespace {

using medtwin::DoseSearchSpace;

struct Patient {
  std::unique_ptr<medtwin::Model> model;
  medtwin::Dataset data;
  medtwin::IndividualPosterior posterior;
  std::vector<medtwin::Target> targets;
};

const Patient& GetPatient() {
  static const Patient p = [] {
    Patient q;
    q.model = std::move(medtwin::MakeModel("vancomycin_goti2018")).value();
    q.data = std::move(medtwin::ReadDataset("ID,TIME,EVID,AMT,RATE,II,ADDL,DV,MDV,WT,AGE,SEX,SCR\n"
                                            "1,0,1,1000,1000,12,5,.,1,80,60,0,1.1\n"
                                            "1,11.5,0,0,0,0,0,12.1,0,80,60,0,1.1\n"
                                            "1,13,0,0,0,0,0,28.4,0,80,60,0,1.1\n",
                                            *q.model))
                 .value();
    auto fit = medtwin::FitSubject(*q.model, q.data, 0, medtwin::FitOptions{});
    std::vector<double> theta;
    for (const auto& s : q.model->spec().parameters) theta.push_back(s.typical);
    q.posterior = medtwin::IndividualPosterior::FromFit(fit.value(), theta,
                                                        {q.model->spec().observables[0].error});
    q.targets = {medtwin::TargetFromString("auc24=400..600").value(),
                 medtwin::TargetFromString("trough<=20").value()};
    return q;
  }();
  return p;
}

DoseSearchSpace Space(bool loading) {
  DoseSearchSpace s;
  for (double a = 250; a <= 4000; a += 250) s.amounts.push_back(a);
  s.durations_h = {1, 2};
  s.start_h = 24;
  if (loading) {
    s.loading = true;
    s.day = 1;
  }
  return s;
}

void Run(benchmark::State& state, bool loading) {
  const Patient& p = GetPatient();
  const DoseSearchSpace space = Space(loading);
  medtwin::DoseOptions o;
  o.draws = static_cast<int>(state.range(0));
  o.min_pta = 0;
  for (auto _ : state) {
    auto r = medtwin::OptimizeDose(*p.model, p.data, 0, p.posterior, p.targets, space, o);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
    state.counters["regimens"] = static_cast<double>(r->candidates);
    state.counters["simulations"] = static_cast<double>(r->simulations);
    benchmark::DoNotOptimize(r->best.front().pta);
  }
}

void BM_DoseSteadyState(benchmark::State& state) { Run(state, false); }
void BM_DoseDay1Loading(benchmark::State& state) { Run(state, true); }

BENCHMARK(BM_DoseSteadyState)->Arg(200)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DoseDay1Loading)->Arg(200)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
