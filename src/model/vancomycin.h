// Vancomycin population PK models. See docs/models/vancomycin_goti2018.md.
#ifndef MEDTWIN_SRC_MODEL_VANCOMYCIN_H_
#define MEDTWIN_SRC_MODEL_VANCOMYCIN_H_

#include <memory>

#include "medtwin/model.h"

namespace medtwin {

// Goti et al. 2018: 2-compartment IV model for hospitalised adults with and without
// haemodialysis. States (NONMEM ADVAN3 numbering): 1 central, 2 periph. Parameters: CL, V1, V2,
// Q. Covariates: WT, AGE, SEX, SCR, DIAL (optional), CRCL (optional, may be missing).
std::unique_ptr<Model> MakeVancomycinGoti2018();

}  // namespace medtwin

#endif  // MEDTWIN_SRC_MODEL_VANCOMYCIN_H_
