// Durable storage (ARCHITECTURE.md [store]): the patient record as versioned FHIR resources,
// twins' snapshots, alerts and a job queue. One interface, two back-ends with one conformance
// suite (src/store/store_test.cc):
//   - SQLite, embedded (the default): one file, WAL journal, synchronous=FULL, so a write is on
//     disk when Write returns (an acknowledged write survives a crash or power loss);
//   - PostgreSQL through libpq (`postgresql://...` URLs), for several servers sharing one
//     database; commits are durable with the server's default synchronous_commit=on.
//
// Resources are stored as the JSON text given (the FHIR layer validates and normalises it) with
// search keys the caller extracts: tokens (name, value), e.g. ("patient", "Patient/p1"),
// ("code", "http://loinc.org|8867-4"), ("identifier", "system|value"), and one clinical date.
// Every write makes a new version; history is kept; a delete is a version marked deleted.
//
// Ingest and modelling are decoupled by the job queue: Write can enqueue jobs in the same
// transaction as the resources (so no acknowledged observation misses its twin update), workers
// claim jobs with a lease, and CommitTwinUpdate stores a twin's new snapshot, its alerts and the
// job's completion in one transaction (a crash leaves either all or none of them).
//
// Thread safety: a Store may be shared between threads; calls are serialised per Store (one
// connection). Open one Store per process or per worker thread for parallel access.
#ifndef MEDTWIN_STORE_H_
#define MEDTWIN_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "medtwin/status.h"

namespace medtwin {

struct SearchToken {
  std::string name;   // search parameter, e.g. "patient", "code", "identifier"
  std::string value;  // e.g. "Patient/p1", "http://loinc.org|8867-4"
  bool operator==(const SearchToken&) const = default;
};

struct ResourceWrite {
  std::string type;  // FHIR resourceType, [A-Z][A-Za-z]{0,63}
  std::string id;    // logical id, [A-Za-z0-9.-]{1,64} (FHIR id)
  std::string json;  // the resource; ignored for deletes
  std::vector<SearchToken> tokens;
  std::string date;            // clinical date, ISO 8601 in UTC ("2024-03-01T10:00:00Z"), or empty
  bool is_delete = false;      // a delete of an absent resource is a no-op (FHIR)
  int64_t if_match = 0;        // > 0: the current version must be this, else kConflict
  bool if_none_exist = false;  // create only: kConflict if the id exists
};

struct StoredResource {
  std::string type, id;
  int64_t version = 0;       // 1, 2, ...
  int64_t last_updated = 0;  // microseconds since the Unix epoch (UTC)
  bool deleted = false;
  std::string json;
};

struct JobRequest {
  std::string kind;     // e.g. "twin-update"
  std::string key;      // what it is about, e.g. "Patient/p1"; jobs of one key run in order
  std::string payload;  // free text (JSON)
};

struct Job {
  int64_t id = 0;
  std::string kind, key, payload;
  int attempts = 0;  // claims so far, this one included
};

struct SearchQuery {
  std::string type;                 // required
  std::vector<SearchToken> tokens;  // all must match
  std::string date_from, date_to;   // date >= from, date < to (ISO UTC); empty: open
  int64_t updated_from = 0;         // last_updated >= this (us)
  int64_t updated_to = INT64_MAX;   // last_updated < this
  int count = 50;                   // page size, 1..1000
  int64_t after = 0;                // paging cursor from the previous page (0: first page)
};

struct SearchPage {
  std::vector<StoredResource> resources;  // current versions, not deleted, oldest write first
  int64_t total = 0;                      // matches over all pages
  int64_t next = 0;                       // cursor for the next page; 0: this is the last
};

struct TwinRow {
  std::string patient, model;  // the twin's key
  int64_t revision = 0;        // 1, 2, ... (incremented by every commit)
  std::string snapshot;        // include/medtwin/twin.h Snapshot()
  int64_t updated = 0;         // us since the epoch
};

struct AlertRow {
  int64_t id = 0;  // assigned by the store, increasing
  std::string patient, model, observable, kind;
  double time = 0.0, score = 0.0;  // model time, z or CUSUM sum
  int64_t created = 0;
};

struct TwinCommit {
  int64_t job_id = 0;         // > 0: completed in the same transaction
  TwinRow twin;               // snapshot and key; revision and updated ignored
  int64_t expected_revision;  // the revision the update started from (0: a new twin)
  std::vector<AlertRow> alerts;
};

struct StoreOptions {
  std::function<int64_t()> now_us;    // the clock (injected for tests); empty: system clock
  int64_t job_lease_us = 60'000'000;  // a claimed job not completed by then is claimed again
  int busy_timeout_ms = 10'000;       // SQLite: wait this long for another writer
};

class Store {
 public:
  virtual ~Store() = default;
  // "sqlite" or "postgresql".
  virtual const char* backend() const = 0;

