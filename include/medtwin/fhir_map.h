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
// Medications (vancomycin, rapid-acting insulin, ...) list
//  - codes: (system, code) pairs of the medication (RxNorm ingredients), variants as above;
//  - units: accepted dose amount units with the factor to the canonical unit (no offset);
//  - feeds: the model dose compartments it supplies ({"model", "compartment", "time_unit"}, the
//    time unit being the model's, so rates convert to amount per model time unit), checked
//    against the model registry by tests/fhir_map_models_test.cc.
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

// A model dose compartment fed by a medication.
struct MedicationFeed {
  std::string model;        // registry name, e.g. "t1d_uvapadova"
  std::string compartment;  // a dosable state of the model, e.g. "insulin"
  std::string time_unit;    // the model's time unit: "s", "min", "h" or "d"
};

struct MappedMedication {
  std::string name;  // [a-z0-9_]+
  std::string description;
  std::string canonical_unit;  // UCUM; the unit of the compartments fed
  std::vector<CodeRule> codes;
  std::vector<UnitRule> units;  // dose amount units; offset 0
  std::vector<MedicationFeed> feeds;
  std::string source;

  const UnitRule* FindUnit(std::string_view unit) const;         // nullptr if not accepted
  std::string UnitList() const;                                  // "mg, g, ug, mcg"
  const MedicationFeed* FindFeed(std::string_view model) const;  // nullptr if none
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
  // min < max, every feed naming a model and exactly one of observable/covariate. Medications
  // likewise (unique names and codes, units without offset), each feed naming a model once, a
  // compartment and a time unit s, min, h or d.
  static Result<ObservationMap> FromJson(std::string_view json);
  static Result<ObservationMap> FromFile(const std::string& path);
  // The table of data/fhir/observation-map.json as built into the library.
  static const ObservationMap& Default();

  std::optional<Match> Find(std::string_view system, std::string_view code) const;
  const CodeRule* FindPanel(std::string_view system, std::string_view code) const;
  const MappedQuantity* FindQuantity(std::string_view name) const;
  // The medication with this code, or nullptr.
  const MappedMedication* FindMedication(std::string_view system, std::string_view code) const;
  const std::vector<MappedQuantity>& quantities() const { return quantities_; }
  const std::vector<MappedMedication>& medications() const { return medications_; }
  const std::vector<CodeRule>& panels() const { return panels_; }
  const std::vector<PatientCovariate>& patient_covariates() const { return patient_; }

 private:
  std::vector<MappedQuantity> quantities_;
  std::vector<CodeRule> panels_;
  std::vector<PatientCovariate> patient_;
  std::vector<MappedMedication> medications_;
  // "system|code" -> (quantity index, code index)
  std::unordered_map<std::string, std::pair<int, int>> index_;
  // "system|code" -> medication index
  std::unordered_map<std::string, int> medication_index_;
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

// A MedicationAdministration as a dose of one model, in the model's units.
struct ModelDose {
  int64_t start_epoch_ms = 0;  // effective start
  std::string compartment;     // the model's dose state (MedicationFeed::compartment)
  double amount = 0.0;         // in `unit`, > 0
  double rate = 0.0;           // `unit` per `time_unit`; 0 for a bolus
  double duration = 0.0;       // `time_unit`; amount / rate for an infusion, 0 for a bolus
  std::string unit;            // the compartment's amount unit (canonical_unit), e.g. "mg"
  std::string time_unit;       // the model's time unit, e.g. "h"
  std::string medication;      // MappedMedication::name
  Coding source_code;          // the coding that matched, as sent
  bool variant = false;        // a variant code or unit was used
};

// The dose of `administration` for model `model` (registry name) by the medication map. Amount,
// rate and period are read as by ToDoseEvent (fhir.h), with the medication's units instead of
// mass units and the rate converted to amount per model time unit: rate[x] when given, else the
// amount over the effective period when it has both ends and a positive length, else a bolus.
// Errors name the element: medicationReference (the Medication is not resolved here; send
// medicationCodeableConcept), a code not in the map or a mapped code that feeds another model
// (medicationCodeableConcept), status not completed/in-progress, no dosage.dose, a dose or rate
// unit the medication does not list (dosage.dose.code, dosage.rateQuantity.code, ...), values
// that are not > 0.
Result<ModelDose> ToModelDose(const ObservationMap& map,
                              const MedicationAdministration& administration,
                              std::string_view model);

}  // namespace medtwin::fhir

#endif  // MEDTWIN_FHIR_MAP_H_
