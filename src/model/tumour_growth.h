// Tumour growth inhibition, Simeoni et al. 2004. See docs/models/tgi_simeoni2004.md.
#ifndef MEDTWIN_SRC_MODEL_TUMOUR_GROWTH_H_
#define MEDTWIN_SRC_MODEL_TUMOUR_GROWTH_H_

#include <memory>

#include "medtwin/model.h"
#include "medtwin/status.h"

namespace medtwin {

// Standalone model in the paper's units (time in days, tumour weight in g, concentration in
// ng/mL). States: 1 drug (plasma concentration, ng/mL, first-order loss KE; a dose is a rise in
// concentration), 2 cycling, 3 damaged1, 4 damaged2, 5 damaged3 (g). Parameters: LAMBDA0,
// LAMBDA1, K1, K2, W0, PSI, KE. Observables: TUMOR (total weight, g), C (ng/mL).
std::unique_ptr<Model> MakeTgiSimeoni2004();

// The "+simeoni" link: the tumour states driven by CP (mg/L) of `pk`, whose time unit must be h.
// Its rate constants are per hour and K2 is per mg/L (see the methodology page for the
// conversion from the paper's units). Errors (kUnsupported): no CP in mg/L, time not in h.
Result<std::unique_ptr<Model>> MakeSimeoniLinkedModel(std::unique_ptr<Model> pk);

}  // namespace medtwin

#endif  // MEDTWIN_SRC_MODEL_TUMOUR_GROWTH_H_
