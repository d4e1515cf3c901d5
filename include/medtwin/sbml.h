// SBML import: a model read from SBML Level 2/3 (libSBML) becomes a medtwin Model.
//
// States are the amounts of species that change (reactions or rate rules) and the values of
// compartments/parameters with rate rules; parameters are the SBML global parameters and local
// parameters (promoted to "reactionId.parameterId"), plus one "init:<speciesId>" per species
// initial amount is NOT exposed (species initial values are overridable through --param with the
// species id). Math is compiled once into a compact program (src/sbml/expr.h); libSBML's tree
// evaluator is never called in the right-hand side.
//
// Unsupported constructs (algebraic rules, fast reactions, delay(), events in this version,
// the comp and fbc packages) are refused with kUnsupported naming the element id.
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
