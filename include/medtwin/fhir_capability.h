// FHIR R4 CapabilityStatement generation (GET /fhir/metadata).
//
// The server describes what it serves with CapabilityOptions and publishes the JSON this returns;
// DefaultResources() lists what issue 7 asks of the server: the modelled types with read, create,
// update and search-type, searches by patient, code, date, _lastUpdated and _count, plus
// transaction and batch at system level.
#ifndef MEDTWIN_FHIR_CAPABILITY_H_
#define MEDTWIN_FHIR_CAPABILITY_H_

#include <string>
#include <vector>

#include "medtwin/status.h"

namespace medtwin::fhir {

struct SearchParamCapability {
  std::string name;  // "patient", "code", "date", "_lastUpdated"
  std::string type;  // R4 search-param-type: number|date|string|token|reference|composite|
                     // quantity|uri|special
  std::string documentation;
};

struct ResourceCapability {
  std::string type;  // an R4 resource type
  // R4 type-restful-interaction codes: read|vread|update|patch|delete|history-instance|
  // history-type|create|search-type
  std::vector<std::string> interactions;
  std::vector<SearchParamCapability> search_params;
  bool conditional_create = false;  // ifNoneExist honoured
  bool conditional_update = false;
};

struct CapabilityOptions {
  std::string software_name = "medtwin";
  std::string software_version = "0.1.0";
  std::string base_url;  // implementation.url, e.g. "http://127.0.0.1:8080/fhir"; may be empty
  std::string date;      // publication date (R4 dateTime), REQUIRED: the caller's clock
  std::vector<ResourceCapability> resources;
  bool transaction = true;  // system interactions
  bool batch = true;
  // Names the bad field: empty date or an invalid one, an unknown resource type, a type listed
  // twice, an unknown interaction or search-param type.
  Status Validate() const;
};

std::vector<ResourceCapability> DefaultResources();

// The CapabilityStatement (status active, kind instance, fhirVersion 4.0.1, format json) as
// compact JSON.
Result<std::string> CapabilityStatementJson(const CapabilityOptions& options);

}  // namespace medtwin::fhir

#endif  // MEDTWIN_FHIR_CAPABILITY_H_
