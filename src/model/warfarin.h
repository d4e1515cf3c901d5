// Warfarin PK/PD, Hamberg et al. 2007. See docs/models/warfarin_hamberg2007.md.
#ifndef MEDTWIN_SRC_MODEL_WARFARIN_H_
#define MEDTWIN_SRC_MODEL_WARFARIN_H_

#include <memory>

#include "medtwin/model.h"

namespace medtwin {

// S-warfarin two-compartment oral PK with CYP2C9 genotype and age on clearance, and INR through
// an inhibitory Emax on two transit chains (6 + 1 compartments) with VKORC1 genotype on EC50.
// States: 1 depot, 2 central, 3 periph (mg of S-warfarin), 4-9 chain1_1..chain1_6, 10 chain2
// (fractions of normal clotting-factor activity, 1 at baseline). Time in h. Covariates: AGE
// (years), CYP2C9 (genotype code 11, 12, 13, 22, 23, 33), VKORC1 (-1639 A alleles 0, 1, 2),
// INR0 (baseline INR, optional). Observables: CP (mg/L), INR.
std::unique_ptr<Model> MakeWarfarinHamberg2007();

}  // namespace medtwin

#endif  // MEDTWIN_SRC_MODEL_WARFARIN_H_
