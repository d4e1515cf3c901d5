// Dose resolution: what a NONMEM dose record means once the individual's parameters are known.
//
// A dose record names an amount, a target state and a RATE code; its bioavailability F, lag
// ALAG and (for RATE -1/-2) modelled rate R or duration D come from the record's own dataset
// columns (Fn, ALAGn, Rn, Dn) or, when absent, from model parameters of the same name
// (n = 1-based state number), else F = 1 and ALAG = 0.
#ifndef MEDTWIN_EVENTS_SCHEDULE_H_
#define MEDTWIN_EVENTS_SCHEDULE_H_

#include <array>
#include <vector>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/status.h"

namespace medtwin {

// A dose with its modifiers applied.
struct ResolvedDose {
  int state = 0;            // 0-based target
  double amount = 0.0;      // AMT * F (state units)
  double rate = 0.0;        // amount/h; 0 = bolus
  double duration_h = 0.0;  // infusion duration; 0 for a bolus; kInf for an SS infusion
  double lag_h = 0.0;
  double ii_h = 0.0;
  int addl = 0;
  int ss = 0;  // 0, 1, 2
  bool IsInfusion() const { return rate > 0.0; }
  // SS record with AMT = 0 and RATE > 0: a constant infusion at steady state.
  bool IsSteadyStateInfusion() const { return ss != 0 && duration_h == kInf; }
};

// Where each state's F/ALAG/R/D comes from: a dataset column or a model parameter (or neither).
class DoseModifierMap {
 public:
  DoseModifierMap(const ModelSpec& spec, const std::vector<ModifierColumn>& columns);
  // REQUIRES: record.IsDose(), record.state valid; p = the record's individual parameters.
  Result<ResolvedDose> Resolve(const Record& record, const double* p) const;

 private:
  struct Source {
    int column = -1;     // index into Record::modifiers
    int parameter = -1;  // index into the parameter vector
  };
  double Value(const Source& s, const Record& r, const double* p, double fallback) const;
  // Indexed [state][kind]; kinds in ModifierKind order.
  std::vector<std::array<Source, 4>> sources_;
};

}  // namespace medtwin

#endif  // MEDTWIN_EVENTS_SCHEDULE_H_
