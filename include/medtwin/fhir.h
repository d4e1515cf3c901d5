// FHIR R4 JSON resources: typed reading and validation at medtwin's boundary.
//
// What is read (docs/fhir.md is the user-facing contract):
//  - Patient, Observation, MedicationAdministration, MedicationRequest, Condition, Encounter and
//    OperationOutcome are read into the typed structs below; their required elements, value sets
//    of the coded elements medtwin uses, choice types ([x]: at most one) and the invariants listed
//    in docs/fhir.md are checked.
//  - Every other R4 resource type (Claim, ExplanationOfBenefit, Immunization, ...) is accepted as
//    raw JSON: resourceType must be an R4 type, id must match [A-Za-z0-9\-.]{1,64}, and the
//    generic rules below hold. Nothing is dropped: the server stores such resources as they came.
//  - Generic rules for every resource: valid JSON within the size and nesting limits, an object
//    with a string resourceType, no null values, no empty strings/objects/arrays (R4 ele-1 and
//    the JSON format rules), every Reference.reference well formed.
//  - Observations with a code in the observation map (fhir_map.h) are normalised: each mapped
//    value (top level and components) is converted to the quantity's canonical UCUM unit. A
//    mapped code with an unknown unit, no value, an implausible value, no subject or no
//    effective[x] is an error naming the element. Real-data variants of codes and units are
//    mapped with a warning, or rejected when ReadOptions::strict_codes is set.
// Elements medtwin does not read are kept verbatim in Resource::json and not validated.
//
// Thread safety: all functions are reentrant; an ObservationMap may be shared between threads.
#ifndef MEDTWIN_FHIR_H_
#define MEDTWIN_FHIR_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "medtwin/fhir_outcome.h"
#include "medtwin/status.h"

