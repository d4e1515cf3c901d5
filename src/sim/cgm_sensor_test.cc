// The Dexcom CGM noise model (MeasureCgm) read at 5-min sampling as the OU-plus-white residual
// error the filters can carry (AssimilationOptions::correlated_errors): the numbers
// docs/assimilation.md ("Correlated residual error") derives, and what that model can and
// cannot whiten. The noise's moments at the knots are tested in
// src/model/t1d_uvapadova_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "medtwin/cgm_sensor.h"
#include "medtwin/model.h"
#include "medtwin/parameter_table.h"

namespace medtwin {
namespace {

constexpr double kStepMin = 5.0;  // the twin experiments' CGM interval

// Noise of the Dexcom row at 5-min sampling over `days` (a constant true glucose of 300 mg/dL,
// far from the clipping range), its mean removed.
std::vector<double> DexcomNoise(int days) {
  auto table =
      ParameterTable::ReadFile(std::string(MEDTWIN_SHARED_DATA) + "/t1d/sensor_params.csv");
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  auto o = CgmSensorOptionsFromTable(*table, "Dexcom");
  EXPECT_TRUE(o.ok()) << o.status().ToString();
  o->seed = 11;
  const size_t n = static_cast<size_t>(days * 1440 / kStepMin);
  std::vector<double> t(n), truth(n, 300.0);
  for (size_t i = 0; i < n; ++i) t[i] = kStepMin * (i + 1);
  std::vector<double> y = *MeasureCgm(*o, t, truth);
  double mean = 0.0;
  for (double& v : y) mean += (v -= 300.0) / n;
  for (double& v : y) v -= mean;
  return y;
}

double Autocorrelation(const std::vector<double>& y, size_t lag) {
  double c0 = 0.0, c = 0.0;
  for (size_t i = 0; i < y.size(); ++i) {
    c0 += y[i] * y[i];
    if (i >= lag) c += y[i] * y[i - lag];
  }
  return c / c0;
}

// Normal scores of the scalar Kalman filter of y = e + w, e an OU process of variance
// fraction s^2 and correlation time tau, w white of variance (1 - fraction) s^2 (fraction 0:
// white error, what the filters assumed before): the sensor part of the twin's innovations when
// glucose is known.
std::vector<double> Scores(const std::vector<double>& y, double s, double fraction, double tau) {
  const double a = fraction > 0.0 ? std::exp(-kStepMin / tau) : 0.0;
  const double vc = fraction * s * s, vw = (1.0 - fraction) * s * s;
  double m = 0.0, p = vc;
  std::vector<double> z;
  for (double v : y) {
    m *= a;
    p = a * a * p + (1.0 - a * a) * vc;
    const double innovation_var = p + vw, gain = p / innovation_var;
    z.push_back((v - m) / std::sqrt(innovation_var));
    m += gain * (v - m);
    p -= gain * p;
  }
  return z;
}

// Variance of 12-h sums of z divided by their length: 1 for white scores; what a CUSUM, which
// sums scores, reads.
double LongRunVariance(const std::vector<double>& z) {
  const size_t block = 144;
  double sum2 = 0.0;
  size_t blocks = 0;
  for (size_t b = 0; b + block <= z.size(); b += block, ++blocks) {
    double s = 0.0;
    for (size_t i = b; i < b + block; ++i) s += z[i];
    sum2 += s * s / block;
  }
  return sum2 / blocks;
}

// Alarms per day of a two-sided CUSUM (k 0.5, decision interval h, restarted after each alarm)
// on scores every 5 min: the twin's drift monitor (include/medtwin/monitor.h).
double CusumAlarmsPerDay(const std::vector<double>& z, double h) {
  double up = 0.0, down = 0.0;
  int alarms = 0;
  for (double v : z) {
    up = std::max(0.0, up + v - 0.5);
    down = std::max(0.0, down - v - 0.5);
    if (up > h || down > h) {
      ++alarms;
      up = down = 0.0;
    }
  }
  return alarms / (z.size() * kStepMin / 1440.0);
}

// Derivation of the Dexcom values of the correlated-error option (docs/assimilation.md):
// - tau: the driver's correlation time, -15 min / ln(PACF 0.7) = 42.05 min; at 5-min sampling
//   the noise's autocorrelation decays as exp(-lag / tau) from lag 30 min on (log-linear fit
//   over 30-90 min);
// - fraction: the noise variance averaged over the knot phase at 5-min sampling, over the
//   knots' 11.73^2 (the model's CGM residual variance): the interpolation between knots lowers
//   it to about 0.956 of it; the rest is left white.
// Then what the OU model fixes: the long-run variance of the scores (white scores: 1) falls from
// about 16 with the white error model to about 1; and what it does not: the noise is smooth
// between knots (lag-5-min correlation 0.96, an OU of 42 min says 0.89), so the one-step
// scores stay correlated (lag 1 about 0.8 for any OU). The default CUSUM (h 5) on these scores
// raises far fewer false alarms with the OU model than with white error; with the OU model
// that the likelihood prefers (fraction 0.999, tau 125 min: it matches the 5-min correlation)
// more than with 42 min (docs/assimilation.md).
TEST(CgmSensor, DexcomNoiseAtFiveMinutesAsAnOuProcess) {
  const std::vector<double> y = DexcomNoise(4000);
  const ModelSpec spec = std::move(MakeModel("t1d_uvapadova")).value()->spec();
  const double knot_sd = spec.observables[spec.ObservableIndex("CGM")].error.additive_sd;
  double var = 0.0;
  for (double v : y) var += v * v / y.size();
  const double fraction = var / (knot_sd * knot_sd);
  double sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0;
  int lags = 0;
  for (size_t lag = 6; lag <= 18; ++lag, ++lags) {
    const double x = kStepMin * lag, l = std::log(Autocorrelation(y, lag));
    sx += x;
    sy += l;
    sxx += x * x;
    sxy += x * l;
  }
  const double tau = -(lags * sxx - sx * sx) / (lags * sxy - sx * sy);
  const double driver_tau = -15.0 / std::log(0.7);

  const std::vector<double> z = Scores(y, knot_sd, 0.95, 42.0);
  const double ou = LongRunVariance(z), white = LongRunVariance(Scores(y, knot_sd, 0.0, 1.0));
  const std::vector<double> z_white = Scores(y, knot_sd, 0.0, 1.0);
  const std::vector<double> z_long = Scores(y, knot_sd, 0.999, 125.0);
  std::printf(
      "CUSUM h 5, false alarms a day: %.2f white, %.2f OU (0.95, 42 min), %.2f OU "
      "(0.999, 125 min); long-run variance of z with the latter %.2f\n",
      CusumAlarmsPerDay(z_white, 5.0), CusumAlarmsPerDay(z, 5.0), CusumAlarmsPerDay(z_long, 5.0),
      LongRunVariance(z_long));
  std::printf(
      "Dexcom noise at 5 min: variance %.3f of the knots', tau %.1f min (driver %.1f), "
      "lag-5-min correlation %.3f; long-run variance of z %.2f white, %.2f with OU "
      "(0.95, 42 min), lag-1 correlation of z %.2f\n",
      fraction, tau, driver_tau, Autocorrelation(y, 1), white, ou, Autocorrelation(z, 1));
  EXPECT_NEAR(fraction, 0.95, 0.02);
  EXPECT_NEAR(tau, driver_tau, 2.5);
  EXPECT_GT(Autocorrelation(y, 1), std::exp(-kStepMin / driver_tau) + 0.05);
  EXPECT_GT(white, 8.0);
  EXPECT_NEAR(ou, 1.0, 0.3);
  EXPECT_GT(Autocorrelation(z, 1), 0.6);
  EXPECT_LT(CusumAlarmsPerDay(z, 5.0), 0.2 * CusumAlarmsPerDay(z_white, 5.0));
  EXPECT_LT(CusumAlarmsPerDay(z, 5.0), CusumAlarmsPerDay(z_long, 5.0));
}

}  // namespace
}  // namespace medtwin
