// T1D in-silico trial benchmark (issue 4): the 30 UVA/Padova virtual patients
// (../shared/data/t1d/vpatient_params.csv) for 30 days each on t1d_uvapadova, 3 meals a day
// (45 g at 07:00, 70 g at 12:00, 80 g at 19:00, eaten at 5 g/min, with CHO/CR boluses from
// Quest.csv) and basal insulin u2ss, CGM output every minute (43,201 rows per patient) and the
// Navigator sensor's noise (1-min sample time, sensor_params.csv) applied to it. One thread;
// rtol 1e-6, atol 1e-6 (state units; the states are mg, mg/kg, pmol/kg, U).
// Counter days_per_s_per_patient: simulated days per wall-clock second per patient.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "medtwin/cgm_sensor.h"
#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/parameter_table.h"
#include "medtwin/simulator.h"

namespace medtwin {
namespace {

constexpr int kDays = 30;
constexpr double kPmolPerU = 6000.0;

[[noreturn]] void Die(const Status& st) {
  std::cerr << "t1d_bench: " << st.ToString() << "\n";
  std::exit(1);
}

template <typename T>
T Get(Result<T> r) {
  if (!r.ok()) Die(r.status());
  return std::move(r).value();
}

struct Patient {
  std::vector<double> theta;
  Dataset regimen;
};

std::string Regimen(double basal_u_per_min, double cr_g_per_u) {
  const double end_min = kDays * 1440.0;
  std::ostringstream os;
  os.precision(12);
  os << "ID,TIME,EVID,CMT,AMT,RATE\n";
  os << "1,0,1,insulin," << basal_u_per_min * (end_min + 1) << "," << basal_u_per_min << "\n";
  const double at_min[3] = {420, 720, 1140}, carbs_g[3] = {45, 70, 80};
  for (int d = 0; d < kDays; ++d) {
    for (int k = 0; k < 3; ++k) {
      const double t = d * 1440.0 + at_min[k];
      os << "1," << t << ",1,meal," << carbs_g[k] << ",5\n";
      os << "1," << t << ",1,insulin," << carbs_g[k] / cr_g_per_u << ",0\n";
    }
  }
  return os.str();
}

struct Trial {
  std::unique_ptr<Model> model = Get(MakeModel("t1d_uvapadova"));
  std::vector<Patient> patients;
  CgmSensorOptions sensor;
  OutputRequest every_minute;

  Trial() {
    const std::string dir = std::string(MEDTWIN_SHARED_DATA) + "/t1d/";
    const ParameterTable table = Get(ParameterTable::ReadFile(dir + "vpatient_params.csv"));
    const ParameterTable quest = Get(ParameterTable::ReadFile(dir + "Quest.csv"));
    sensor = Get(CgmSensorOptionsFromTable(Get(ParameterTable::ReadFile(dir + "sensor_params.csv")),
                                           "Navigator"));
    for (const std::string& name : table.SetNames()) {
      Patient p;
      p.theta = Get(table.ParametersFor(model->spec(), name));
      const double basal =
          Get(table.Value(name, "u2ss")) * Get(table.Value(name, "BW")) / kPmolPerU;
      p.regimen = Get(ReadDataset(Regimen(basal, Get(quest.Value(name, "CR"))), *model));
      patients.push_back(std::move(p));
    }
    every_minute.observation_records = false;
    every_minute.times_h = CgmSampleTimes(sensor, 0.0, kDays * 1440.0);
  }
};

void BM_T1dTrial30x30(benchmark::State& state) {
  static Trial trial;
  SimOptions opt;
  opt.rtol = 1e-6;
  opt.atol = 1e-6;
  Simulator sim(*trial.model, opt);
  const int cgm = trial.model->spec().ObservableIndex("CGM");
  const int no = trial.model->num_observables();
  long steps = 0;
  double checksum = 0.0;
  for (auto _ : state) {
    for (size_t i = 0; i < trial.patients.size(); ++i) {
      const Patient& p = trial.patients[i];
      SimOutput out = Get(sim.Run(p.regimen, 0, trial.every_minute, {p.theta, {}}));
      std::vector<double> truth(out.rows());
      for (size_t r = 0; r < out.rows(); ++r) truth[r] = out.observables[r * no + cgm];
      CgmSensorOptions sensor = trial.sensor;
      sensor.seed = i + 1;
      const std::vector<double> readings = Get(MeasureCgm(sensor, out.time_h, truth));
      checksum += readings.back();
      steps += out.summary.steps;
    }
  }
  benchmark::DoNotOptimize(checksum);
  const double patient_days = double(state.iterations()) * trial.patients.size() * kDays;
  state.counters["days_per_s_per_patient"] =
      benchmark::Counter(patient_days, benchmark::Counter::kIsRate);
  state.counters["steps_per_patient"] =
      double(steps) / (double(state.iterations()) * trial.patients.size());
}
BENCHMARK(BM_T1dTrial30x30)->Unit(benchmark::kSecond)->UseRealTime()->MinTime(1.0);

}  // namespace
}  // namespace medtwin

BENCHMARK_MAIN();
