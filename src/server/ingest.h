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

#include <map>
#include <string>
#include <vector>

#include "medtwin/fhir.h"
#include "medtwin/fhir_bundle.h"
#include "medtwin/store.h"

namespace medtwin::server {

// Conditional references and ifNoneExist through the store: `identifier` and `_id` searches.
// One per request (not thread-safe): a search's answer is remembered for the resolver's life,
// since bulk data repeats the same few conditional references thousands of times.
class StoreResolver : public fhir::ReferenceResolver {
 public:
  explicit StoreResolver(Store* store) : store_(store) {}
  Result<std::vector<std::string>> Search(const fhir::SearchQuery& query) const override;
  Result<bool> Exists(std::string_view type, std::string_view id) const override;

 private:
  Result<std::vector<std::string>> SearchStore(const fhir::SearchQuery& query) const;
  Store* store_;
  mutable std::map<std::string, std::vector<std::string>> answers_;
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

// The stored JSON with meta.versionId and meta.lastUpdated set (any sent values replaced, the
// rest of meta kept). Spliced into the text rather than parsed and serialised again: that was
// half of the server's time answering searches (BENCHMARKS.md).
std::string WithMeta(const StoredResource& r);

// The response Bundle (transaction-response or batch-response) for an ingest.
std::string ResponseBundleJson(const IngestResult& result);

// Writes independent resources (each with its jobs) in one store transaction, or, when that
// fails, one by one, so each write gets its own result: the stored version or why not.
std::vector<Result<StoredResource>> WriteTogetherOrEach(
    Store* store, const std::vector<ResourceWrite>& writes,
    const std::vector<std::vector<JobRequest>>& jobs);

// Bulk NDJSON import (POST /fhir/$import): one resource per line, each with the sender's id.
struct ImportOptions {
  int chunk_lines = 1000;        // lines read and written per store transaction; 1..100000
  int max_listed_errors = 1000;  // rejected lines listed in the reply (all are counted); >= 0
  fhir::ReadOptions read;
  Status Validate() const;
};

struct RejectedLine {
  int line = 0;  // 1-based line number in the body
  fhir::OperationOutcome outcome;
};

struct ImportSummary {
  int64_t lines = 0, stored = 0, rejected = 0, warnings = 0;
  std::map<std::string, int64_t> stored_by_type;
  std::vector<RejectedLine> rejected_lines;  // the first max_listed_errors
  double seconds = 0.0;
  Status store_status;  // the last storage failure, if any line failed to be stored
};

// Reads `text` chunk by chunk (chunk_lines lines each) and stores each chunk's accepted
// resources as updates (create or new version, the sender's id kept) with their search keys and
// twin jobs in one transaction. Literal references are not checked against the store (bulk
// semantics: the target may come in a later line or file); conditional references resolve
// against what is stored, earlier chunks included.
// kInvalid (nothing read) when the options are invalid.
Result<ImportSummary> ImportNdjson(std::string_view text, Store* store,
                                   const ImportOptions& options = {});

// The reply body: {"lines","stored","rejected","warnings","stored_by_type","seconds",
// "rejected_lines":[{"line","outcome"}],"rejected_lines_not_listed"}.
std::string ImportSummaryJson(const ImportSummary& summary);

}  // namespace medtwin::server

#endif  // MEDTWIN_SERVER_INGEST_H_
