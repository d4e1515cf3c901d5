// Typed readers of the modelled resource types, and the shared per-resource reading step
// (internal to src/fhir).
#ifndef MEDTWIN_FHIR_RESOURCES_H_
#define MEDTWIN_FHIR_RESOURCES_H_

#include <optional>

#include "fhir/elements.h"
#include "fhir/references.h"
#include "medtwin/fhir.h"
#include "medtwin/fhir_map.h"

namespace medtwin::fhir {

void ReadPatient(const Json& r, const Path& at, Issues& issues, Patient* out);
void ReadObservation(const Json& r, const Path& at, Issues& issues, Observation* out);
void ReadMedicationAdministration(const Json& r, const Path& at, Issues& issues,
                                  MedicationAdministration* out);
void ReadMedicationRequest(const Json& r, const Path& at, Issues& issues, MedicationRequest* out);
void ReadCondition(const Json& r, const Path& at, Issues& issues, Condition* out);
void ReadEncounter(const Json& r, const Path& at, Issues& issues, Encounter* out);
void ReadOperationOutcome(const Json& r, const Path& at, Issues& issues,
                          OperationOutcomeResource* out);

struct ReadContext {
  const ReadOptions* options = nullptr;
  const ObservationMap* map = nullptr;  // nullptr: no normalisation
  ReferenceContext refs;
  bool need_id = false;  // a missing id is an error (NDJSON)
};

// Reads one parsed resource: generic pass (references resolved in place), typed reading and
// normalisation. Issues go to `outcome`, rooted at the resource type. Returns the resource when
// there was no error.
std::optional<Resource> ReadResourceJson(Json& json, ReadContext& ctx, OperationOutcome* outcome);

}  // namespace medtwin::fhir

#endif  // MEDTWIN_FHIR_RESOURCES_H_