namespace medtwin::fhir {

class ObservationMap;
class ReferenceResolver;

inline constexpr const char* kLoinc = "http://loinc.org";
inline constexpr const char* kUcum = "http://unitsofmeasure.org";

// ---------------------------------------------------------------- data types

// A FHIR date, dateTime or instant. Partial dates ("2019", "2019-05") are kept with their
// precision; epoch_ms is the start of the interval they denote. Without a time zone (dates and
// partial dates only: R4 requires a zone when a time is given) the value is read as UTC.
struct DateTime {
  enum class Precision { kYear, kMonth, kDay, kSecond };
  std::string text;      // as sent
  int64_t epoch_ms = 0;  // ms since 1970-01-01T00:00:00Z
  Precision precision = Precision::kDay;
};

// Parses an R4 dateTime (kind "dateTime"), date ("date") or instant ("instant"). Errors say what
// is wrong ("month 13", "a time needs a time zone").
Result<DateTime> ParseDateTime(std::string_view text, std::string_view kind = "dateTime");

struct Coding {
  std::string system, code, display;
};

struct CodeableConcept {
  std::vector<Coding> coding;
  std::string text;
  // The first coding with this system and code, or nullptr.
  const Coding* Find(std::string_view system, std::string_view code) const;
};

struct Quantity {
  std::optional<double> value;
  std::string comparator;  // "<", "<=", ">=", ">" or ""
  std::string unit;        // human-readable unit
  std::string system;      // normally kUcum
  std::string code;        // coded unit
};

struct Ratio {
  Quantity numerator, denominator;
};

struct Period {
  std::optional<DateTime> start, end;
};

struct Identifier {
  std::string system, value;
};

// A Reference. After bundle processing `reference` is "Type/id" for every reference resolved by
// medtwin (urn:uuid and conditional references); absolute URLs and "#contained" stay as sent.
struct Reference {
  std::string reference;  // literal reference, may be empty (logical reference by identifier)
  Identifier identifier;
  std::string display;
  // "Patient" for "Patient/123" or ".../Patient/123"; "" otherwise.
  std::string Type() const;
  // "123" for "Patient/123" (also with _history); "" otherwise.
  std::string Id() const;
};

// A value[x] of an Observation or component. kind names the choice ("Quantity", "String", ...).
struct Value {
  std::string kind;       // "" when absent; else the [x] suffix: Quantity, CodeableConcept, String,
                          // Boolean, Integer, Range, Ratio, SampledData, Time, DateTime, Period
  Quantity quantity;      // kind Quantity
  CodeableConcept coded;  // kind CodeableConcept
  std::string text;       // kind String, Time, DateTime (as sent)
  std::optional<double> number;  // kind Integer; Boolean as 0/1
  bool present() const { return !kind.empty(); }
};

// ---------------------------------------------------------------- normalised observations

// One mapped value of an Observation in the canonical unit of its quantity (fhir_map.h).
struct NormalizedValue {
  std::string quantity;  // mapping-table name, e.g. "heart_rate", "serum_creatinine"
  double value = 0.0;    // in `unit`
  std::string unit;      // canonical UCUM unit, e.g. "/min", "mg/dL"
  std::string element;   // FHIRPath of the source, e.g. "Observation.component[1].valueQuantity"
  Coding source_code;    // the coding that matched (kept as sent)
  double source_value = 0.0;
  std::string source_unit;  // the unit as sent (Quantity.code, else Quantity.unit)
  bool variant = false;     // the code or unit was a real-data variant (flagged with a warning)
};

// ---------------------------------------------------------------- typed resources

enum class AdministrativeGender { kUnknown, kMale, kFemale, kOther };
const char* ToString(AdministrativeGender g);

struct Patient {
  std::vector<Identifier> identifiers;
  AdministrativeGender gender = AdministrativeGender::kUnknown;
  bool gender_given = false;
  std::optional<DateTime> birth_date;
  bool deceased = false;  // deceasedBoolean true or any deceasedDateTime
  std::optional<DateTime> deceased_date;
  std::string family, given;  // first HumanName, for display
};

struct ObservationComponent {
  CodeableConcept code;
  Value value;
  std::optional<CodeableConcept> data_absent_reason;
};

struct Observation {
  std::string status;  // registered|preliminary|final|amended|corrected|cancelled|
                       // entered-in-error|unknown
  std::vector<CodeableConcept> category;
  CodeableConcept code;
  Reference subject, encounter;
  // effective[x]: dateTime/instant give start only; Period gives start and/or end.
  std::optional<DateTime> effective_start, effective_end;
  std::optional<DateTime> issued;
  Value value;
  std::optional<CodeableConcept> data_absent_reason;
  std::vector<ObservationComponent> components;
  std::vector<Reference> has_member;
  std::vector<NormalizedValue> normalized;  // filled when an observation map is in use
};

struct Dosage {
  Quantity dose;  // dose.value absent when not given
  std::optional<Quantity> rate_quantity;
  std::optional<Ratio> rate_ratio;
  CodeableConcept route;
};

struct MedicationAdministration {
  std::string status;  // in-progress|not-done|on-hold|completed|entered-in-error|stopped|unknown
  CodeableConcept medication_concept;  // medicationCodeableConcept
  Reference medication_reference;      // medicationReference
  Reference subject, context, request;
  std::optional<DateTime> effective_start, effective_end;  // dateTime: start only
  std::optional<Dosage> dosage;
};

struct TimingRepeat {
  std::optional<double> frequency, period;
  std::string period_unit;  // s|min|h|d|wk|mo|a
  std::optional<double> duration;
  std::string duration_unit;
};

struct DosageInstruction {
  std::string text;
  std::optional<TimingRepeat> repeat;
  std::optional<Quantity> dose_quantity;
  std::optional<Quantity> rate_quantity;
  bool as_needed = false;
};

struct MedicationRequest {
  std::string status;  // active|on-hold|cancelled|completed|entered-in-error|stopped|draft|unknown
  std::string intent;  // proposal|plan|order|original-order|reflex-order|filler-order|
                       // instance-order|option
  CodeableConcept medication_concept;
  Reference medication_reference;
  Reference subject, encounter, requester;
  std::optional<DateTime> authored_on;
  std::vector<DosageInstruction> dosage_instructions;
};

struct Condition {
  std::string clinical_status;      // code of clinicalStatus, "" if absent
  std::string verification_status;  // code of verificationStatus, "" if absent
  CodeableConcept code;
  Reference subject, encounter;
  std::optional<DateTime> onset, abatement, recorded_date;  // onsetDateTime etc.
};

struct Encounter {
  std::string status;      // planned|arrived|triaged|in-progress|onleave|finished|cancelled|
                           // entered-in-error|unknown
  Coding encounter_class;  // class
  std::vector<CodeableConcept> type;
  Reference subject;
  Period period;
};

struct OperationOutcomeResource {
  OperationOutcome outcome;
};

// ---------------------------------------------------------------- a read resource

// A reference found in a resource, with the FHIRPath of its Reference element.
struct ReferenceUse {
  std::string path;  // e.g. "Observation.subject"
  std::string reference;
};

struct Resource {
  std::string type;  // resourceType as sent
  std::string id;    // may be empty for a create
  std::string json;  // the resource as compact JSON, after any reference rewriting
  std::vector<Identifier> identifiers;   // top-level identifier(s), for conditional references
  std::vector<ReferenceUse> references;  // every Reference.reference, final form
  // The typed content of a modelled type; monostate for types kept raw.
  std::variant<std::monostate, Patient, Observation, MedicationAdministration, MedicationRequest,
               Condition, Encounter, OperationOutcomeResource>
      typed;
  bool modelled() const { return typed.index() != 0; }
};

// True for the 146 resource type names of FHIR R4 (4.0.1).
bool IsR4ResourceType(std::string_view type);
// True for the types read into typed structs above.
bool IsModelledType(std::string_view type);
// R4 id: [A-Za-z0-9\-.]{1,64}.
bool IsValidId(std::string_view id);

// ---------------------------------------------------------------- reading

struct ReadOptions {
  // Inputs longer than this are rejected before parsing (issue too-long). Bytes; > 0.
  size_t max_bytes = size_t{64} << 20;
  // Deepest allowed nesting of JSON objects and arrays (issue too-costly). Synthea resources
  // reach 8, their bundles 11. 1..10000.
  int max_depth = 64;
  // Stop collecting after this many issues per resource (a final issue says so). >= 1.
  int max_issues = 100;
  // Normalise mapped Observations. nullptr = ObservationMap::Default().
  const ObservationMap* observation_map = nullptr;
  bool normalize = true;
  // Reject real-data variants of codes and units (e.g. BP panel 55284-4, temperature 8331-1,
  // unit "beats/minute") instead of mapping them with a warning.
  bool strict_codes = false;
  // When set: the resource must be of this type (NDJSON files hold one type each).
  std::string expected_type;

