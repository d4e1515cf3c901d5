#include "estimate/twin_experiment.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>

#include "medtwin/parameter_table.h"

namespace medtwin::twin_experiment {

std::unique_ptr<Model> Make(const char* name) { return std::move(MakeModel(name)).value(); }

std::vector<double> DrawEta(const ModelSpec& spec, std::mt19937_64* rng) {
  const int q = static_cast<int>(spec.variability.parameters.size());
  const Eigen::Map<const Eigen::MatrixXd> omega(spec.variability.omega.data(), q, q);
  const Eigen::MatrixXd l = omega.llt().matrixL();
  std::normal_distribution<double> normal;
  Eigen::VectorXd z(q);
  for (int i = 0; i < q; ++i) z(i) = normal(*rng);
  const Eigen::VectorXd e = l * z;
  return std::vector<double>(e.data(), e.data() + q);
}

TruePatient Truth(const Model& m, Dataset data, const std::vector<double>& eta,
                  const SimOptions& sim_options, const Hidden& hidden, std::mt19937_64* rng,
                  const CgmSensorOptions* sensor, const std::vector<double>& theta) {
  TruePatient truth;
  truth.eta = eta;
  if (!theta.empty()) {
    const ModelSpec& spec = m.spec();
    truth.eta.clear();
    for (const std::string& name : spec.variability.parameters) {
      const int i = spec.ParameterIndex(name);
      truth.eta.push_back(std::log(theta[i] / spec.parameters[i].typical));
    }
  }
  Simulator sim(m, sim_options);
  auto out = sim.Run(data, 0, {},
                     IndividualInput{theta, theta.empty() ? std::span<const double>(eta)
                                                          : std::span<const double>()});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (!out.ok()) return truth;
  std::normal_distribution<double> normal;
  const int n = m.num_states(), no = m.num_observables();
  std::vector<double> times, values;
  std::vector<int> observed;  // records of the observation rows, in output order
  for (size_t k = 0; k < out->rows(); ++k) {
    Record& rec = data.subjects[0].records[out->record[k]];
    if (rec.evid != Evid::kObservation) continue;  // e.g. the start row of a CV regimen
    const double f = out->observables[k * no + rec.observable];
    rec.dv = m.spec().observables[rec.observable].error.Observation(f, normal(*rng));
    rec.mdv = false;
    observed.push_back(out->record[k]);
    times.push_back(out->time_h[k]);
    values.push_back(f);
    truth.hidden.push_back(hidden(&out->states[k * n]));
  }
  if (sensor != nullptr) {
    CgmSensorOptions o = *sensor;
    o.seed = (*rng)();
    auto readings = MeasureCgm(o, times, values);
    EXPECT_TRUE(readings.ok()) << readings.status().ToString();
    for (size_t k = 0; k < observed.size() && readings.ok(); ++k) {
      data.subjects[0].records[observed[k]].dv = (*readings)[k];
    }
  }
  truth.data = std::move(data);
  return truth;
}

Dataset T1dRegimen(const Model& m, int days, double basal_u_per_min, double cr_g_per_u) {
  const ModelSpec& s = m.spec();
  const std::vector<double> p = s.TypicalValues();
  auto par = [&](const char* name) { return p[s.ParameterIndex(name)]; };
  // Basal delivery holding the default basal state: Rai = (m2 + m4) Ip - m1 Il (pmol/kg/min).
  const double rai = (par("m2") + par("m4")) * par("x0_6") - par("m1") * par("x0_10");
  if (basal_u_per_min == 0.0) basal_u_per_min = rai * par("BW") / 6000.0;
  const double end = days * kDayMin;
  std::ostringstream os;
  os.precision(12);
  os << "ID,TIME,EVID,CMT,AMT,RATE,DVID\n";
  os << "1,0,1,insulin," << basal_u_per_min * (end + 1.0) << "," << basal_u_per_min << ",.\n";
  const double meal_min[3] = {420, 720, 1140}, carbs_g[3] = {45, 70, 80};
  for (double t = 5.0; t <= end + 1e-9; t += 5.0) {
    for (int d = 0; d < days; ++d) {
      for (int k = 0; k < 3; ++k) {
        const double at = d * kDayMin + meal_min[k];
        if (at > t - 5.0 && at <= t) {
          os << "1," << at << ",1,meal," << carbs_g[k] << ",5,.\n";
          os << "1," << at << ",1,insulin," << carbs_g[k] / cr_g_per_u << ",0,.\n";
        }
      }
    }
    os << "1," << t << ",0,.,.,.,CGM\n";
  }
  auto d = ReadDataset(os.str(), m);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : Dataset{};
}

CgmSensorOptions CgmSensor(const char* name) {
  auto table =
      ParameterTable::ReadFile(std::string(MEDTWIN_SHARED_DATA) + "/t1d/sensor_params.csv");
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  if (!table.ok()) return {};
  auto o = CgmSensorOptionsFromTable(*table, name);
  EXPECT_TRUE(o.ok()) << o.status().ToString();
  return o.ok() ? *o : CgmSensorOptions{};
}

std::vector<CorrelatedError> CgmCorrelatedError() {
  const char* env = std::getenv("MEDTWIN_TWIN_CGM_CORRELATED");
  if (env == nullptr) return {};
  std::vector<double> v;
  std::istringstream in(env);
  for (std::string item; std::getline(in, item, ':');) {
    char* end = nullptr;
    v.push_back(std::strtod(item.c_str(), &end));
    EXPECT_TRUE(!item.empty() && *end == '\0')
        << "MEDTWIN_TWIN_CGM_CORRELATED=" << env << ": '" << item << "' is not a number";
  }
  EXPECT_TRUE(v.size() >= 2 && v.size() <= 4)
      << "MEDTWIN_TWIN_CGM_CORRELATED=" << env << ": expected FRACTION:TAU[:ORDER[:DAMPING]]";
  if (v.size() < 2 || v.size() > 4) return {};
  CorrelatedError c{"CGM", v[0], v[1]};
  if (v.size() > 2) c.order = static_cast<int>(v[2]);
  if (v.size() > 3) c.damping = v[3];
  return {c};
}

std::function<TruePatient(int p, std::mt19937_64* rng)> VirtualPatients(
    const Model& m, int days, const SimOptions& sim, const CgmSensorOptions* sensor) {
  const std::string dir = std::string(MEDTWIN_SHARED_DATA) + "/t1d/";
  const ParameterTable table = ParameterTable::ReadFile(dir + "vpatient_params.csv").value();
  const ParameterTable quest = ParameterTable::ReadFile(dir + "Quest.csv").value();
  std::vector<std::string> names;
  for (const char* group : {"adult", "adolescent", "child"}) {
    for (const std::string& name : table.SetNames()) {
      if (name.rfind(std::string(group) + "#", 0) == 0) names.push_back(name);
    }
  }
  const Model* model = &m;
  const ModelSpec& s = m.spec();
  const int gp_index = s.StateIndex("Gp"), vg_index = s.ParameterIndex("Vg");
  std::optional<CgmSensorOptions> noise;
  if (sensor != nullptr) noise = *sensor;
  return [=](int p, std::mt19937_64* rng) {
    const std::string& name = names.at(p);
    const std::vector<double> theta = table.ParametersFor(model->spec(), name).value();
    const double vg_true = theta[vg_index];  // the patient's own glucose volume
    const Hidden hidden = [=](const double* state) { return state[gp_index] / vg_true; };
    const double basal =
        table.Value(name, "u2ss").value() * table.Value(name, "BW").value() / 6000.0;
    const Dataset regimen = T1dRegimen(*model, days, basal, quest.Value(name, "CR").value());
    std::printf("  true patient %s\n", name.c_str());
    return Truth(*model, regimen, {}, sim, hidden, rng, noise ? &*noise : nullptr, theta);
  };
}

Dataset CvRegimen(const Model& m, double end_s, double bleed_ml, double bleed_start_s,
                  double bleed_end_s, CvTiming timing) {
  std::ostringstream os;
  os.precision(12);
  os << "ID,TIME,EVID,CMT,AMT,RATE,DVID\n";
  // The run starts at the first record: at 0 (an EVID 2 row without effect) for simultaneous
  // readings, so that the first is a minute into the run.
  if (timing == CvTiming::kSimultaneous) os << "1,0,2,.,.,.,.\n";
  for (int t = 30; t <= end_s; t += 30) {
    if (timing == CvTiming::kStaggered) {
      os << "1," << t << ",0,.,.,.," << (t % 60 == 0 ? "MAP" : "HR") << "\n";
    } else if (t % 60 == 0) {
      os << "1," << t << ",0,.,.,.,MAP\n1," << t << ",0,.,.,.,HR\n";
    }
    if (bleed_ml > 0.0 && t == bleed_start_s) {
      os << "1," << t << ",1,haemorrhage," << bleed_ml << ","
         << bleed_ml / (bleed_end_s - bleed_start_s) << ",.\n";
    }
  }
  auto d = ReadDataset(os.str(), m);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : Dataset{};
}

}  // namespace medtwin::twin_experiment
