#include "sim/directional.h"

#include <algorithm>
#include <cmath>

namespace medtwin {

void DirectionalStep::AddStates(int n, const double* x, const double* v, double atol) {
  if (v == nullptr) return;
  for (int i = 0; i < n; ++i) {
    Note(std::fabs(v[i]) / (std::fabs(x[i]) + atol));
  }
}

void DirectionalStep::AddValues(int n, const double* z, const double* v) {
  if (v == nullptr) return;
  for (int i = 0; i < n; ++i) {
    const double scale = z[i] != 0.0 ? std::fabs(z[i]) : 1.0;
    Note(std::fabs(v[i]) / scale);
  }
}

void DirectionalStep::Note(double ratio) {
  if (std::isfinite(ratio)) {
    max_ratio_ = std::max(max_ratio_, ratio);
  } else {
    finite_ = false;
  }
}

double DirectionalStep::Step() const {
  if (!finite_) return std::nan("");
  return max_ratio_ > 0.0 ? kDirectionalStep / max_ratio_ : 0.0;
}

void Perturb(int n, const double* z, const double* v, double e, double* plus, double* minus) {
  for (int i = 0; i < n; ++i) {
    const double d = v != nullptr ? e * v[i] : 0.0;
    plus[i] = z[i] + d;
    minus[i] = z[i] - d;
  }
}

}  // namespace medtwin
