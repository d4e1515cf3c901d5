// The observation map: which FHIR codes feed which model observable or covariate, and in which
// canonical unit. The table is data (data/fhir/observation-map.json, embedded at build time as
// ObservationMap::Default(); another table can be loaded at run time); docs/fhir.md describes
// its format.
//
// Each quantity (heart_rate, serum_creatinine, ...) lists
//  - codes: (system, code) pairs that measure it; a code may be marked as a real-data variant
//    (a pre-R4 LOINC code, a CIEL concept sent under the LOINC system) with the reason;
//  - units: accepted units with the linear conversion to the canonical unit,
//    canonical = (value + offset) * scale; a unit may be marked as a variant ("beats/minute");
//  - range: plausible values in the canonical unit (a value outside is an entry or unit error);
//  - feeds: the model observables and covariates it supplies ({"model", "observable"} or
//    {"model", "covariate"}), checked against the model registry by tests/fhir_map_test.cc.
// Panels (85354-9 blood pressure, ...) are codes whose components are read; they may be variants.
// Patient covariates map Patient elements (gender, birthDate) to covariates.
#ifndef MEDTWIN_FHIR_MAP_H_
#define MEDTWIN_FHIR_MAP_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "medtwin/fhir.h"
#include "medtwin/status.h"

namespace medtwin::fhir {

struct Feed {
  std::string model;       // registry name, e.g. "vancomycin_goti2018"
  std::string observable;  // one of observable / covariate is set
  std::string covariate;
};

struct CodeRule {
  std::string system, code, display;
  std::string variant;  // why this code is a variant; "" for a standard code
};

struct UnitRule {
  std::string unit;  // matched against Quantity.code, else Quantity.unit (exact, case-sensitive)
  double scale = 1.0;
  double offset = 0.0;  // canonical = (value + offset) * scale
  std::string variant;  // why this unit is a variant; "" for a UCUM unit
  std::string source;   // where the conversion factor comes from
};

struct MappedQuantity {
  std::string name;  // [a-z0-9_]+
  std::string description;
  std::string canonical_unit;   // UCUM
  double min = 0.0, max = 0.0;  // plausible range in canonical_unit
  std::vector<CodeRule> codes;
  std::vector<UnitRule> units;
  std::vector<Feed> feeds;
  std::string source;  // where the codes and units come from

  const UnitRule* FindUnit(std::string_view unit) const;  // nullptr if not accepted
  std::string UnitList() const;                           // "/min, 1/min, {beats}/min, ..."
};

struct PatientCovariate {
  std::string name;                      // "sex", "age"
  std::string element;                   // "gender" or "birthDate"
  std::string unit;                      // canonical unit ("1", "a")
  std::map<std::string, double> values;  // code -> number, for coded elements (gender)
  std::vector<Feed> feeds;
};

// A covariate value taken from a Patient.
struct CovariateValue {
  std::string name;  // PatientCovariate::name
  double value = 0.0;
  std::string unit;
};

class ObservationMap {
 public:
  struct Match {
    const MappedQuantity* quantity = nullptr;
    const CodeRule* code = nullptr;
  };

  // Parses and checks a table: known keys only, unique quantity names and codes, each unit once
  // per quantity, the canonical unit among the units with scale 1 and offset 0, finite scale > 0,
  // min < max, every feed naming a model and exactly one of observable/covariate.
  static Result<ObservationMap> FromJson(std::string_view json);
  static Result<ObservationMap> FromFile(const std::string& path);
  // The table of data/fhir/observation-map.json as built into the library.
  static const ObservationMap& Default();

  std::optional<Match> Find(std::string_view system, std::string_view code) const;
  const CodeRule* FindPanel(std::string_view system, std::string_view code) const;
  const MappedQuantity* FindQuantity(std::string_view name) const;
  const std::vector<MappedQuantity>& quantities() const { return quantities_; }
  const std::vector<CodeRule>& panels() const { return panels_; }
  const std::vector<PatientCovariate>& patient_covariates() const { return patient_; }

 private:
  std::vector<MappedQuantity> quantities_;
  std::vector<CodeRule> panels_;
  std::vector<PatientCovariate> patient_;
  // "system|code" -> (quantity index, code index)
  std::unordered_map<std::string, std::pair<int, int>> index_;
  void BuildIndex();
};

// Fills observation->normalized from the map. Issues (errors for unknown units, missing values,
// implausible values, a mapped code without subject or effective[x]; warnings for variants, or
// errors when `strict`) go to `outcome` with FHIRPath expressions rooted at "Observation".
// Observations with status entered-in-error or cancelled are not normalised (information issue).
void NormalizeObservation(const ObservationMap& map, bool strict, Observation* observation,
                          OperationOutcome* outcome);

// The patient covariates of the map for `patient` at time `at_epoch_ms` (age in years at that
// time). A covariate whose element is absent or has no numeric value (gender "unknown") is left
// out. Errors: a birth date after `at_epoch_ms`.
Result<std::vector<CovariateValue>> PatientCovariates(const ObservationMap& map,
                                                      const Patient& patient, int64_t at_epoch_ms);

}  // namespace medtwin::fhir

#endif  // MEDTWIN_FHIR_MAP_H_
