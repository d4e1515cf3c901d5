// Twins that update themselves (issue 7): the server's twin registry, its workers, and the
// answers behind the /twins endpoints.
//
// A server twin is a Twin (include/medtwin/twin.h) of one patient and one model, kept in the
// store (Store::ReadTwin) as a document holding its configuration, its clock origin, which
// resource versions it has taken in, what it could not use and why, and the Twin snapshot.
// It is a function of the patient's record: created from every stored Observation and
// MedicationAdministration of the patient (covariates from the Patient and from covariate
// observations), then kept in step by workers running the "twin-update" jobs that ingest
// enqueues with every such resource, in the same transaction (src/server/ingest.h).
//
// A worker claims a job (jobs of one patient run in order), reads the resource it names, and
// for every twin of the patient appends the resource's inputs when they come after everything
// the twin has seen; a resource that arrives out of time order, a corrected version or a delete
// rebuilds the twin from the record. All of the patient's twins and the job's completion are
// committed in one store transaction (Store::CommitTwinUpdates): a crash leaves the old
// revisions and the job queued, never half an update.
//
// Thread safety: all public methods may be called from any thread.
#ifndef MEDTWIN_SERVER_TWIN_SERVICE_H_
#define MEDTWIN_SERVER_TWIN_SERVICE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "medtwin/fhir_map.h"
#include "medtwin/status.h"
#include "medtwin/store.h"

namespace medtwin::server {

struct TwinServiceOptions {
  std::string db;  // the store location; each worker opens its own connection
  StoreOptions store;
  int workers = 1;         // threads running twin-update jobs, >= 0 (0: jobs stay queued)
  int idle_poll_ms = 200;  // an idle worker looks for jobs (from other processes) this often
  const fhir::ObservationMap* map = nullptr;  // nullptr: ObservationMap::Default()
  Status Validate() const;
};

// A change to a twin, for the event stream.
struct TwinNotice {
  int64_t seq = 0;  // increasing within this process, from 1
  std::string patient, model;
  std::string json;  // {"patient","model","revision","observation":{...}|null,"alerts":[...]}
};

// Counters for /metrics.
struct TwinServiceCounters {
  int64_t jobs_done = 0, jobs_retried = 0, twin_updates = 0, rebuilds = 0, inputs_skipped = 0;
  double job_seconds = 0.0;  // total time in jobs
};

class TwinService {
 public:
  // `store` serves the request handlers (shared with the HTTP server); workers open their own.
  static Result<std::unique_ptr<TwinService>> Start(Store* store, const TwinServiceOptions& o);
  virtual ~TwinService() = default;
  virtual void Stop() = 0;
  // New jobs were queued in this process: wake a worker now rather than at its next poll.
  virtual void Wake() = 0;

  // The endpoints' backends: JSON in, JSON out (docs/server.md "Twins"). Errors carry the
  // status code the HTTP layer maps (kInvalidArgument 400, kNotFound 404, kConflict 409,
  // kUnsupported 422) and name the field.
  virtual Result<std::string> Create(std::string_view request) = 0;
  virtual Result<std::string> Describe(const std::string& patient, const std::string& model) = 0;
  virtual Result<std::string> List(const std::string& patient) = 0;
  virtual Result<std::string> Forecast(const std::string& patient, const std::string& model,
                                       std::string_view request) = 0;
  virtual Result<std::string> WhatIf(const std::string& patient, const std::string& model,
                                     std::string_view request) = 0;
  virtual Result<std::string> Dose(const std::string& patient, const std::string& model,
                                   std::string_view request) = 0;
  // Alerts with id > after, of `patient` (empty: all) and `model` (empty: all), oldest first.
  virtual Result<std::string> Alerts(const std::string& patient, const std::string& model,
                                     int64_t after, int limit) = 0;

  // Events with seq > after (of `patient` when not empty), waiting up to `wait` for the first
  // one; empty on timeout or Stop. The last 10,000 events are kept in memory.
  virtual std::vector<TwinNotice> Events(int64_t after, const std::string& patient,
                                         std::chrono::milliseconds wait) = 0;
  // The sequence number of the latest event (0: none yet).
  virtual int64_t LastEventSeq() = 0;
  // Blocks until the job queue is empty or `timeout` passes (kUnavailable).
  virtual Status Drain(std::chrono::milliseconds timeout) = 0;
  virtual TwinServiceCounters counters() const = 0;
};

}  // namespace medtwin::server

#endif  // MEDTWIN_SERVER_TWIN_SERVICE_H_
