// Foundation benchmarks (Google Benchmark). The problem (bench/README.md): 2-compartment model
// with depot (pk2cmt), CL 4.5 L/h, V 58.4 L, Q 6.5 L/h, V2 38.4 L, KA 1 1/h; 1000 mg over 1 h
// every 12 h for 7 days (14 doses); hourly output 0..168 h; rtol 1e-8, atol 1e-8 mg.
// bench/run_benchmarks.sh runs these beside the hand-written CVODE program and SciPy.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <iostream>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/population.h"
#include "medtwin/sbml.h"
#include "medtwin/simulator.h"

namespace medtwin {
namespace {

constexpr char kRegimen[] = "ID,TIME,AMT,CMT,RATE,II,ADDL\n1,0,1000,2,1000,12,13\n";

struct Problem {
  std::unique_ptr<Model> model;
  Dataset data;
  std::vector<double> theta;
  OutputRequest hourly;
  SimOptions options;
};

// The problem on the built-in pk2cmt, or on the same model read from examples/pk2cmt.xml.
Problem MakeProblem(SimPath path, bool sbml = false) {
  Problem p;
  if (sbml) {
    auto m = LoadSbmlFile(std::string(MEDTWIN_SOURCE_DIR) + "/examples/pk2cmt.xml");
    if (!m.ok()) std::abort();
    p.model = std::move(m).value();
  } else {
    auto m = MakeModel("pk2cmt");
    if (!m.ok()) std::abort();
    p.model = std::move(m).value();
  }
  auto d = ReadDataset(kRegimen, *p.model);
  if (!d.ok()) std::abort();
  p.data = std::move(d).value();
  const ModelSpec& s = p.model->spec();
  p.theta.assign(s.parameters.size(), 0.0);
  for (size_t i = 0; i < s.parameters.size(); ++i) p.theta[i] = s.parameters[i].typical;
  p.theta[s.ParameterIndex("CL")] = 4.5;
  p.theta[s.ParameterIndex("V")] = 58.4;
  p.theta[s.ParameterIndex("Q")] = 6.5;
  p.theta[s.ParameterIndex("V2")] = 38.4;
  p.theta[s.ParameterIndex("KA")] = 1.0;
  p.hourly.observation_records = false;
  for (int t = 0; t <= 168; ++t) p.hourly.times_h.push_back(t);
  p.options.rtol = 1e-8;
  p.options.atol = 1e-8;
  p.options.path = path;
  return p;
}

void BM_Subject(benchmark::State& state, SimPath path, bool sbml) {
  Problem p = MakeProblem(path, sbml);
  Simulator sim(*p.model, p.options);
  SimSummary last;
  for (auto _ : state) {
    auto out = sim.Run(p.data, 0, p.hourly, {p.theta, {}});
    if (!out.ok()) {
      state.SkipWithError(out.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(out->observables.data());
    last = out->summary;
  }
  state.counters["steps"] = static_cast<double>(last.steps);
  state.counters["rhs"] = static_cast<double>(last.rhs_evals);
  state.counters["kernel_evals"] = static_cast<double>(last.kernel_evals);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Subject, ode, SimPath::kOde, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Subject, closed_form, SimPath::kClosedForm, false)
    ->Unit(benchmark::kMicrosecond);
// Issue 3 (a): the same model loaded from SBML (compiled math), on the ODE path.
BENCHMARK_CAPTURE(BM_Subject, sbml_ode, SimPath::kOde, true)->Unit(benchmark::kMicrosecond);

// 10,000 virtual subjects (IIV on CL and V, omega^2 0.09 each), one thread: subjects per second
// per core.
void BM_Population(benchmark::State& state, SimPath path) {
  Problem p = MakeProblem(path);
  PopulationOptions o;
  o.n_subjects = static_cast<int>(state.range(0));
  o.threads = 1;
  o.sim = p.options;
  for (auto _ : state) {
    auto r = RunPopulation(*p.model, p.data, p.hourly, p.theta, o);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(r->arms.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK_CAPTURE(BM_Population, ode, SimPath::kOde)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_Population, auto, SimPath::kAuto) -> Arg(10000)
    -> Unit(benchmark::kMillisecond) -> Iterations(3);

}  // namespace
}  // namespace medtwin

BENCHMARK_MAIN();
