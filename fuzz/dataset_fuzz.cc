// libFuzzer target for the NONMEM dataset reader (scripts/fuzz.sh builds and runs it).
//
// Any byte string must give either an error Status whose message starts with the source name,
// or a Dataset that satisfies the reader's documented guarantees; anything else traps.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "medtwin/dataset.h"
#include "medtwin/model.h"

namespace {

using medtwin::Dataset;
using medtwin::Model;
using medtwin::ModelSpec;

// depot -> central <-> periph (not dosable); parameter D2; covariates WT (1-300 kg, optional or
// required) and ALB (may be missing).
ModelSpec FuzzSpec(bool strict) {
  ModelSpec spec;
  spec.name = strict ? "fuzz_strict" : "fuzz";
  spec.states = {
      {"depot", "mg", "", true}, {"central", "mg", "", true}, {"periph", "mg", "", false}};
  medtwin::ParameterSpec d2;
  d2.name = "D2";
  spec.parameters = {d2};
  spec.covariates = {{"WT", "kg", "", 70.0, strict, false, 1.0, 300.0},
                     {"ALB", "g/L", "", 40.0, false, true, 5.0, 80.0}};
  return spec;
}

class FuzzModel : public Model {
 public:
  explicit FuzzModel(bool strict) : Model(FuzzSpec(strict)) {}
  void Rhs(double, const double*, const double*, double* dxdt) const override {
    dxdt[0] = dxdt[1] = dxdt[2] = 0.0;
  }
  void Observe(double, const double*, const double*, double*) const override {}
};

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckRecord(const medtwin::Record& r, const Model& m) {
  const int n = m.num_states();
  Check(r.line > 0);
  Check(std::isfinite(r.time_h) && r.time_h >= 0);
  Check(static_cast<int>(r.evid) >= 0 && static_cast<int>(r.evid) <= 4);
  Check(r.state >= -1 && r.state < n);
  Check(!r.state_off || (r.evid == medtwin::Evid::kOther && r.state >= 0));
  Check(std::isfinite(r.amt) && r.amt >= 0);
  Check(std::isfinite(r.rate) && (r.rate >= 0 || r.rate == -1 || r.rate == -2));
  Check(std::isfinite(r.ii_h) && r.ii_h >= 0 && r.addl >= 0 && r.ss >= 0 && r.ss <= 2);
  Check(r.covariates.size() == static_cast<size_t>(m.num_covariates()));
  if (r.IsDose()) {
    Check(r.state >= 0 && m.spec().states[r.state].dosable);
    Check(r.amt > 0 || (r.ss != 0 && r.rate > 0));
    Check(r.addl == 0 || r.ii_h > 0);
  } else {
    Check(r.amt == 0 && r.rate == 0 && r.ii_h == 0 && r.addl == 0 && r.ss == 0);
  }
  if (r.evid != medtwin::Evid::kObservation) Check(r.mdv);
  if (!r.mdv) Check(std::isfinite(r.dv));
}

void CheckDataset(const Dataset& ds, const Model& m) {
  Check(!ds.subjects.empty());
  Check(ds.covariate_present.size() == static_cast<size_t>(m.num_covariates()));
  std::set<std::string> ids;
  int last_line = 0;
  for (const medtwin::Subject& s : ds.subjects) {
    Check(!s.id.empty() && ids.insert(s.id).second);  // contiguous: each id once
    Check(!s.records.empty());
    double last_time = 0.0;
    for (const medtwin::Record& r : s.records) {
      CheckRecord(r, m);
      Check(r.modifiers.size() == ds.modifier_columns.size());
      Check(r.line > last_line && r.time_h >= last_time);
      last_line = r.line;
      last_time = r.time_h;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const FuzzModel loose(false);
  static const FuzzModel strict(true);
  std::string_view text(reinterpret_cast<const char*>(data), size);
  medtwin::DatasetOptions options;
  options.source_name = "fuzz";
  options.max_records = 1000;
  for (const Model* m : {static_cast<const Model*>(&loose), static_cast<const Model*>(&strict)}) {
    medtwin::Result<Dataset> r = medtwin::ReadDataset(text, *m, options);
    if (r.ok()) {
      CheckDataset(*r, *m);
    } else {
      Check(r.status().code() != medtwin::StatusCode::kInternal);
      Check(r.status().message().rfind("fuzz", 0) == 0);
    }
  }
  return 0;
}
