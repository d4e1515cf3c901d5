// CapabilityStatement (R4 capabilitystatement.html) from a description of what is served.
#include <nlohmann/json.hpp>

#include <set>

#include "medtwin/fhir.h"
#include "medtwin/fhir_capability.h"

namespace medtwin::fhir {
namespace {

const std::set<std::string>& Interactions() {
  static const std::set<std::string> k = {"read",   "vread",        "update",
                                          "patch",  "delete",       "history-instance",
                                          "create", "history-type", "search-type"};
  return k;
}

const std::set<std::string>& ParamTypes() {
  static const std::set<std::string> k = {"number",    "date",     "string", "token",  "reference",
                                          "composite", "quantity", "uri",    "special"};
  return k;
}

}  // namespace

Status CapabilityOptions::Validate() const {
  if (date.empty()) return Status::Invalid("CapabilityOptions.date: required");
  if (Result<DateTime> d = ParseDateTime(date); !d.ok()) {
    return Status::Invalid("CapabilityOptions.date: " + d.status().message());
  }
  if (software_name.empty()) return Status::Invalid("CapabilityOptions.software_name: required");
  std::set<std::string> seen;
  for (size_t i = 0; i < resources.size(); ++i) {
    const ResourceCapability& r = resources[i];
    const std::string at = "CapabilityOptions.resources[" + std::to_string(i) + "]";
    if (!IsR4ResourceType(r.type)) {
      return Status::Invalid(at + ".type: '" + r.type + "' is not an R4 resource type");
    }
    if (!seen.insert(r.type).second) return Status::Invalid(at + ".type: " + r.type + " twice");
    for (const std::string& in : r.interactions) {
      if (!Interactions().count(in)) {
        return Status::Invalid(at + ".interactions: unknown interaction '" + in + "'");
      }
    }
    for (const SearchParamCapability& p : r.search_params) {
      if (p.name.empty()) return Status::Invalid(at + ".search_params: a name is empty");
      if (!ParamTypes().count(p.type)) {
        return Status::Invalid(at + ".search_params[" + p.name + "].type: unknown type '" + p.type +
                               "'");
      }
    }
  }
  return Status::Ok();
}

std::vector<ResourceCapability> DefaultResources() {
  const std::vector<std::string> rest = {"read", "create", "update", "search-type"};
  const SearchParamCapability patient{"patient", "reference", "the subject, a Patient"};
  const SearchParamCapability code{"code", "token", "system|code"};
  const SearchParamCapability last_updated{"_lastUpdated", "date", "when the server stored it"};
  const SearchParamCapability count{"_count", "number", "page size"};
  auto with = [&](std::string type, std::vector<SearchParamCapability> extra) {
    ResourceCapability r{std::move(type), rest, {last_updated, count}, true, true};
    r.search_params.insert(r.search_params.end(), extra.begin(), extra.end());
    return r;
  };
  return {
      with("Patient", {{"identifier", "token", "system|value"}}),
      with("Observation", {patient, code, {"date", "date", "effective[x]"}}),
      with("MedicationAdministration",
           {patient, {"code", "token", "medication code"}, {"effective-time", "date", ""}}),
      with("MedicationRequest",
           {patient, {"code", "token", "medication code"}, {"authoredon", "date", ""}}),
      with("Condition", {patient, code, {"onset-date", "date", ""}}),
      with("Encounter", {patient, {"date", "date", "period"}}),
  };
}

Result<std::string> CapabilityStatementJson(const CapabilityOptions& options) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  using nlohmann::json;
  json resources = json::array();
  for (const ResourceCapability& r : options.resources) {
    json j = {{"type", r.type}};
    json interactions = json::array();
    for (const std::string& in : r.interactions) interactions.push_back({{"code", in}});
    if (!interactions.empty()) j["interaction"] = interactions;
    j["conditionalCreate"] = r.conditional_create;
    j["conditionalUpdate"] = r.conditional_update;
    json params = json::array();
    for (const SearchParamCapability& p : r.search_params) {
      json pj = {{"name", p.name}, {"type", p.type}};
      if (!p.documentation.empty()) pj["documentation"] = p.documentation;
      params.push_back(std::move(pj));
    }
    if (!params.empty()) j["searchParam"] = params;
    resources.push_back(std::move(j));
  }
  json rest = {{"mode", "server"}};
  if (!resources.empty()) rest["resource"] = resources;
  json system = json::array();
  if (options.transaction) system.push_back({{"code", "transaction"}});
  if (options.batch) system.push_back({{"code", "batch"}});
  if (!system.empty()) rest["interaction"] = system;
  json cs = {{"resourceType", "CapabilityStatement"},
             {"status", "active"},
             {"date", options.date},
             {"kind", "instance"},
             {"software", {{"name", options.software_name}, {"version", options.software_version}}},
             {"fhirVersion", "4.0.1"},
             {"format", {"json"}},
             {"rest", {rest}}};
  json impl = {{"description", "medtwin twin server"}};
  if (!options.base_url.empty()) impl["url"] = options.base_url;
  cs["implementation"] = impl;
  return cs.dump();
}

}  // namespace medtwin::fhir
