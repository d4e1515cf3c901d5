// What the patient record contributes to a twin (issue 7): stored FHIR resources turned into
// the inputs of one model's twin, through the observation map (which codes feed which
// observable or covariate, in the model's unit) and the medication map (which drugs are dosed
// into which compartment).
//
// A twin is a function of its patient's record: the inputs of every stored Observation and
// MedicationAdministration, in clinical-time order (at equal times covariate changes first,
// then observations, then doses, so a trough drawn at a dose's time is read before it).
#ifndef MEDTWIN_SERVER_TWIN_INPUTS_H_
#define MEDTWIN_SERVER_TWIN_INPUTS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "medtwin/fhir_map.h"
#include "medtwin/model.h"
#include "medtwin/status.h"

namespace medtwin::server {

struct TwinInput {
  enum class Kind { kCovariate = 0, kObservation = 1, kDose = 2 };  // the order at equal times
  Kind kind = Kind::kObservation;
  int64_t at_ms = 0;   // clinical time, ms since the epoch (UTC)
  std::string name;    // covariate or observable name; for a dose its compartment
  double value = 0.0;  // in the model's unit (covariate, observation) or the dose amount
  double rate = 0.0;   // dose: amount per model time unit; 0 for a bolus
  std::string source;  // "Observation/id"
};

// Orders inputs as the twin takes them: clinical time, then kind, then source.
void SortInputs(std::vector<TwinInput>* inputs);

// The inputs model `spec` takes from one stored resource (its JSON as stored). Empty when
// nothing in it feeds the model (another model's code, an unmapped code, an entered-in-error
// observation, a resource type twins do not read). Errors say why a resource that names this
// model's inputs cannot be used (a dose in a unit the model's compartment cannot take).
Result<std::vector<TwinInput>> TwinInputs(const fhir::ObservationMap& map, const ModelSpec& spec,
                                          const std::string& type, const std::string& json);

// The covariates a Patient resource gives model `spec` (sex, age at `at_ms`), by covariate name.
Result<std::vector<std::pair<std::string, double>>> PatientTwinCovariates(
    const fhir::ObservationMap& map, const ModelSpec& spec, const std::string& patient_json,
    int64_t at_ms);

// Model time of an instant, in the model's time unit ("h" or "min") from `origin_ms`.
Result<double> ModelTime(const ModelSpec& spec, int64_t at_ms, int64_t origin_ms);
// Milliseconds in one model time unit.
Result<double> MsPerTimeUnit(const ModelSpec& spec);

}  // namespace medtwin::server

#endif  // MEDTWIN_SERVER_TWIN_INPUTS_H_
