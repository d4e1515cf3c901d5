// Cardiovascular benchmark (issue 4): one hour of cvs_ursino1998 (Ursino 1998 pulsating heart with
// carotid baroreflex; every beat resolved by CVODES, about 4,300 beats) at rest, per-beat
// observables (HR, SBP, DBP, MAP, CO, SV, CVP) reported every 10 s. One thread. Arguments: the
// ODE method (0 bdf: CVODES, 2 erk: ARKODE Dormand-Prince 5(4), see OdeMethod) and -log10 of
// the tolerance (rtol = atol, state units mL, mL/s, mmHg, s).
// Counter x_real_time: simulated seconds per wall-clock second (Pulse and BioGears report about
// 5-10x with a fixed 50 Hz step). Accuracy counters against a reference run (CVODES BDF at
// rtol = atol = 1e-8, computed once, not timed), over the outputs from 60 s on: dP_mmHg, the
// largest difference of SBP, DBP, MAP or CVP; rel_pct, the largest relative difference of HR, CO
// or SV in percent.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"

namespace medtwin {
namespace {

constexpr double kSimulatedS = 3600.0;

[[noreturn]] void Die(const Status& st) {
  std::cerr << "cvs_bench: " << st.ToString() << "\n";
  std::exit(1);
}

SimOptions Options(OdeMethod method, double tol) {
  SimOptions opt;
  opt.method = method;
  opt.rtol = opt.atol = tol;
  opt.max_steps = 1'000'000;
  return opt;
}

// The per-beat observables of the tight reference run (computed on first use).
const SimOutput& Reference(const Model& model, const Dataset& data) {
  static const SimOutput ref = [&] {
    Simulator sim(model, Options(OdeMethod::kBdf, 1e-8));
    Result<SimOutput> out = sim.Run(data, 0, OutputRequest{});
    if (!out.ok()) Die(out.status());
    return std::move(out).value();
  }();
  return ref;
}

// {largest pressure difference (mmHg), largest relative HR/CO/SV difference (%)} from 60 s on.
std::pair<double, double> Deviation(const Model& model, const SimOutput& a, const SimOutput& b) {
  const int no = model.num_observables();
  double dp = 0.0, rel = 0.0;
  for (size_t r = 0; r < a.rows(); ++r) {
    if (a.time_h[r] < 60.0) continue;
    for (const char* o : {"SBP", "DBP", "MAP", "CVP"}) {
      const size_t k = r * no + model.spec().ObservableIndex(o);
      dp = std::max(dp, std::fabs(a.observables[k] - b.observables[k]));
    }
    for (const char* o : {"HR", "CO", "SV"}) {
      const size_t k = r * no + model.spec().ObservableIndex(o);
      rel = std::max(rel, 100.0 * std::fabs(a.observables[k] / b.observables[k] - 1.0));
    }
  }
  return {dp, rel};
}

void BM_CvsHour(benchmark::State& state) {
  Result<std::unique_ptr<Model>> model = MakeModel("cvs_ursino1998");
  if (!model.ok()) Die(model.status());
  std::ostringstream csv;
  csv << "ID,TIME,EVID,CMT,AMT,RATE\n";
  for (int t = 0; t <= kSimulatedS; t += 10) csv << "1," << t << ",0,.,.,.\n";
  Result<Dataset> data = ReadDataset(csv.str(), **model);
  if (!data.ok()) Die(data.status());
  const SimOutput& ref = Reference(**model, *data);
  Simulator sim(**model, Options(static_cast<OdeMethod>(state.range(0)),
                                 std::pow(10.0, -static_cast<double>(state.range(1)))));
  SimOutput last;
  long steps = 0, rhs = 0;
  double map = 0.0, beats = 0.0;
  for (auto _ : state) {
    Result<SimOutput> out = sim.Run(*data, 0, OutputRequest{});
    if (!out.ok()) Die(out.status());
    steps = out->summary.steps;
    rhs = out->summary.rhs_evals;
    beats = out->states.back();  // the last state is the phase: beats since the start
    map = out->observables[(out->rows() - 1) * (*model)->num_observables() + 3];
    benchmark::DoNotOptimize(out->observables.data());
    last = std::move(out).value();
  }
  const auto [dp, rel] = Deviation(**model, last, ref);
  state.counters["dP_mmHg"] = dp;
  state.counters["rel_pct"] = rel;
  state.counters["x_real_time"] =
      benchmark::Counter(kSimulatedS * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["steps"] = static_cast<double>(steps);
  state.counters["steps_per_beat"] = static_cast<double>(steps) / beats;
  state.counters["rhs"] = static_cast<double>(rhs);
  state.counters["MAP_end_mmHg"] = map;
}
BENCHMARK(BM_CvsHour)
    ->Args({0, 6})
    ->Args({0, 4})
    ->Args({0, 3})
    ->Args({2, 6})
    ->Args({2, 5})
    ->Args({2, 4})
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();

}  // namespace
}  // namespace medtwin

BENCHMARK_MAIN();
