// Closed-loop cardiovascular model: a pulsating, time-varying-elastance heart in a lumped
// systemic and pulmonary circulation under carotid baroreflex control (Ursino 1998).
// See docs/models/cvs_ursino1998.md.
#ifndef MEDTWIN_SRC_MODEL_CARDIOVASCULAR_H_
#define MEDTWIN_SRC_MODEL_CARDIOVASCULAR_H_

#include <memory>

#include "medtwin/model.h"

namespace medtwin {

// Time unit: s. Volumes in mL, flows in mL/s, pressures in mmHg.
// States (spec order): Vpa, Fpa, Vpp, Vpv, Vla, Vlv, Vsa, Fsa, Vper, Vsv, Vev (extrasplanchnic
// veins; fluid infusions go here), Vra, Vrv, haemorrhage (cumulative blood lost, mL; a dose into
// it removes that much blood from the extrasplanchnic veins, at RATE mL/s if given), Pafferent
// (filtered carotid sinus pressure), the eight effector changes dEmaxlv, dEmaxrv, dRsp, dRep,
// dVusv, dVuev, dTs, dTv, and phase (heart beats since the start, the integral of 1/T).
// Observables: HR (1/min), SBP, DBP, MAP, CVP (mmHg), CO (L/min), SV (mL) of the last completed
// beat, read from the run's state history; PSA (instantaneous arterial pressure, mmHg) and BV
// (circulating blood volume, mL).
std::unique_ptr<Model> MakeCvsUrsino1998();

}  // namespace medtwin

#endif  // MEDTWIN_SRC_MODEL_CARDIOVASCULAR_H_
