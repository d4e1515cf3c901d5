// `medtwin serve` (issue 7): the HTTP front of the store and the twins.
//
// Every request passes through one pipeline — parse (route, size limits), authenticate,
// authorize, handle, audit — so the security issue plugs in at one place. Until then the
// server binds to loopback only and every caller is the anonymous local principal.
//
// Endpoints so far:
//   GET  /health                     {"status":"ok","store":"sqlite","pending_jobs":N}
//   GET  /metrics                    Prometheus text: requests by route and status, ingest
//   GET  /fhir/metadata              CapabilityStatement
//   POST /fhir                       Bundle (transaction or batch) -> transaction-/batch-response
//   POST /fhir/$import               NDJSON bulk import (sender's ids) -> counts, rejected lines
//   POST /fhir/{type}                create (server-assigned id)
//   PUT  /fhir/{type}/{id}           update or create with that id
//   GET  /fhir/{type}/{id}           read;  GET /fhir/{type}/{id}/_history/{v}  vread
//   GET  /fhir/{type}?patient=&code=&date=ge..&date=lt..&_lastUpdated=ge..&_count=
//                                    searchset Bundle with a next link
// Errors are OperationOutcome resources with the HTTP status of their kind (400, 404, 409,
// 413, 415, 422, 503).
#ifndef MEDTWIN_SERVER_H_
#define MEDTWIN_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "medtwin/status.h"
#include "medtwin/store.h"

namespace medtwin {

struct ServerOptions {
  std::string db = "medtwin.db";  // SQLite path or postgresql:// URL
  int port = 8080;                // 0: any free port (see Server::port)
  size_t max_body_bytes = size_t{64} << 20;
  int read_timeout_s = 10;  // a client slower than this per read is dropped
  int threads = 8;          // HTTP worker threads
  int twin_workers = 1;     // threads running twin updates (0: none; jobs stay queued)
  StoreOptions store;
  Status Validate() const;
};

class Server {
 public:
  // Opens the store and starts listening on 127.0.0.1; returns once the port accepts.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options);
  virtual ~Server() = default;
  virtual int port() const = 0;
  virtual Store& store() = 0;
  // Stops accepting, finishes requests in flight, returns.
  virtual void Stop() = 0;
  // Blocks until Stop (from another thread or a signal handler's thread).
  virtual void Wait() = 0;
};

}  // namespace medtwin

#endif  // MEDTWIN_SERVER_H_
