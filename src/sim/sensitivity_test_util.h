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

// Vancomycin 1 g over 1 h q12h for 2 days (80 kg, 60 years, male) with levels at 2-23.5 h and,
// after serum creatinine rises from 1.0 to 2.2 mg/dL on day 2, at 25-47 h: CL's covariate
// factor and dp/deta change at a record.
inline std::string VancomycinCourseWithRisingCreatinine() {
  std::string csv = "ID,TIME,EVID,AMT,RATE,II,ADDL,WT,AGE,SEX,SCR\n";
  csv += "1,0,1,1000,1000,12,3,80,60,0,1.0\n";
  for (double t : {2.0, 11.5, 13.0, 23.5}) {
    csv += "1," + std::to_string(t) + ",0,0,0,0,0,80,60,0,1.0\n";
  }
  for (double t : {25.0, 30.0, 35.5, 37.0, 47.0}) {
    csv += "1," + std::to_string(t) + ",0,0,0,0,0,80,60,0,2.2\n";
  }
  return csv;
}

// A one-compartment oral model's spec (states depot and central, observable CP = central / V):
// `kinetics` (their indices in Rhs), then F1, ALAG1, R2 and D2 (NONMEM names: bioavailability,
// lag, modelled rate and duration), with between-subject variability on `first_eta`, V and the
// four dose modifiers.
inline ModelSpec ModifierSpec(std::string name, std::vector<ParameterSpec> kinetics,
                              std::string first_eta) {
  ModelSpec s;
  s.name = std::move(name);
  s.citation = "illustrative (test model)";
  s.states = {{"depot", "mg", "", true}, {"central", "mg", "", true}};
  s.parameters = std::move(kinetics);
  s.parameters.insert(s.parameters.end(), {{"F1", "1", 0.6, 0.0, kInf, "", ""},
                                           {"ALAG1", "h", 0.75, 0.0, kInf, "", ""},
                                           {"R2", "mg/h", 120.0, 1e-9, kInf, "", ""},
                                           {"D2", "h", 1.5, 1e-9, kInf, "", ""}});
  s.observables = {{"CP", "mg/L", "", ResidualError{ErrorModel::kAdditive, 0.1, 0.0, 0.0}}};
  s.variability = {{std::move(first_eta), "V", "F1", "ALAG1", "R2", "D2"}, {}};
  s.variability.omega.assign(36, 0.0);
  for (int i = 0; i < 6; ++i) s.variability.omega[i * 7] = 0.1;
  return s;
}

// A model with random effects on `parameters` (variance 0.1 each; t1d_uvapadova and SBML files
// declare none), P = Individualize(theta) * exp(eta), through WithVariability.
inline std::unique_ptr<Model> EtasOn(std::unique_ptr<Model> inner,
                                     std::vector<std::string> parameters) {
  const size_t n = parameters.size();
  Variability v{std::move(parameters), std::vector<double>(n * n, 0.0)};
  for (size_t i = 0; i < n; ++i) v.omega[i * (n + 1)] = 0.1;
  auto m = WithVariability(std::move(inner), std::move(v));
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

}  // namespace medtwin::testing

#endif  // MEDTWIN_SRC_SIM_SENSITIVITY_TEST_UTIL_H_
