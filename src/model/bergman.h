// Bergman minimal model of glucose and insulin for the intravenous glucose tolerance test.
// See docs/models/bergman_minimal.md.
#ifndef MEDTWIN_SRC_MODEL_BERGMAN_H_
#define MEDTWIN_SRC_MODEL_BERGMAN_H_

#include <memory>

#include "medtwin/model.h"

namespace medtwin {

// States: 1 glucose G (mg/dL), 2 action X (remote insulin action, 1/min), 3 insulin I (uU/mL).
// Parameters: GB, IB, P1, P2, P3, N, H, GAMMA. Time in min. The initial state is the basal state
// (GB, 0, IB); an IVGTT is a glucose dose (a rise in mg/dL) at TIME 0.
std::unique_ptr<Model> MakeBergmanMinimal();

// Minimal-model indices from individual parameters p (spec order of bergman_minimal):
// glucose effectiveness SG = P1 (1/min) and insulin sensitivity SI = P3/P2 (1/min per uU/mL).
double GlucoseEffectiveness(const double* p);
double InsulinSensitivity(const double* p);

}  // namespace medtwin

#endif  // MEDTWIN_SRC_MODEL_BERGMAN_H_
