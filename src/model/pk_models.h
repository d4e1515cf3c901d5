// Generic compartmental PK models (structural; typical values illustrative). See
// docs/models/pk-compartment.md. Units: amounts mg, time h, volumes L, concentrations mg/L.
#ifndef MEDTWIN_SRC_MODEL_PK_MODELS_H_
#define MEDTWIN_SRC_MODEL_PK_MODELS_H_

#include <memory>

#include "medtwin/model.h"

namespace medtwin {

// First-order absorption into a central compartment with linear elimination and 0, 1 or 2
// peripheral compartments. States (NONMEM ADVAN2/4/12 numbering): 1 depot, 2 central,
// 3 periph1, 4 periph2. Parameters: CL, V[, Q, V2][, Q3, V3], KA.
std::unique_ptr<Model> MakePk1Cmt();
std::unique_ptr<Model> MakePk2Cmt();
std::unique_ptr<Model> MakePk3Cmt();

// Depot and central compartment with Michaelis-Menten elimination VMAX*C/(KM + C).
// States: 1 depot, 2 central. Parameters: VMAX, KM, V, KA. Nonlinear.
std::unique_ptr<Model> MakePk1CmtMm();

}  // namespace medtwin

#endif  // MEDTWIN_SRC_MODEL_PK_MODELS_H_
