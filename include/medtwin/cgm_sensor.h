// CGM sensor model: turns a simulated interstitial glucose trace (t1d_uvapadova observable CGM)
// into sensor readings with autocorrelated, non-Gaussian noise.
//
// Noise (the UVA/Padova S2008 sensor model as transcribed in DOMAIN.md section 4.1; parameters
// from sensor_params.csv): a driver e_k on a grid of knot_interval_min (15 min) follows
//   e_k = PACF * (e_{k-1} + n_k),   n_k ~ N(0, 1),   e_0 from its stationary law
//   N(0, PACF^2 / (1 - PACF^2));
// each knot's noise is the Johnson SU transform  eps_k = xi + lambda * sinh((e_k - gamma) / delta)
// (mg/dL); between knots the noise is a cubic (Catmull-Rom) interpolation of the eps_k; the reading
// is clip(true + eps(t), min, max). Calibration error is not modelled: sensor_params.csv has no
// parameter for it (docs/models/t1d_uvapadova.md).
//
// Deterministic: the same parameters, seed and times give the same readings (std::mt19937_64 and
// libstdc++'s std::normal_distribution).
#ifndef MEDTWIN_CGM_SENSOR_H_
#define MEDTWIN_CGM_SENSOR_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "medtwin/parameter_table.h"
#include "medtwin/status.h"

namespace medtwin {

struct CgmSensorOptions {
  double pacf = 0.7;             // autocorrelation factor of the noise driver per knot, [0, 1)
  double gamma = -0.5444;        // Johnson SU shape (location of the driver), any finite value
  double lambda = 15.9574;       // Johnson SU scale, mg/dL, > 0
  double delta = 1.6898;         // Johnson SU shape, > 0
  double xi = -5.47;             // Johnson SU location, mg/dL
  double sample_time_min = 3.0;  // minutes between readings, > 0
  double min_mg_per_dl = 39.0;   // readings are clipped to [min, max]
  double max_mg_per_dl = 600.0;
  double knot_interval_min = 15.0;  // noise driver grid, min, > 0
  uint64_t seed = 1;
  Status Validate() const;
};

// Options from row `sensor_name` (e.g. "Dexcom") of a table with columns PACF, gamma, lambda,
// delta, xi, sample_time, min, max (sensor_params.csv); errors as ParameterTable::Value.
Result<CgmSensorOptions> CgmSensorOptionsFromTable(const ParameterTable& table,
                                                   const std::string& sensor_name);

// Reading times start, start + sample_time, ... <= end (minutes).
std::vector<double> CgmSampleTimes(const CgmSensorOptions& options, double start_min,
                                   double end_min);

// Sensor readings (mg/dL) at time_min (ascending) of the true interstitial glucose
// true_mg_per_dl (same length, finite). Errors name the option or the index that is invalid.
Result<std::vector<double>> MeasureCgm(const CgmSensorOptions& options,
                                       std::span<const double> time_min,
                                       std::span<const double> true_mg_per_dl);

}  // namespace medtwin

#endif  // MEDTWIN_CGM_SENSOR_H_
