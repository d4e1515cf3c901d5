// Type 1 diabetes, UVA/Padova style: the Dalla Man 2007 meal model without insulin secretion,
// with subcutaneous insulin and interstitial (CGM) glucose. See docs/models/t1d_uvapadova.md.
#ifndef MEDTWIN_SRC_MODEL_T1D_UVAPADOVA_H_
#define MEDTWIN_SRC_MODEL_T1D_UVAPADOVA_H_

#include <memory>

#include "medtwin/model.h"

namespace medtwin {

// Time unit: min. States (spec order; the first 13 follow the reference x0_1..x0_13 columns):
//   meal (g, the paper's Qsto1: doses of carbohydrate go here), Qsto2, Qgut (mg), Gp, Gt (mg/kg),
//   Ip (pmol/kg), X, I1, Id (pmol/L), Il (pmol/kg), insulin (U, the paper's Isc1: subcutaneous
//   insulin doses go here), Isc2 (pmol/kg), Gs (mg/kg), and emptied (mg), the carbohydrate
//   emptied from the stomach since the current meal began (resets at each meal dose; it gives
//   the meal size D of the gastric emptying rate).
// Observables: BG (plasma glucose, mg/dL), CGM (interstitial glucose without sensor noise,
// mg/dL), I (plasma insulin, pmol/L), Ra (glucose rate of appearance, mg/kg/min).
std::unique_ptr<Model> MakeT1dUvaPadova();

// Unit constants of the dosing boundary (the only conversions in the model).
inline constexpr double kT1dMgPerG = 1000.0;    // carbohydrate g -> mg
inline constexpr double kT1dPmolPerU = 6000.0;  // insulin U -> pmol (6 nmol per unit)

}  // namespace medtwin

#endif  // MEDTWIN_SRC_MODEL_T1D_UVAPADOVA_H_
