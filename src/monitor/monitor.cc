#include "medtwin/monitor.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace medtwin {

Status MonitorOptions::Validate() const {
  if (!(outlier_z > 0.0)) return Status::Invalid("outlier_z must be > 0");
  if (!(cusum_k >= 0.0)) return Status::Invalid("cusum_k must be >= 0");
  if (!(cusum_h > 0.0)) return Status::Invalid("cusum_h must be > 0");
  return Status::Ok();
}

Result<double> CusumDecisionInterval(double k, double run_length) {
  if (!(k >= 0.0) || !std::isfinite(k)) return Status::Invalid("cusum_k must be >= 0");
  if (!(run_length > 1.0) || !std::isfinite(run_length)) {
    return Status::Invalid("in-control run length must be > 1 observation");
  }
  auto arl = [k](double b) {
    if (k == 0.0) return b * b;
    const double x = 2.0 * k * b;
    return (std::expm1(x) - x) / (2.0 * k * k);
  };
  double lo = 0.0, hi = 1.0;  // arl increases with b
  while (arl(hi) < run_length) hi *= 2.0;
  for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (arl(mid) < run_length ? lo : hi) = mid;
  }
  const double h = 0.5 * (lo + hi) - 1.166;
  if (!(h > 0.0)) {
    return Status::Invalid("in-control run length " + std::to_string(run_length) +
                           " is too short for a CUSUM with k = " + std::to_string(k));
  }
  return h;
}

const char* ToString(AlertKind k) {
  switch (k) {
    case AlertKind::kDriftUp:
      return "drift-up";
    case AlertKind::kDriftDown:
      return "drift-down";
    default:
      return "outlier";
  }
}

ResidualMonitor::ResidualMonitor(MonitorOptions options, int num_observables)
    : options_(options), sums_(2 * static_cast<size_t>(std::max(num_observables, 1)), 0.0) {}

std::vector<Alert> ResidualMonitor::Observe(double time, int observable, double z, bool rejected) {
  std::vector<Alert> alerts;
  if (std::abs(z) > options_.outlier_z) {
    alerts.push_back({time, observable, AlertKind::kOutlier, z});
  }
  if (rejected || observable < 0 || 2 * static_cast<size_t>(observable) >= sums_.size()) {
    return alerts;
  }
  double& up = sums_[2 * observable];
  double& down = sums_[2 * observable + 1];
  up = std::max(0.0, up + z - options_.cusum_k);
  down = std::max(0.0, down - z - options_.cusum_k);
  if (up > options_.cusum_h) {
    alerts.push_back({time, observable, AlertKind::kDriftUp, up});
    up = 0.0;
  }
  if (down > options_.cusum_h) {
    alerts.push_back({time, observable, AlertKind::kDriftDown, down});
    down = 0.0;
  }
  return alerts;
}

Status ResidualMonitor::set_sums(std::vector<double> sums) {
  if (sums.size() != sums_.size()) {
    return Status::Invalid("monitor: expected " + std::to_string(sums_.size()) + " CUSUM sums");
  }
  for (double s : sums) {
    if (!(s >= 0.0)) return Status::Invalid("monitor: CUSUM sums must be >= 0");
  }
  sums_ = std::move(sums);
  return Status::Ok();
}

}  // namespace medtwin