  // Writes all resources and enqueues all jobs in one transaction; durable when it returns.
  // Returns the stored versions in order. A failed precondition (if_match, if_none_exist) is
  // kConflict and nothing is written.
  virtual Result<std::vector<StoredResource>> Write(const std::vector<ResourceWrite>& writes,
                                                    const std::vector<JobRequest>& jobs = {}) = 0;
  // The current version; kNotFound if absent, StoredResource::deleted if deleted.
  virtual Result<StoredResource> Read(const std::string& type, const std::string& id) = 0;
  virtual Result<StoredResource> ReadVersion(const std::string& type, const std::string& id,
                                             int64_t version) = 0;
  // Every version, newest first.
  virtual Result<std::vector<StoredResource>> History(const std::string& type,
                                                      const std::string& id) = 0;
  virtual Result<SearchPage> Search(const SearchQuery& query) = 0;
  // Resource counts by type (current, not deleted).
  virtual Result<std::vector<std::pair<std::string, int64_t>>> Counts() = 0;

  // Jobs: the oldest queued job whose key has no other job running, leased to `worker`; none
  // when the queue is empty.
  Result<std::optional<Job>> ClaimJob(const std::string& worker);
  // Up to `max` jobs in one transaction, oldest first, for a worker that runs them in the order
  // given: a key's jobs may come several at once (in order), but not while another worker runs
  // one of that key.
  virtual Result<std::vector<Job>> ClaimJobs(const std::string& worker, int max) = 0;
  // Completes several running jobs in one transaction (kConflict, and none completed, if one is
  // not running).
  virtual Status CompleteJobs(const std::vector<int64_t>& job_ids) = 0;
  virtual Status FailJob(int64_t job_id, const std::string& message) = 0;
  virtual Status CompleteJob(int64_t job_id) = 0;
  virtual Result<int64_t> PendingJobs() = 0;
  // Queues again the jobs `worker` holds (a previous incarnation of it that crashed; without
  // this they wait for their lease to run out). Returns how many.
  virtual Result<int64_t> ReleaseJobs(const std::string& worker) = 0;

  // Twins.
  virtual Result<std::optional<TwinRow>> ReadTwin(const std::string& patient,
                                                  const std::string& model) = 0;
  virtual Result<std::vector<TwinRow>> ListTwins(const std::string& patient) = 0;
  // Stores each twin's snapshot with revision expected_revision + 1 and its alerts, and
  // completes job `job_id` (> 0; 0: none), in one transaction: all or nothing. kConflict if a
  // twin's revision is no longer its expected_revision. (The commits' own job_id is ignored.)
  // One job may update several twins of a patient; a crash leaves none of them half-applied.
  virtual Result<std::vector<TwinRow>> CommitTwinUpdates(const std::vector<TwinCommit>& commits,
                                                         int64_t job_id) = 0;
  // One twin, completing commit.job_id.
  Result<TwinRow> CommitTwinUpdate(const TwinCommit& commit);
  // Alerts with id > after, for a patient (empty: all), oldest first, at most `limit`.
  virtual Result<std::vector<AlertRow>> Alerts(const std::string& patient, int64_t after,
                                               int limit) = 0;
};

// Opens (creating the schema if needed) a store: "postgresql://..." or "postgres://..." URLs go
// to PostgreSQL, anything else is a SQLite file path (created if absent).
Result<std::unique_ptr<Store>> OpenStore(const std::string& location,
                                         const StoreOptions& options = {});

}  // namespace medtwin

#endif  // MEDTWIN_STORE_H_
