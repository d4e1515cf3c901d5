#include "medtwin/cgm_sensor.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

namespace medtwin {
namespace {

Status Bad(const char* name, double v, const char* expected) {
  std::ostringstream os;
  os << "CGM sensor option " << name << "=" << v << ": expected " << expected;
  return Status::Invalid(os.str());
}

// Catmull-Rom cubic through the knots y[k-1..k+2] at fraction s in [0, 1] of [k, k+1].
double CatmullRom(double y0, double y1, double y2, double y3, double s) {
  return 0.5 * (2.0 * y1 + (-y0 + y2) * s + (2.0 * y0 - 5.0 * y1 + 4.0 * y2 - y3) * s * s +
                (-y0 + 3.0 * y1 - 3.0 * y2 + y3) * s * s * s);
}

}  // namespace

Status CgmSensorOptions::Validate() const {
  if (!(pacf >= 0.0 && pacf < 1.0)) return Bad("PACF", pacf, "0 <= PACF < 1");
  if (!std::isfinite(gamma)) return Bad("gamma", gamma, "a finite number");
  if (!(lambda > 0.0 && std::isfinite(lambda))) return Bad("lambda", lambda, "lambda > 0");
  if (!(delta > 0.0 && std::isfinite(delta))) return Bad("delta", delta, "delta > 0");
  if (!std::isfinite(xi)) return Bad("xi", xi, "a finite number");
  if (!(sample_time_min > 0.0 && std::isfinite(sample_time_min))) {
    return Bad("sample_time", sample_time_min, "sample_time > 0 min");
  }
  if (!(knot_interval_min > 0.0 && std::isfinite(knot_interval_min))) {
    return Bad("knot_interval", knot_interval_min, "knot_interval > 0 min");
  }
  if (!(std::isfinite(min_mg_per_dl) && std::isfinite(max_mg_per_dl) &&
        min_mg_per_dl < max_mg_per_dl)) {
    return Bad("min", min_mg_per_dl, "finite min < max");
  }
  return Status::Ok();
}

Result<CgmSensorOptions> CgmSensorOptionsFromTable(const ParameterTable& table,
                                                   const std::string& sensor_name) {
  CgmSensorOptions o;
  struct Field {
    const char* column;
    double* value;
  };
  const Field fields[] = {{"PACF", &o.pacf},
                          {"gamma", &o.gamma},
                          {"lambda", &o.lambda},
                          {"delta", &o.delta},
                          {"xi", &o.xi},
                          {"sample_time", &o.sample_time_min},
                          {"min", &o.min_mg_per_dl},
                          {"max", &o.max_mg_per_dl}};
  for (const Field& f : fields) {
    Result<double> v = table.Value(sensor_name, f.column);
    if (!v.ok()) return v.status();
    *f.value = *v;
  }
  MEDTWIN_RETURN_IF_ERROR(o.Validate().WithContext(table.source() + " sensor " + sensor_name));
  return o;
}

std::vector<double> CgmSampleTimes(const CgmSensorOptions& options, double start_min,
                                   double end_min) {
  std::vector<double> t;
  for (long k = 0;; ++k) {
    const double tk = start_min + k * options.sample_time_min;
    if (tk > end_min + 1e-9 * options.sample_time_min) break;
    t.push_back(tk);
  }
  return t;
}

Result<std::vector<double>> MeasureCgm(const CgmSensorOptions& options,
                                       std::span<const double> time_min,
                                       std::span<const double> true_mg_per_dl) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  if (time_min.size() != true_mg_per_dl.size()) {
    return Status::Invalid("MeasureCgm: " + std::to_string(time_min.size()) + " times but " +
                           std::to_string(true_mg_per_dl.size()) + " glucose values");
  }
  for (size_t i = 0; i < time_min.size(); ++i) {
    if (!std::isfinite(time_min[i]) || (i > 0 && time_min[i] < time_min[i - 1])) {
      return Status::Invalid("MeasureCgm: time[" + std::to_string(i) +
                             "] is not finite or decreases");
    }
    if (!std::isfinite(true_mg_per_dl[i])) {
      return Status::Invalid("MeasureCgm: glucose[" + std::to_string(i) + "] is not finite");
    }
  }
  if (time_min.empty()) return std::vector<double>{};
  // Knots t0 + k*h for k = -1 .. K+2 cover every reading with the four points Catmull-Rom needs.
  const double t0 = time_min.front(), h = options.knot_interval_min;
  const long knots = static_cast<long>(std::floor((time_min.back() - t0) / h)) + 4;
  std::mt19937_64 rng(options.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  const double phi = options.pacf;
  double e = normal(rng) * phi / std::sqrt(1.0 - phi * phi);  // stationary start
  std::vector<double> eps(knots);
  for (long k = 0; k < knots; ++k) {
    if (k > 0) e = phi * (e + normal(rng));
    eps[k] = options.xi + options.lambda * std::sinh((e - options.gamma) / options.delta);
  }
  std::vector<double> out(time_min.size());
  for (size_t i = 0; i < time_min.size(); ++i) {
    const double u = (time_min[i] - t0) / h;  // knot index eps[k + 1] sits at t0 + k*h
    const long k = std::min(static_cast<long>(std::floor(u)), knots - 4);
    const double s = u - k;
    const double noise = CatmullRom(eps[k], eps[k + 1], eps[k + 2], eps[k + 3], s);
    out[i] = std::clamp(true_mg_per_dl[i] + noise, options.min_mg_per_dl, options.max_mg_per_dl);
  }
  return out;
}

}  // namespace medtwin
