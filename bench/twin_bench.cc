// Twin update latency (issue 6): a 64-member ensemble Kalman filter assimilating observations
// of the physiology models one by one. Each observation costs the forecast of every member from
// its analysed state to the observation (Simulator::Run from a RunStart, which replays the
// records before it) and the ensemble update. The problems are those of the twin experiments
// (src/estimate/assimilate_physiology_test.cc, docs/assimilation.md):
//   - T1D: t1d_uvapadova, CGM every 5 min, 3 meals a day with boluses and basal insulin, a
//     patient drawn from the population prior (seed 2026); rtol = atol = 1e-6. The argument is
//     the number of observations assimilated from the start (12 = 1 h, 288 = 1 day, 864 = 3
//     days), so the cost of later updates (longer replays) shows.
//   - CV: cvs_ursino1998, MAP and HR alternately every 30 s (each every minute) through a
//     haemorrhage of 795 mL from 2 to 6 min; rtol = atol = 1e-3. Arguments: the number of
//     observations (4 = the first 2 minutes) and the ODE method (0 CVODES BDF; 2 erk, ARKODE
//     Dormand-Prince, which the CV twin experiment uses since 2026-12-03).
// Counter s_per_observation: wall-clock seconds per observation (shown with SI prefixes,
// e.g. 8.1m = 8.1 ms). One thread.
#include <benchmark/benchmark.h>

#include <Eigen/Dense>
#include <cstdlib>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "medtwin/assimilate.h"
#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"

namespace medtwin {
namespace {

[[noreturn]] void Die(const Status& st) {
  std::cerr << "twin_bench: " << st.ToString() << "\n";
  std::exit(1);
}

template <typename T>
T Get(Result<T> r) {
  if (!r.ok()) Die(r.status());
  return std::move(r).value();
}

std::vector<double> DrawEta(const ModelSpec& spec, uint64_t seed) {
  const int q = static_cast<int>(spec.variability.parameters.size());
  const Eigen::Map<const Eigen::MatrixXd> omega(spec.variability.omega.data(), q, q);
  const Eigen::MatrixXd l = omega.llt().matrixL();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Eigen::VectorXd z(q);
  for (int i = 0; i < q; ++i) z(i) = normal(rng);
  const Eigen::VectorXd e = l * z;
  return std::vector<double>(e.data(), e.data() + q);
}

// The regimen with DVs simulated at eta plus residual error, cut after `observations`
// observations.
Dataset Observed(const Model& m, const std::string& csv, uint64_t seed, const SimOptions& sim_o,
                 int observations) {
  Dataset d = Get(ReadDataset(csv, m));
  const std::vector<double> eta = DrawEta(m.spec(), seed);
  Simulator sim(m, sim_o);
  SimOutput out = Get(sim.Run(d, 0, {}, IndividualInput{{}, eta}));
  std::mt19937_64 rng(seed + 1);
  std::normal_distribution<double> normal;
  const int no = m.num_observables();
  std::vector<Record>& records = d.subjects[0].records;
  for (size_t k = 0; k < out.rows(); ++k) {
    Record& rec = records[out.record[k]];
    rec.dv = m.spec().observables[rec.observable].error.Observation(
        out.observables[k * no + rec.observable], normal(rng));
    rec.mdv = false;
  }
  int seen = 0;
  size_t keep = 0;
  while (keep < records.size() && seen < observations) {
    seen += records[keep++].evid == Evid::kObservation;
  }
  records.resize(keep);
  return d;
}

std::string T1dCsv(const Model& m) {
  const ModelSpec& s = m.spec();
  const std::vector<double> p = s.TypicalValues();
  auto par = [&](const char* name) { return p[s.ParameterIndex(name)]; };
  const double rai = (par("m2") + par("m4")) * par("x0_6") - par("m1") * par("x0_10");
  const double basal = rai * par("BW") / 6000.0, end = 3 * 1440.0;
  std::ostringstream os;
  os.precision(12);
  os << "ID,TIME,EVID,CMT,AMT,RATE,DVID\n1,0,1,insulin," << basal * (end + 1) << "," << basal
     << ",.\n";
  const double meal_min[3] = {420, 720, 1140}, carbs_g[3] = {45, 70, 80};
  for (double t = 5.0; t <= end + 1e-9; t += 5.0) {
    for (int d = 0; d < 3; ++d) {
      for (int k = 0; k < 3; ++k) {
        const double at = d * 1440.0 + meal_min[k];
        if (at > t - 5.0 && at <= t) {
          os << "1," << at << ",1,meal," << carbs_g[k] << ",5,.\n";
          os << "1," << at << ",1,insulin," << carbs_g[k] / 10.0 << ",0,.\n";
        }
      }
    }
    os << "1," << t << ",0,.,.,.,CGM\n";
  }
  return os.str();
}

std::string CvCsv() {
  std::ostringstream os;
  os << "ID,TIME,EVID,CMT,AMT,RATE,DVID\n";
  for (int t = 30; t <= 480; t += 30) {
    os << "1," << t << ",0,.,.,.," << (t % 60 == 0 ? "MAP" : "HR") << "\n";
    if (t == 120) os << "1,120,1,haemorrhage,795,3.3125,.\n";
  }
  return os.str();
}

void Run(benchmark::State& state, const Model& m, const Dataset& d, const SimOptions& sim_o) {
  AssimilationOptions o;
  o.members = 64;
  o.seed = 7;
  o.sim = sim_o;
  size_t observations = 0;
  for (auto _ : state) {
    auto steps = AssimilateSubject(m, d, 0, o);
    if (!steps.ok()) Die(steps.status());
    observations += steps->size();
    benchmark::DoNotOptimize(steps->back().parameters);
  }
  state.counters["s_per_observation"] = benchmark::Counter(
      static_cast<double>(observations), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_T1dEnkf64(benchmark::State& state) {
  static const std::unique_ptr<Model> m = Get(MakeModel("t1d_uvapadova"));
  SimOptions sim_o;
  sim_o.rtol = sim_o.atol = 1e-6;
  const Dataset d = Observed(*m, T1dCsv(*m), 2026, sim_o, static_cast<int>(state.range(0)));
  Run(state, *m, d, sim_o);
}
BENCHMARK(BM_T1dEnkf64)
    ->Arg(12)
    ->Arg(288)
    ->Arg(864)
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();

void BM_CvEnkf64(benchmark::State& state) {
  static const std::unique_ptr<Model> m = Get(MakeModel("cvs_ursino1998"));
  SimOptions sim_o;
  sim_o.method = static_cast<OdeMethod>(state.range(1));
  sim_o.rtol = sim_o.atol = 1e-3;
  const Dataset d = Observed(*m, CvCsv(), 1998, sim_o, static_cast<int>(state.range(0)));
  Run(state, *m, d, sim_o);
}
BENCHMARK(BM_CvEnkf64)
    ->Args({4, static_cast<int>(OdeMethod::kBdf)})
    ->Args({4, static_cast<int>(OdeMethod::kExplicitRk)})
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();

}  // namespace
}  // namespace medtwin

BENCHMARK_MAIN();
