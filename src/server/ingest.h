// FHIR ingest into the store (issue 7): the glue between src/fhir (validated resources and
// bundle decisions) and src/store (versioned resources, search keys, jobs). No HTTP here, so
// the same code serves `POST /fhir`, `PUT /fhir/Type/id` and bulk NDJSON import.
//
// Search keys written with every resource:
//   identifier  "system|value" and the bare "value" for each top-level identifier (FHIR token
//               search: "system|value", "|value" for no system, "value" for any system)
//   patient     "Patient/id" when the resource's subject/patient reference names a Patient
//               (and a Patient's own "Patient/id")
//   code        "system|code" and the bare "code" for each coding of Observation.code (and its
//               components'), so `code=8867-4` and `code=http://loinc.org|8867-4` both match
//   date        Observation effective start (UTC ISO 8601, milliseconds)
// Jobs: an accepted Observation or MedicationAdministration about a patient enqueues
// "twin-update" for key "Patient/id" in the same transaction (no acknowledged datum misses its
// twin).
#ifndef MEDTWIN_SERVER_INGEST_H_
#define MEDTWIN_SERVER_INGEST_H_

#include <string>
#include <vector>

#include "medtwin/fhir.h"
#include "medtwin/fhir_bundle.h"
#include "medtwin/store.h"

namespace medtwin::server {

// Conditional references and ifNoneExist through the store: `identifier` and `_id` searches.
class StoreResolver : public fhir::ReferenceResolver {
 public:
  explicit StoreResolver(Store* store) : store_(store) {}
  Result<std::vector<std::string>> Search(const fhir::SearchQuery& query) const override;
  Result<bool> Exists(std::string_view type, std::string_view id) const override;

 private:
  Store* store_;
};

// The store write (search keys included) and jobs for one accepted resource.
void IndexResource(const fhir::Resource& r, ResourceWrite* write, std::vector<JobRequest>* jobs);

// UTC ISO 8601 with milliseconds, e.g. "2024-03-01T10:00:00.000Z".
std::string IsoUtc(int64_t epoch_ms);

struct IngestResult {
  fhir::BundleResult bundle;           // the FHIR layer's decisions
  std::vector<StoredResource> stored;  // per entry: the stored version (empty type: not stored)
  Status store_status;                 // a storage failure (the transaction was not applied)
};

// Processes a Bundle and applies it: a transaction in one store transaction (all or nothing),
// a batch entry by entry.
IngestResult IngestBundle(std::string_view json, Store* store, fhir::IdSource* ids,
                          const fhir::ReadOptions& read = {});

// The response Bundle (transaction-response or batch-response) for an ingest.
std::string ResponseBundleJson(const IngestResult& result);

}  // namespace medtwin::server

#endif  // MEDTWIN_SERVER_INGEST_H_