  Status Validate() const;  // names the bad option
};

// What became of one resource: accepted (resource set; outcome may hold warnings and
// information) or rejected (no resource; outcome holds at least one error).
struct ResourceOutcome {
  std::optional<Resource> resource;
  OperationOutcome outcome;
  bool accepted() const { return resource.has_value(); }
};

// Reads one resource from JSON text. References are checked for form only: urn:uuid references
// are an error outside a bundle; conditional references ("Organization?identifier=s|v") are
// resolved to "Type/id" through `resolver` when one is given, else an error.
ResourceOutcome ReadResource(std::string_view json, const ReadOptions& options = {},
                             const ReferenceResolver* resolver = nullptr);

// NDJSON (FHIR bulk data): one resource per line; blank lines are skipped. Each line is read as
// by ReadResource; a line without id is rejected (bulk data keeps the sender's ids). When
// `check_reference_targets` is set, every relative reference "Type/id" must exist in `resolver`.
struct NdjsonLine {
  int line = 0;  // 1-based line number in the text
  ResourceOutcome result;
};
struct NdjsonSummary {
  int lines = 0, accepted = 0, rejected = 0, warnings = 0;
  double seconds = 0.0;
};
struct NdjsonResult {
  std::vector<NdjsonLine> lines;  // one per non-blank line
  NdjsonSummary summary;
};
NdjsonResult ReadNdjson(std::string_view text, const ReadOptions& options = {},
                        const ReferenceResolver* resolver = nullptr,
                        bool check_reference_targets = false);

// ---------------------------------------------------------------- doses

// A MedicationAdministration as a dose for a PK model: amount in mg over [start, end]. The
// infusion rate is rate[x] when given (mg/h after conversion), else amount / duration when the
// effective period has both ends and a positive length, else 0 (bolus). Errors name the element:
// status not completed/in-progress, no dosage.dose, a dose or rate unit that is not a mass
// (per time) unit medtwin converts (mg, g, ug, mcg, ng; per h, min, s, d).
struct DoseEvent {
  double amount_mg = 0.0;
  double rate_mg_per_h = 0.0;  // 0 for a bolus
  DateTime start;
  std::optional<DateTime> end;
};
Result<DoseEvent> ToDoseEvent(const MedicationAdministration& administration);

}  // namespace medtwin::fhir

#endif  // MEDTWIN_FHIR_H_
