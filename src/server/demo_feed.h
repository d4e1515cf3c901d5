// `medtwin serve --demo`: the demo ward (demo_ward.h) streamed into a running server through its
// own HTTP API, as an EHR interface would send it, with a vancomycin twin following every
// patient.
//
// The ward's clock starts `preload_hours` before now: what happened before now is sent at once,
// then a twin is created for every patient (POST /twins), then the rest of the ward's data are
// sent in time order, `speed` times faster than real time. Each resource is a FHIR PUT; new
// alerts are read from GET /alerts after every level and reported.
#ifndef MEDTWIN_SERVER_DEMO_FEED_H_
#define MEDTWIN_SERVER_DEMO_FEED_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "medtwin/status.h"

namespace medtwin::server {

struct DemoFeedOptions {
  int patients = 6;
  uint64_t seed = 1;
  double hours = 72.0;          // the ward's record, h
  double preload_hours = 24.0;  // sent at once on start, [0, hours]
  double speed = 360.0;         // ward seconds per real second, > 0
  int64_t now_ms = 0;           // the wall clock at start (0: the system clock)
  Status Validate() const;
};

struct DemoFeedSummary {
  int resources = 0, twins = 0, alerts = 0;
};

// Runs the feed against the server on 127.0.0.1:`port` until the ward's data are all sent or
// `stop` is set. `log` receives one line per event worth showing. Errors: a request the server
// refused (with its OperationOutcome's text), or the server unreachable.
Result<DemoFeedSummary> RunDemoFeed(int port, const DemoFeedOptions& options,
                                    const std::function<void(const std::string&)>& log,
                                    const std::atomic<bool>& stop);

}  // namespace medtwin::server

#endif  // MEDTWIN_SERVER_DEMO_FEED_H_
