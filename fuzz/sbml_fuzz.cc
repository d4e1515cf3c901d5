// libFuzzer target for the SBML importer (scripts/fuzz.sh builds and runs it).
//
// Any byte string must load into a model or give an error Status with a message (never an
// internal error); a loaded model's initial values and right-hand side must be computable.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "medtwin/sbml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string xml(reinterpret_cast<const char*>(data), size);
  medtwin::SbmlOptions options;
  auto model = medtwin::LoadSbmlString(xml, options);
  if (!model.ok()) {
    if (model.status().message().empty()) std::abort();
    if (model.status().code() == medtwin::StatusCode::kInternal) std::abort();
    return 0;
  }
  const medtwin::Model& m = **model;
  std::vector<double> theta, p(m.num_parameters()), x(m.num_states()), dx(m.num_states());
  for (const auto& ps : m.spec().parameters) theta.push_back(ps.typical);
  if (!m.Individualize(theta, {}, {}, p).ok()) return 0;
  m.InitialState(p.data(), x.data());
  m.Rhs(0.0, x.data(), p.data(), dx.data());
  std::vector<double> y(m.num_observables()), g(m.num_roots());
  m.Observe(0.0, x.data(), p.data(), y.data());
  if (!g.empty()) m.Roots(0.0, x.data(), p.data(), g.data());
  return 0;
}
