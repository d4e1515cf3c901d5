// Reading one resource: the generic pass, the typed reader of its type, normalisation.
#include <chrono>

#include "fhir/json_input.h"
#include "fhir/resources.h"
#include "medtwin/fhir_map.h"

namespace medtwin::fhir {

const Coding* CodeableConcept::Find(std::string_view system, std::string_view code) const {
  for (const Coding& c : coding) {
    if (c.system == system && c.code == code) return &c;
  }
  return nullptr;
}

namespace {

// The "Type/id" tail of a literal reference (relative or absolute), without _history.
std::string_view TypeAndId(std::string_view ref) {
  const size_t hist = ref.find("/_history/");
  if (hist != std::string_view::npos) ref = ref.substr(0, hist);
  const size_t last = ref.rfind('/');
  if (last == std::string_view::npos || last == 0) return {};
  const size_t prev = ref.rfind('/', last - 1);
  return ref.substr(prev == std::string_view::npos ? 0 : prev + 1);
}

}  // namespace

std::string Reference::Type() const {
  const std::string_view t = TypeAndId(reference);
  const size_t slash = t.find('/');
  if (slash == std::string_view::npos || !IsR4ResourceType(t.substr(0, slash))) return "";
  return std::string(t.substr(0, slash));
}

std::string Reference::Id() const {
  if (Type().empty()) return "";
  const std::string_view t = TypeAndId(reference);
  return std::string(t.substr(t.find('/') + 1));
}

const char* ToString(AdministrativeGender g) {
  switch (g) {
    case AdministrativeGender::kMale:
      return "male";
    case AdministrativeGender::kFemale:
      return "female";
    case AdministrativeGender::kOther:
      return "other";
    case AdministrativeGender::kUnknown:
      return "unknown";
  }
  return "unknown";
}

Status ReadOptions::Validate() const {
  if (max_bytes == 0) return Status::Invalid("ReadOptions.max_bytes: must be > 0");
  if (max_depth < 1 || max_depth > 10000) {
    return Status::Invalid("ReadOptions.max_depth: " + std::to_string(max_depth) +
                           " is outside 1..10000");
  }
  if (max_issues < 1) return Status::Invalid("ReadOptions.max_issues: must be >= 1");
  if (!expected_type.empty() && !IsR4ResourceType(expected_type)) {
    return Status::Invalid("ReadOptions.expected_type: '" + expected_type +
                           "' is not an R4 resource type");
  }
  return Status::Ok();
}

namespace {

// resourceType and id; returns the type or "" on error.
std::string CheckHeader(const Json& json, const ReadContext& ctx, Issues& issues, std::string* id) {
  const Path unknown("Resource");
  if (!json.is_object()) {
    issues.Error(IssueType::kStructure, unknown,
                 std::string("a resource is a JSON object, found ") + JsonTypeName(json));
    return "";
  }
  auto rt = json.find("resourceType");
  if (rt == json.end() || !rt->is_string()) {
    issues.Error(IssueType::kRequired, unknown.Child("resourceType"),
                 rt == json.end() ? "required element is missing" : "must be a string");
    return "";
  }
  const std::string& type = rt->get_ref<const std::string&>();
  if (!IsR4ResourceType(type)) {
    issues.Error(IssueType::kNotSupported, unknown.Child("resourceType"),
                 Quoted(type) + " is not a FHIR R4 resource type");
    return "";
  }
  const std::string& expected = ctx.options->expected_type;
  if (!expected.empty() && type != expected) {
    issues.Error(IssueType::kInvalid, unknown.Child("resourceType"),
                 "expected a " + expected + ", found " + Quoted(type));
    return "";
  }
  const Path root(type);
  auto idj = json.find("id");
  if (idj == json.end()) {
    if (ctx.need_id) issues.Error(IssueType::kRequired, root.Child("id"), "required here");
  } else if (!idj->is_string() || !IsValidId(idj->get_ref<const std::string&>())) {
    issues.Error(IssueType::kValue, root.Child("id"),
                 (idj->is_string() ? Quoted(idj->get_ref<const std::string&>()) : "value") +
                     " is not a valid id ([A-Za-z0-9-.]{1,64})");
  } else {
    *id = idj->get<std::string>();
  }
  return type;
}

void ReadTyped(const Json& json, const std::string& type, const Path& root, Issues& issues,
               Resource* out) {
  if (type == "Patient") {
    ReadPatient(json, root, issues, &out->typed.emplace<Patient>());
  } else if (type == "Observation") {
    ReadObservation(json, root, issues, &out->typed.emplace<Observation>());
  } else if (type == "MedicationAdministration") {
    ReadMedicationAdministration(json, root, issues,
                                 &out->typed.emplace<MedicationAdministration>());
  } else if (type == "MedicationRequest") {
    ReadMedicationRequest(json, root, issues, &out->typed.emplace<MedicationRequest>());
  } else if (type == "Condition") {
    ReadCondition(json, root, issues, &out->typed.emplace<Condition>());
  } else if (type == "Encounter") {
    ReadEncounter(json, root, issues, &out->typed.emplace<Encounter>());
  } else if (type == "OperationOutcome") {
    ReadOperationOutcome(json, root, issues, &out->typed.emplace<OperationOutcomeResource>());
  }
}

}  // namespace

std::optional<Resource> ReadResourceJson(Json& json, ReadContext& ctx, OperationOutcome* outcome) {
  Issues issues(outcome, ctx.options->max_issues);
  Resource res;
  res.type = CheckHeader(json, ctx, issues, &res.id);
  if (res.type.empty()) return std::nullopt;
  const Path root(res.type);
  WalkResource(json, root, ctx.refs, issues, &res.references);
  ReadTyped(json, res.type, root, issues, &res);
  if (ctx.map != nullptr) {
    if (auto* obs = std::get_if<Observation>(&res.typed); obs != nullptr && issues.errors() == 0) {
      NormalizeObservation(*ctx.map, ctx.options->strict_codes, obs, outcome);
    }
  }
  if (issues.errors() > 0 || outcome->HasErrors()) return std::nullopt;
  ReadIdentifiers(json, "identifier", &res.identifiers);
  res.json = json.dump();
  return res;
}

ResourceOutcome ReadResource(std::string_view json, const ReadOptions& options,
                             const ReferenceResolver* resolver) {
  ResourceOutcome out;
  if (Status st = options.Validate(); !st.ok()) {
    out.outcome.Error(IssueType::kInvalid, "", st.message());
    return out;
  }
  std::optional<Json> doc =
      ParseJson(json, options.max_bytes, options.max_depth, "Resource", &out.outcome);
  if (!doc) return out;
  ReadContext ctx;
  ctx.options = &options;
  ctx.map = options.normalize
                ? (options.observation_map ? options.observation_map : &ObservationMap::Default())
                : nullptr;
  ctx.refs.resolver = resolver;
  out.resource = ReadResourceJson(*doc, ctx, &out.outcome);
  return out;
}

NdjsonResult ReadNdjson(std::string_view text, const ReadOptions& options,
                        const ReferenceResolver* resolver, bool check_reference_targets) {
  const auto t0 = std::chrono::steady_clock::now();
  NdjsonResult out;
  ReadContext ctx;
  ctx.options = &options;
  ctx.need_id = true;
  ctx.map = options.normalize
                ? (options.observation_map ? options.observation_map : &ObservationMap::Default())
                : nullptr;
  ctx.refs.resolver = resolver;
  ctx.refs.check_targets = check_reference_targets;
  const Status valid = options.Validate();
  size_t pos = 0;
  int number = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    NdjsonLine& l = out.lines.emplace_back();
    l.line = number;
    if (!valid.ok()) {
      l.result.outcome.Error(IssueType::kInvalid, "", valid.message());
    } else if (std::optional<Json> doc = ParseJson(line, options.max_bytes, options.max_depth,
                                                   "Resource", &l.result.outcome)) {
      l.result.resource = ReadResourceJson(*doc, ctx, &l.result.outcome);
    }
    ++out.summary.lines;
    if (l.result.accepted()) {
      ++out.summary.accepted;
    } else {
      ++out.summary.rejected;
    }
    out.summary.warnings += l.result.outcome.CountWarnings();
  }
  out.summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace medtwin::fhir
