// SBML import: a model read from SBML Level 2/3 (libSBML) becomes a medtwin Model.
//
// States: species changed by reactions or events (as amounts), and species, compartments and
// parameters with rate rules or event assignments. Parameters (what --param sets): every
// constant SBML quantity and every state's initial value, named by SBML id, in the form the
// file declares them; local parameters are promoted to globals by libSBML. Observables: every
// species in its natural unit. Math is compiled once into a compact program (src/sbml/expr.h);
// libSBML's tree evaluator is never called in the right-hand side. Events and right-hand-side
// discontinuities use CVODES root finding (Model::Roots / EventState). docs/sbml.md has the
// details.
//
// Unsupported constructs (algebraic rules, fast reactions, delay(), rateOf of assigned
// quantities, the fbc/distrib/spatial/multi/arrays packages) are refused with kUnsupported
// naming the element id.
#ifndef MEDTWIN_SBML_H_
#define MEDTWIN_SBML_H_

#include <functional>
#include <memory>
#include <string>

#include "medtwin/model.h"
#include "medtwin/status.h"

namespace medtwin {

struct SbmlOptions {
  // Run libSBML's consistency checks (units checks excluded: slow and often noisy) and refuse
  // documents with errors.
  bool check_consistency = true;
  Status Validate() const { return Status::Ok(); }
};

// How to read a species.
enum class SbmlQuantity {
  kNatural,        // concentration, or amount when hasOnlySubstanceUnits; others: their value
  kAmount,         // species amount
  kConcentration,  // species amount / compartment size
};

// A value read from a simulated state: f(t, x, p).
using SbmlProbe = std::function<double(double t, const double* x, const double* p)>;

class SbmlModel : public Model {
 public:
  using Model::Model;
  // A probe for any species, compartment, parameter or species reference id. kNotFound for
  // unknown ids.
  virtual Result<SbmlProbe> Probe(const std::string& id, SbmlQuantity q) const = 0;
};

Result<std::unique_ptr<SbmlModel>> LoadSbmlFile(const std::string& path,
                                                const SbmlOptions& options = {});
Result<std::unique_ptr<SbmlModel>> LoadSbmlString(const std::string& xml,
                                                  const SbmlOptions& options = {});

}  // namespace medtwin

#endif  // MEDTWIN_SBML_H_
