// Test-only helpers for forward sensitivities: central differences of simulations, and a model
// with between-subject variability added to parameters that have none.
#ifndef MEDTWIN_SRC_SIM_SENSITIVITY_TEST_UTIL_H_
#define MEDTWIN_SRC_SIM_SENSITIVITY_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"

namespace medtwin::testing {

// d(observable)/d(eta_k) by central differences of two simulations per eta, in the layout of
// SimOutput::observable_sensitivities. Step 1e-4 on the log scale: truncation error ~1e-9
// relative, the solver's (rtol 1e-12) ~1e-8 after division by the step h.
inline std::vector<double> FiniteDifferences(const Model& m, const Dataset& d,
                                             const OutputRequest& req,
                                             const std::vector<double>& eta, SimPath path,
                                             double h = 1e-4) {
  SimOptions tight;
  tight.rtol = 1e-12;
  tight.atol = 1e-14;
  tight.path = path;
  Simulator sim(m, tight);
  const int ne = static_cast<int>(eta.size()), no = m.num_observables();
  std::vector<double> fd;
  std::vector<std::vector<double>> up(ne), down(ne);
  for (int k = 0; k < ne; ++k) {
    std::vector<double> e = eta;
    e[k] = eta[k] + h;
    auto a = sim.Run(d, 0, req, {{}, e});
    e[k] = eta[k] - h;
    auto b = sim.Run(d, 0, req, {{}, e});
    EXPECT_TRUE(a.ok() && b.ok()) << (a.ok() ? b.status() : a.status()).ToString();
    if (!a.ok() || !b.ok()) return {};
    up[k] = a->observables;
    down[k] = b->observables;
  }
  const size_t rows = up.empty() ? 0 : up[0].size() / no;
  fd.resize(rows * ne * no);
  for (size_t r = 0; r < rows; ++r) {
    for (int k = 0; k < ne; ++k) {
      for (int j = 0; j < no; ++j) {
        fd[(r * ne + k) * no + j] = (up[k][r * no + j] - down[k][r * no + j]) / (2.0 * h);
      }
    }
  }
  return fd;
}

// Test-only: a model with between-subject variability added (t1d_uvapadova and SBML files declare
// none), P = Individualize(theta) * exp(eta) on the listed parameters; everything else forwarded.
inline ModelSpec SpecWith(ModelSpec spec, std::vector<std::string> parameters) {
  const size_t n = parameters.size();
  spec.variability = {std::move(parameters), std::vector<double>(n * n, 0.0)};
  for (size_t i = 0; i < n; ++i) spec.variability.omega[i * (n + 1)] = 0.1;
  return spec;
}

class WithVariability final : public Model {
 public:
  WithVariability(std::unique_ptr<Model> inner, std::vector<std::string> parameters)
      : Model(SpecWith(inner->spec(), std::move(parameters))), inner_(std::move(inner)) {}
  Status Individualize(std::span<const double> theta, std::span<const double> eta,
                       std::span<const double> covariates, std::span<double> out) const override {
    MEDTWIN_RETURN_IF_ERROR(inner_->Individualize(theta, {}, covariates, out));
    for (size_t j = 0; j < eta.size(); ++j) {
      out[spec().ParameterIndex(spec().variability.parameters[j])] *= std::exp(eta[j]);
    }
    return Status::Ok();
  }
  void InitialState(const double* p, double* x) const override { inner_->InitialState(p, x); }
  void Rhs(double t, const double* x, const double* p, double* dxdt) const override {
    inner_->Rhs(t, x, p, dxdt);
  }
  void Observe(double t, const double* x, const double* p, double* y) const override {
    inner_->Observe(t, x, p, y);
  }
  void OnDoseStart(double t, int state, double amount, double rate, const double* p,
                   double* x) const override {
    inner_->OnDoseStart(t, state, amount, rate, p, x);
  }
  int num_roots() const override { return inner_->num_roots(); }
  void Roots(double t, const double* x, const double* p, double* g) const override {
    inner_->Roots(t, x, p, g);
  }
  std::unique_ptr<EventState> NewEventState() const override { return inner_->NewEventState(); }
  bool LinearMatrix(const double* p, double* a) const override {
    return inner_->LinearMatrix(p, a);
  }

 private:
  std::unique_ptr<Model> inner_;
};

}  // namespace medtwin::testing

#endif  // MEDTWIN_SRC_SIM_SENSITIVITY_TEST_UTIL_H_
