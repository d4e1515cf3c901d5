// Pharmacodynamic links that attach to any model exposing an observable "CP" in mg/L.
// See docs/models/pd-links.md.
#ifndef MEDTWIN_SRC_MODEL_PD_MODELS_H_
#define MEDTWIN_SRC_MODEL_PD_MODELS_H_

#include <memory>
#include <span>
#include <string>

#include "medtwin/model.h"
#include "medtwin/status.h"

namespace medtwin {

// kEmax: direct (sigmoid) Emax effect, observable EFFECT, no extra state.
// kIrm1..kIrm4: Jusko indirect response models I-IV, extra state "response", observable RESPONSE.
// kSimeoni: Simeoni 2004 tumour growth inhibition, four tumour states, observable TUMOR
// (model/tumour_growth.h).
enum class PdLink { kEmax, kIrm1, kIrm2, kIrm3, kIrm4, kSimeoni };
const char* ToString(PdLink link);                         // "emax", "irm1", ..., "simeoni"
Result<PdLink> PdLinkFromString(const std::string& name);  // case-insensitive; NotFound if unknown

// The largest number of observables the wrapped model may have: the PD right-hand side reads CP
// through the PK model's Observe into a fixed stack buffer, so it does not allocate.
inline constexpr int kMaxPkObservables = 16;

// Index of the observable CP of `pk`, checked as every PD link needs it: present, in mg/L, and
// at most kMaxPkObservables observables. kUnsupported names the model and `link` otherwise.
Result<int> PlasmaConcentrationIndex(const Model& pk, const std::string& link);

// Base of the models that append a subsystem to a PK model (PD links, the Simeoni link): the PK
// model's states, parameters and observables come first. Individualization is the PK model's
// (the appended parameters carry no variability or covariates), then the bounds are checked.
class PkLinkedModel : public Model {
 public:
  PkLinkedModel(ModelSpec spec, std::unique_ptr<Model> pk, int cp_index);
  Status Individualize(std::span<const double> theta, std::span<const double> eta,
                       std::span<const double> covariates, std::span<double> out) const override;

 protected:
  // The PK model's CP at (t, x, p), unclamped.
  double PkConcentration(double t, const double* x, const double* p) const;

  std::unique_ptr<Model> pk_;
  int cp_index_;
  int n_pk_states_;
  int n_pk_params_;
  int n_pk_observables_;
};

// Wraps `pk` with a PD link. The result is named "<pk name>+<link>"; its states, parameters,
// covariates, observables and variability are the PK model's followed by the link's.
// Errors: `pk` has no observable CP, CP is not in mg/L, too many observables, or the combined
// spec does not validate (e.g. a PK parameter named like a PD parameter).
Result<std::unique_ptr<Model>> MakePdLinkedModel(std::unique_ptr<Model> pk, PdLink link);

}  // namespace medtwin

#endif  // MEDTWIN_SRC_MODEL_PD_MODELS_H_
