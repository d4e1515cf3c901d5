// Test-only helpers for the model library: a fixed-step RK4 integrator (the simulator is a
// separate module, so model tests integrate the right-hand side themselves) and helpers to
// build parameter vectors.
#ifndef MEDTWIN_SRC_MODEL_MODEL_TEST_UTIL_H_
#define MEDTWIN_SRC_MODEL_MODEL_TEST_UTIL_H_

#include <random>
#include <vector>

#include "medtwin/model.h"

namespace medtwin::testing {

// Typical values of every parameter, in spec order.
inline std::vector<double> TypicalParameters(const Model& m) {
  std::vector<double> p;
  for (const ParameterSpec& ps : m.spec().parameters) p.push_back(ps.typical);
  return p;
}

// Reference values of every covariate, in spec order.
inline std::vector<double> ReferenceCovariates(const Model& m) {
  std::vector<double> c;
  for (const CovariateSpec& cs : m.spec().covariates) c.push_back(cs.reference);
  return c;
}

// Typical values each multiplied by a random factor in [0.5, 2]: exercises the equations away from
// the defaults, where a swapped parameter index would show.
inline std::vector<double> RandomParameters(const Model& m, std::mt19937& rng) {
  std::uniform_real_distribution<double> factor(0.5, 2.0);
  std::vector<double> p = TypicalParameters(m);
  for (double& v : p) v *= factor(rng);
  return p;
}

inline std::vector<double> RandomState(const Model& m, std::mt19937& rng) {
  std::uniform_real_distribution<double> amount(0.0, 500.0);
  std::vector<double> x(m.num_states());
  for (double& v : x) v = amount(rng);
  return x;
}

// Integrates x from t0 over `duration_h` with classical RK4 and step `step_h` (in place).
inline void IntegrateRk4(const Model& m, const double* p, double t0_h, double duration_h,
                         double step_h, std::vector<double>& x) {
  const size_t n = x.size();
  std::vector<double> k1(n), k2(n), k3(n), k4(n), tmp(n);
  const int steps = static_cast<int>(duration_h / step_h + 0.5);
  double t = t0_h;
  for (int s = 0; s < steps; ++s) {
    m.Rhs(t, x.data(), p, k1.data());
    for (size_t i = 0; i < n; ++i) tmp[i] = x[i] + 0.5 * step_h * k1[i];
    m.Rhs(t + 0.5 * step_h, tmp.data(), p, k2.data());
    for (size_t i = 0; i < n; ++i) tmp[i] = x[i] + 0.5 * step_h * k2[i];
    m.Rhs(t + 0.5 * step_h, tmp.data(), p, k3.data());
    for (size_t i = 0; i < n; ++i) tmp[i] = x[i] + step_h * k3[i];
    m.Rhs(t + step_h, tmp.data(), p, k4.data());
    for (size_t i = 0; i < n; ++i) x[i] += step_h / 6.0 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    t += step_h;
  }
}

}  // namespace medtwin::testing

#endif  // MEDTWIN_SRC_MODEL_MODEL_TEST_UTIL_H_
