// Within-host viral dynamics: target-cell-limited model with an eclipse phase (Baccam et al. 2006,
// influenza A). See docs/models/viral_baccam2006.md.
#ifndef MEDTWIN_SRC_MODEL_VIRAL_H_
#define MEDTWIN_SRC_MODEL_VIRAL_H_

#include <memory>

#include "medtwin/model.h"

namespace medtwin {

// States: 1 target, 2 eclipse, 3 infected (cells), 4 virus (TCID50/mL). Time in days.
// Parameters: T0, V0, BETA, K, DELTA, P, C, EPS_BETA, EPS_P, TRX. From TRX on, an antiviral
// blocks infection by EPS_BETA and virus production by EPS_P (fractions in [0, 1]).
std::unique_ptr<Model> MakeViralBaccam2006();

// Basic reproductive number R0 = BETA*P*T0/(C*DELTA) of individual parameters p (spec order),
// without treatment.
double ViralR0(const double* p);

}  // namespace medtwin

#endif  // MEDTWIN_SRC_MODEL_VIRAL_H_
