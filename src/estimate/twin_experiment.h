// Test support for the twin experiments on the physiology models (issue 6): true patients drawn
// from a model's population prior (or given as a parameter set), simulated over a regimen and
// observed with the model's residual error or a CGM sensor model; the regimens of the T1D and
// cardiovascular experiments. Shared by src/estimate/assimilate_physiology_test.cc (filter
// calibration and tracking) and src/twin/twin_anomaly_test.cc (fault detection).
//
// Test-only code: failures are reported through gtest (EXPECT_*), not Status.
#ifndef MEDTWIN_ESTIMATE_TWIN_EXPERIMENT_H_
#define MEDTWIN_ESTIMATE_TWIN_EXPERIMENT_H_

#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "medtwin/assimilate.h"
#include "medtwin/cgm_sensor.h"
#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"

namespace medtwin::twin_experiment {

std::unique_ptr<Model> Make(const char* name);

// eta ~ N(0, omega) of the model's variability.
std::vector<double> DrawEta(const ModelSpec& spec, std::mt19937_64* rng);

// A hidden quantity computed from a model state (plasma glucose, blood volume).
using Hidden = std::function<double(const double* x)>;

// A "true" patient: the dataset with DVs simulated at eta plus the residual error of each
// observable, and the true hidden quantity at each observation (record order).
struct TruePatient {
  std::vector<double> eta;
  Dataset data;
  std::vector<double> hidden;
};

// With `sensor`, the DVs (all of one observable) are instead the readings of that CGM sensor
// model: autocorrelated, skewed noise (MeasureCgm), not the white residual error the filters
// assume.
// With `theta` (all parameters, spec order) the patient is that parameter set instead (eta 0),
// and its "true eta" is log(theta / typical) of the variability parameters.
// The residual errors are drawn in observation order, one normal per observation, so two
// regimens with the same observation rows and the same generator state get the same noise.
TruePatient Truth(const Model& m, Dataset data, const std::vector<double>& eta,
                  const SimOptions& sim_options, const Hidden& hidden, std::mt19937_64* rng,
                  const CgmSensorOptions* sensor = nullptr, const std::vector<double>& theta = {});

// T1D (t1d_uvapadova, minutes): the default subject's basal insulin as a constant infusion
// (or `basal_u_per_min`); meals of 45, 70 and 80 g at 07:00, 12:00 and 19:00 eaten at 5 g/min,
// each with a bolus of CHO / cr_g_per_u (the typical patient stays within 99-177 mg/dL at
// 10 g/U); CGM rows every 5 min from 5 min to `days` days.
constexpr double kDayMin = 1440.0;
Dataset T1dRegimen(const Model& m, int days, double basal_u_per_min = 0.0,
                   double cr_g_per_u = 10.0);

// A sensor of ../shared/data/t1d/sensor_params.csv by name (e.g. "Dexcom").
CgmSensorOptions CgmSensor(const char* name);

// The filters' correlated CGM error from
// MEDTWIN_TWIN_CGM_CORRELATED=FRACTION:TAU[:ORDER[:DAMPING]] (tau in min; CorrelatedError;
// docs/assimilation.md derives 0.95:42 for the Dexcom noise model as an OU, and the
// second-order values); none if unset.
std::vector<CorrelatedError> CgmCorrelatedError();

// The 30 virtual patients of ../shared/data/t1d/vpatient_params.csv (adults, adolescents,
// children, in that order) as true T1D patients over T1dRegimen(days) on their own basal rate
// (u2ss) and carbohydrate ratio (Quest.csv), every parameter and the initial state theirs (the
// filters' prior, the normal subject with four random effects, is then misspecified); white
// CGM residual error, or `sensor`. Hidden: plasma glucose with the patient's own Vg.
std::function<TruePatient(int p, std::mt19937_64* rng)> VirtualPatients(
    const Model& m, int days, const SimOptions& sim, const CgmSensorOptions* sensor = nullptr);

// When a cardiovascular regimen observes MAP and HR: kStaggered, MAP every minute from 1 min and
// HR every minute from 30 s (each observation at its own time; the run starts at the first, 30 s);
// kSimultaneous, both every minute from 1 min, MAP first (one monitor reading; the filters update
// both from one forecast, docs/assimilation.md), after a first record at 0 where the run starts.
enum class CvTiming { kStaggered, kSimultaneous };

// Cardiovascular (cvs_ursino1998, seconds): MAP and HR up to `end_s` as `timing` says. A bleed
// of `bleed_ml` at a constant rate over [bleed_start_s, bleed_end_s] (none if bleed_ml is 0),
// its record after the observations at bleed_start_s, which must be a multiple of 30.
Dataset CvRegimen(const Model& m, double end_s, double bleed_ml = 0.0, double bleed_start_s = 0.0,
                  double bleed_end_s = 0.0, CvTiming timing = CvTiming::kStaggered);

}  // namespace medtwin::twin_experiment

#endif  // MEDTWIN_ESTIMATE_TWIN_EXPERIMENT_H_
