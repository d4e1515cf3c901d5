#include "medtwin/fhir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "fhir/fhir_test_util.h"
#include "medtwin/fhir_bundle.h"
#include "medtwin/fhir_capability.h"

namespace medtwin::fhir {
namespace {

using testing::Dump;
using ::testing::HasSubstr;
constexpr IssueSeverity kError = IssueSeverity::kError;

// ---------------------------------------------------------------- dateTime

TEST(DateTime, FullDateTimeWithZoneIsUtcMilliseconds) {
  // 2016-09-13T06:53:25+00:00: 17,057 days after 1970-01-01 (2016-09-13 is day 17057), plus
  // 6 h 53 min 25 s.
  Result<DateTime> t = ParseDateTime("2016-09-13T06:53:25+00:00");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->epoch_ms, (17057LL * 86400 + 6 * 3600 + 53 * 60 + 25) * 1000);
  EXPECT_EQ(t->precision, DateTime::Precision::kSecond);
  // The same instant written in another zone and with milliseconds.
  Result<DateTime> u = ParseDateTime("2016-09-13T02:53:25.250-04:00");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->epoch_ms, t->epoch_ms + 250);
}

TEST(DateTime, PartialDatesKeepPrecision) {
  Result<DateTime> y = ParseDateTime("1970");
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->epoch_ms, 0);
  EXPECT_EQ(y->precision, DateTime::Precision::kYear);
  Result<DateTime> m = ParseDateTime("1970-02", "date");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->epoch_ms, 31LL * 86400000);
  EXPECT_EQ(m->precision, DateTime::Precision::kMonth);
}

TEST(DateTime, RejectsImpossibleAndZonelessTimes) {
  EXPECT_THAT(ParseDateTime("2019-02-29").status().message(), HasSubstr("does not exist"));
  EXPECT_THAT(ParseDateTime("2019-13-01").status().message(), HasSubstr("month 13"));
  EXPECT_THAT(ParseDateTime("2019-01-01T10:00:00").status().message(), HasSubstr("time zone"));
  EXPECT_THAT(ParseDateTime("2019-01-01T10:00:00Z", "date").status().message(),
              HasSubstr("a date has no time"));
  EXPECT_THAT(ParseDateTime("2019-01-01", "instant").status().message(), HasSubstr("instant"));
  EXPECT_FALSE(ParseDateTime("2019-01-01T24:00:00Z").ok());
  EXPECT_FALSE(ParseDateTime("19-01-01").ok());
  EXPECT_FALSE(ParseDateTime("2019-01-01T10:00:00Zjunk").ok());
}

// ---------------------------------------------------------------- resource types and ids

TEST(ResourceTypes, R4ListIsSortedAndComplete) {
  EXPECT_TRUE(IsR4ResourceType("Observation"));
  EXPECT_TRUE(IsR4ResourceType("ExplanationOfBenefit"));
  EXPECT_TRUE(IsR4ResourceType("VisionPrescription"));  // last in the R4 list
  EXPECT_TRUE(IsR4ResourceType("Account"));             // first
  EXPECT_FALSE(IsR4ResourceType("observation"));
  EXPECT_FALSE(IsR4ResourceType("Patinet"));
  EXPECT_FALSE(IsR4ResourceType("NutritionIntake"));  // R5 only
}

TEST(ResourceTypes, Ids) {
  EXPECT_TRUE(IsValidId("a0a14713-50c4-3818-b0cb-8c2047f1458c"));
  EXPECT_TRUE(IsValidId(std::string(64, 'x')));
  EXPECT_FALSE(IsValidId(std::string(65, 'x')));
  EXPECT_FALSE(IsValidId("has space"));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId(""));
}

// ---------------------------------------------------------------- typed resources

const char* kHeartRate = R"({
  "resourceType": "Observation", "id": "hr1", "status": "final",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Heart rate"},
  "subject": {"reference": "Patient/p1"},
  "effectiveDateTime": "2024-03-01T08:00:00Z",
  "valueQuantity": {"value": 72, "unit": "beats/min", "system": "http://unitsofmeasure.org",
                    "code": "/min"}
})";

TEST(ReadResource, ObservationIsTypedAndKeptAsJson) {
  ResourceOutcome r = ReadResource(kHeartRate);
  ASSERT_TRUE(r.accepted()) << Dump(r.outcome);
  EXPECT_EQ(r.resource->type, "Observation");
  EXPECT_EQ(r.resource->id, "hr1");
  const auto& obs = std::get<Observation>(r.resource->typed);
  EXPECT_EQ(obs.status, "final");
  EXPECT_EQ(obs.subject.Type(), "Patient");
  EXPECT_EQ(obs.subject.Id(), "p1");
  ASSERT_TRUE(obs.effective_start.has_value());
  EXPECT_EQ(obs.value.kind, "Quantity");
  EXPECT_DOUBLE_EQ(*obs.value.quantity.value, 72.0);
  ASSERT_EQ(obs.normalized.size(), 1u);
  EXPECT_EQ(obs.normalized[0].quantity, "heart_rate");
  ASSERT_EQ(r.resource->references.size(), 1u);
  EXPECT_EQ(r.resource->references[0].path, "Observation.subject");
  // The stored JSON is the resource itself, elements medtwin does not read included.
  EXPECT_THAT(r.resource->json, HasSubstr("\"text\":\"Heart rate\""));
}

TEST(ReadResource, BloodPressureComponentsAndDataAbsentReason) {
  ResourceOutcome r = ReadResource(R"({
    "resourceType": "Observation", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "subject": {"reference": "Patient/p1"},
    "effectivePeriod": {"start": "2024-03-01T08:00:00Z", "end": "2024-03-01T08:05:00Z"},
    "component": [
      {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
       "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
      {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
       "dataAbsentReason": {"coding": [{"code": "error"}]}}]})");
  ASSERT_TRUE(r.accepted()) << Dump(r.outcome);
  const auto& obs = std::get<Observation>(r.resource->typed);
  ASSERT_EQ(obs.components.size(), 2u);
  EXPECT_TRUE(obs.components[1].data_absent_reason.has_value());
  EXPECT_EQ(obs.effective_end->epoch_ms - obs.effective_start->epoch_ms, 5 * 60 * 1000);
  ASSERT_EQ(obs.normalized.size(), 1u);  // the diastolic is absent
  EXPECT_EQ(obs.normalized[0].element, "Observation.component[0].valueQuantity");
  EXPECT_ISSUE(r.outcome, IssueSeverity::kInformation, "Observation.component[1].dataAbsentReason",
               "diastolic_bp absent: error");
}

TEST(ReadResource, ObservationInvariantsAndRequiredElements) {
  ResourceOutcome r = ReadResource(R"({
    "resourceType": "Observation",
    "valueString": "x", "valueBoolean": true,
    "dataAbsentReason": {"text": "asked but unknown"}})");
  EXPECT_FALSE(r.accepted());
  EXPECT_ISSUE(r.outcome, kError, "Observation.status", "required element is missing");
  EXPECT_ISSUE(r.outcome, kError, "Observation.code", "required element is missing");
  EXPECT_ISSUE(r.outcome, kError, "", "value[x] may appear once");
  EXPECT_ISSUE(r.outcome, kError, "Observation.dataAbsentReason", "obs-6");
}

TEST(ReadResource, BadCodesAndTypesNameTheElement) {
  ResourceOutcome r = ReadResource(R"({
    "resourceType": "Observation", "status": "done",
    "code": {"coding": {"system": "http://loinc.org", "code": "8867-4"}},
    "issued": "2024-03-01"})");
  EXPECT_FALSE(r.accepted());
  EXPECT_ISSUE(r.outcome, kError, "Observation.status", "'done' is not one of: registered");
  EXPECT_ISSUE(r.outcome, kError, "Observation.code.coding", "must be an array, found an object");
  EXPECT_ISSUE(r.outcome, kError, "Observation.issued", "an instant needs a time");
}

TEST(ReadResource, Patient) {
  ResourceOutcome r = ReadResource(R"({
    "resourceType": "Patient", "id": "p1",
    "identifier": [{"system": "urn:mrn", "value": "123"}],
    "name": [{"family": "Doe", "given": ["Jane", "Q"]}],
    "gender": "female", "birthDate": "1950-06-15", "deceasedBoolean": false})");
  ASSERT_TRUE(r.accepted()) << Dump(r.outcome);
  const auto& p = std::get<Patient>(r.resource->typed);
  EXPECT_EQ(p.gender, AdministrativeGender::kFemale);
  EXPECT_EQ(p.birth_date->text, "1950-06-15");
  EXPECT_EQ(p.family, "Doe");
  EXPECT_EQ(p.given, "Jane");
  ASSERT_EQ(r.resource->identifiers.size(), 1u);
  EXPECT_EQ(r.resource->identifiers[0].value, "123");

  ResourceOutcome bad =
      ReadResource(R"({"resourceType": "Patient", "gender": "f", "birthDate": "1950-02-30"})");
  EXPECT_FALSE(bad.accepted());
  EXPECT_ISSUE(bad.outcome, kError, "Patient.gender", "'f' is not one of");
  EXPECT_ISSUE(bad.outcome, kError, "Patient.birthDate", "does not exist");
}

TEST(ReadResource, MedicationAdministrationDoseRateAndPeriod) {
  ResourceOutcome r = ReadResource(R"({
    "resourceType": "MedicationAdministration", "status": "completed",
    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                              "code": "11124"}], "text": "vancomycin"},
    "subject": {"reference": "Patient/p1"},
    "effectivePeriod": {"start": "2024-03-01T08:00:00Z", "end": "2024-03-01T09:30:00Z"},
    "dosage": {"dose": {"value": 1.5, "unit": "g", "system": "http://unitsofmeasure.org",
                        "code": "g"}}})");
  ASSERT_TRUE(r.accepted()) << Dump(r.outcome);
  const auto& ma = std::get<MedicationAdministration>(r.resource->typed);
  Result<DoseEvent> dose = ToDoseEvent(ma);
  ASSERT_TRUE(dose.ok()) << dose.status().ToString();
  EXPECT_DOUBLE_EQ(dose->amount_mg, 1500.0);
  EXPECT_DOUBLE_EQ(dose->rate_mg_per_h, 1000.0);  // 1500 mg over 1.5 h

  ResourceOutcome rate = ReadResource(R"({
    "resourceType": "MedicationAdministration", "status": "in-progress",
    "medicationReference": {"reference": "Medication/vanco"},
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2024-03-01T08:00:00Z",
    "dosage": {"dose": {"value": 1000, "system": "http://unitsofmeasure.org", "code": "mg"},
               "rateRatio": {"numerator": {"value": 500, "system": "http://unitsofmeasure.org",
                                           "code": "mg"},
                             "denominator": {"value": 30, "system": "http://unitsofmeasure.org",
                                             "code": "min"}}}})");
  ASSERT_TRUE(rate.accepted()) << Dump(rate.outcome);
  Result<DoseEvent> d2 = ToDoseEvent(std::get<MedicationAdministration>(rate.resource->typed));
  ASSERT_TRUE(d2.ok());
  EXPECT_DOUBLE_EQ(d2->rate_mg_per_h, 1000.0);  // 500 mg per 30 min

  MedicationAdministration ml = std::get<MedicationAdministration>(r.resource->typed);
  ml.dosage->dose.code = "mL";
  EXPECT_THAT(ToDoseEvent(ml).status().message(),
              HasSubstr("MedicationAdministration.dosage.dose.code: unit 'mL' is not a mass"));
}

TEST(ReadResource, MedicationAdministrationRequiredElements) {
  ResourceOutcome r = ReadResource(
      R"({"resourceType": "MedicationAdministration", "status": "completed",
          "dosage": {"route": {"text": "IV"}}})");
  EXPECT_FALSE(r.accepted());
  EXPECT_ISSUE(r.outcome, kError, "MedicationAdministration.medication[x]", "required");
  EXPECT_ISSUE(r.outcome, kError, "MedicationAdministration.subject", "required");
  EXPECT_ISSUE(r.outcome, kError, "MedicationAdministration.effective[x]", "required");
  EXPECT_ISSUE(r.outcome, kError, "MedicationAdministration.dosage", "mad-1");
}

TEST(ReadResource, MedicationRequestConditionEncounter) {
  ResourceOutcome mr = ReadResource(R"({
    "resourceType": "MedicationRequest", "status": "active", "intent": "order",
    "medicationCodeableConcept": {"text": "vancomycin 1 g IV q12h"},
    "subject": {"reference": "Patient/p1"}, "authoredOn": "2024-03-01T07:00:00Z",
    "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}},
                           "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "g"}}]}]})");
  ASSERT_TRUE(mr.accepted()) << Dump(mr.outcome);
  const auto& req = std::get<MedicationRequest>(mr.resource->typed);
  ASSERT_EQ(req.dosage_instructions.size(), 1u);
  EXPECT_EQ(req.dosage_instructions[0].repeat->period_unit, "h");
  EXPECT_DOUBLE_EQ(*req.dosage_instructions[0].dose_quantity->value, 1.0);

  ResourceOutcome no_intent = ReadResource(R"({"resourceType": "MedicationRequest",
    "status": "active", "medicationCodeableConcept": {"text": "x"},
    "subject": {"reference": "Patient/p1"}})");
  EXPECT_ISSUE(no_intent.outcome, kError, "MedicationRequest.intent", "required");

  ResourceOutcome cond = ReadResource(R"({"resourceType": "Condition",
    "clinicalStatus": {"coding": [{"code": "active"}]},
    "subject": {"reference": "Patient/p1"}, "abatementDateTime": "2020-01-01"})");
  EXPECT_FALSE(cond.accepted());
  EXPECT_ISSUE(cond.outcome, kError, "Condition.clinicalStatus", "con-4");

  ResourceOutcome enc = ReadResource(R"({"resourceType": "Encounter", "status": "finished",
    "class": {"code": "IMP"}, "period": {"start": "2020-01-02", "end": "2020-01-01"}})");
  EXPECT_FALSE(enc.accepted());
  EXPECT_ISSUE(enc.outcome, kError, "Encounter.period", "per-1");
}

TEST(ReadResource, UnmodelledTypesAreKeptRaw) {
  ResourceOutcome r = ReadResource(R"({"resourceType": "Claim", "id": "c1",
    "status": "active", "anything": {"nested": [1, 2, 3]}})");
  ASSERT_TRUE(r.accepted()) << Dump(r.outcome);
  EXPECT_FALSE(r.resource->modelled());
  EXPECT_THAT(r.resource->json, HasSubstr("\"anything\":{\"nested\":[1,2,3]}"));
}

TEST(ReadResource, OperationOutcomeRoundTrips) {
  OperationOutcome o;
  o.Error(IssueType::kCodeInvalid, "Observation.valueQuantity.code", "unit 'bpm' is not accepted");
  ResourceOutcome r = ReadResource(o.ToJson());
  ASSERT_TRUE(r.accepted()) << Dump(r.outcome);
  const auto& back = std::get<OperationOutcomeResource>(r.resource->typed).outcome;
  ASSERT_EQ(back.issues().size(), 1u);
  EXPECT_EQ(back.issues()[0].code, IssueType::kCodeInvalid);
  EXPECT_EQ(back.FirstError(), "Observation.valueQuantity.code: unit 'bpm' is not accepted");
}

// ---------------------------------------------------------------- bad input

TEST(BadInput, MalformedJsonWrongTypeAndMissingResourceType) {
  ResourceOutcome a = ReadResource(R"({"resourceType": "Patient", )");
  EXPECT_FALSE(a.accepted());
  EXPECT_ISSUE(a.outcome, kError, "Resource", "malformed JSON");
  EXPECT_EQ(a.outcome.issues()[0].code, IssueType::kStructure);

  ResourceOutcome b = ReadResource(R"({"resourceType": "Patinet"})");
  EXPECT_ISSUE(b.outcome, kError, "Resource.resourceType", "'Patinet' is not a FHIR R4");
  ResourceOutcome c = ReadResource(R"({"id": "x"})");
  EXPECT_ISSUE(c.outcome, kError, "Resource.resourceType", "required");
  ResourceOutcome d = ReadResource(R"([1, 2])");
  EXPECT_ISSUE(d.outcome, kError, "Resource", "found an array");
  ResourceOutcome e = ReadResource("\"\xff\xfe\"");  // invalid UTF-8
  EXPECT_ISSUE(e.outcome, kError, "Resource", "malformed JSON");
  // A number beyond double's range (found by fuzz/fhir_fuzz.cc): an issue, not an exception.
  ResourceOutcome g = ReadResource("51e449");
  EXPECT_FALSE(g.accepted());
  EXPECT_ISSUE(g.outcome, kError, "Resource", "number overflow");
  ResourceOutcome h = ReadResource(R"({"resourceType":"Patient","x":1e999})");
  EXPECT_FALSE(h.accepted());
  EXPECT_ISSUE(h.outcome, kError, "Resource", "malformed JSON");

  ReadOptions patients_only;
  patients_only.expected_type = "Patient";
  ResourceOutcome f = ReadResource(kHeartRate, patients_only);
  EXPECT_ISSUE(f.outcome, kError, "Resource.resourceType", "expected a Patient");
}

TEST(BadInput, JsonFormatRules) {
  ResourceOutcome r = ReadResource(R"({"resourceType": "Patient", "id": "bad id",
    "name": [], "telecom": [{}], "gender": null, "address": [{"city": "  "}]})");
  EXPECT_FALSE(r.accepted());
  EXPECT_ISSUE(r.outcome, kError, "Patient.id", "not a valid id");
  EXPECT_ISSUE(r.outcome, kError, "Patient.name", "empty arrays");
  EXPECT_ISSUE(r.outcome, kError, "Patient.telecom[0]", "empty objects");
  EXPECT_ISSUE(r.outcome, kError, "Patient.gender", "null");
  EXPECT_ISSUE(r.outcome, kError, "Patient.address[0].city", "blank");
  // null aligns a primitive array with its extensions: allowed there.
  ResourceOutcome ok = ReadResource(R"({"resourceType": "Patient", "name": [{
    "given": ["A", null], "_given": [null, {"extension": [{"url": "http://x", "valueString": "y"}]}]}]})");
  EXPECT_TRUE(ok.accepted()) << Dump(ok.outcome);
}

TEST(BadInput, DeepNestingIsRejectedBeforeParsing) {
  std::string deep = R"({"resourceType": "Basic", "extension": )";
  for (int i = 0; i < 100000; ++i) deep += "[";
  ResourceOutcome r = ReadResource(deep);  // also unterminated: the depth check comes first
  EXPECT_FALSE(r.accepted());
  EXPECT_ISSUE(r.outcome, kError, "Resource", "nesting deeper than the limit of 64");
  EXPECT_EQ(r.outcome.issues()[0].code, IssueType::kTooCostly);
  // Brackets inside strings do not count.
  std::string in_string = R"({"resourceType": "Basic", "id": "b", "code": {"text": ")" +
                          std::string(200, '[') + R"("}})";
  EXPECT_TRUE(ReadResource(in_string).accepted());
}

TEST(BadInput, OversizedInputIsRejectedBeforeParsing) {
  ReadOptions small;
  small.max_bytes = 1000;
  std::string big =
      R"({"resourceType": "Basic", "code": {"text": ")" + std::string(2000, 'x') + R"("}})";
  ResourceOutcome r = ReadResource(big, small);
  EXPECT_FALSE(r.accepted());
  EXPECT_ISSUE(r.outcome, kError, "Resource", "exceeds the limit of 1000 bytes");
  EXPECT_EQ(r.outcome.issues()[0].code, IssueType::kTooLong);
}

TEST(BadInput, IssueCountIsCapped) {
  std::string many = R"({"resourceType": "Patient", "telecom": [)";
  for (int i = 0; i < 500; ++i) many += std::string(i ? "," : "") + "{}";
  many += "]}";
  ReadOptions o;
  o.max_issues = 10;
  ResourceOutcome r = ReadResource(many, o);
  EXPECT_FALSE(r.accepted());
  EXPECT_EQ(r.outcome.CountErrors(), 10);
  EXPECT_ISSUE(r.outcome, IssueSeverity::kInformation, "", "more than 10 issues");
}

TEST(BadInput, InvalidReferences) {
  ResourceOutcome r = ReadResource(R"({"resourceType": "Observation", "status": "final",
    "code": {"text": "x"},
    "subject": {"reference": "Patient"},
    "encounter": {"reference": "urn:uuid:0c3a9f4e-0000-4000-8000-000000000000"},
    "performer": [{"reference": "#missing"}, {"reference": "Practitioner?identifier=x|1"},
                  {"reference": "Patinet/1"}]})");
  EXPECT_FALSE(r.accepted());
  EXPECT_ISSUE(r.outcome, kError, "Observation.subject.reference", "invalid reference 'Patient'");
  EXPECT_ISSUE(r.outcome, kError, "Observation.encounter.reference",
               "only meaningful inside a Bundle");
  EXPECT_ISSUE(r.outcome, kError, "Observation.performer[0].reference", "no contained resource");
  EXPECT_ISSUE(r.outcome, kError, "Observation.performer[1].reference", "needs a resolver");
  EXPECT_ISSUE(r.outcome, kError, "Observation.performer[2].reference", "invalid reference");
}

TEST(BadInput, OptionsAreValidated) {
  ReadOptions o;
  o.max_depth = 0;
  ResourceOutcome r = ReadResource(kHeartRate, o);
  EXPECT_FALSE(r.accepted());
  EXPECT_THAT(r.outcome.FirstError(), HasSubstr("ReadOptions.max_depth"));
}

// ---------------------------------------------------------------- references through a resolver

TEST(References, ConditionalReferenceResolvedThroughResolver) {
  MemoryResolver store;
  store.Add("Practitioner", "pr7", {{"http://hl7.org/fhir/sid/us-npi", "9999974394"}});
  ResourceOutcome r = ReadResource(R"({"resourceType": "Encounter", "status": "finished",
    "class": {"code": "AMB"},
    "participant": [{"individual": {
      "reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi%7C9999974394"}}]})",
                                   {}, &store);
  ASSERT_TRUE(r.accepted()) << Dump(r.outcome);
  EXPECT_THAT(r.resource->json, HasSubstr("\"reference\":\"Practitioner/pr7\""));
  ASSERT_EQ(r.resource->references.size(), 1u);
  EXPECT_EQ(r.resource->references[0].reference, "Practitioner/pr7");
  EXPECT_EQ(r.resource->references[0].path, "Encounter.participant[0].individual");
}

// ---------------------------------------------------------------- NDJSON

TEST(Ndjson, EachLineAcceptedOrRejectedWithItsLineNumber) {
  const std::string text =
      "{\"resourceType\":\"Patient\",\"id\":\"a\"}\n"
      "\n"
      "{\"resourceType\":\"Patient\"}\r\n"
      "{\"resourceType\":\"Patient\",\"id\":\"c\"\n"
      "{\"resourceType\":\"Observation\",\"id\":\"d\",\"status\":\"final\",\"code\":{\"text\":"
      "\"x\"}}";
  ReadOptions o;
  o.expected_type = "Patient";
  NdjsonResult r = ReadNdjson(text, o);
  EXPECT_EQ(r.summary.lines, 4);
  EXPECT_EQ(r.summary.accepted, 1);
  EXPECT_EQ(r.summary.rejected, 3);
  ASSERT_EQ(r.lines.size(), 4u);
  EXPECT_EQ(r.lines[1].line, 3);
  EXPECT_ISSUE(r.lines[1].result.outcome, kError, "Patient.id", "required");
  EXPECT_ISSUE(r.lines[2].result.outcome, kError, "Resource", "malformed JSON");
  EXPECT_ISSUE(r.lines[3].result.outcome, kError, "Resource.resourceType", "expected a Patient");
}

TEST(Ndjson, ReferenceTargetsCheckedWhenAsked) {
  MemoryResolver store;
  store.Add("Patient", "p1", {});
  const std::string text =
      R"({"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"}})"
      "\n"
      R"({"resourceType":"Condition","id":"c2","subject":{"reference":"Patient/p2"}})";
  NdjsonResult loose = ReadNdjson(text, {}, &store, false);
  EXPECT_EQ(loose.summary.accepted, 2);
  NdjsonResult strict = ReadNdjson(text, {}, &store, true);
  EXPECT_EQ(strict.summary.accepted, 1);
  EXPECT_ISSUE(strict.lines[1].result.outcome, kError, "Condition.subject.reference",
               "'Patient/p2' names no known resource");
}

// ---------------------------------------------------------------- OperationOutcome and
// capabilities

TEST(Outcome, JsonAndStatus) {
  OperationOutcome o;
  EXPECT_THAT(o.ToJson(), HasSubstr("\"diagnostics\":\"ok\""));
  EXPECT_TRUE(o.ToStatus().ok());
  o.Warning(IssueType::kCodeInvalid, "Observation.valueQuantity.code", "variant");
  o.Error(IssueType::kRequired, "Observation.status", "required element is missing");
  o.Error(IssueType::kValue, "Observation.code", "x");
  EXPECT_EQ(o.ToStatus().message(),
            "Observation.status: required element is missing (and 1 more errors)");
  EXPECT_THAT(o.ToJson(), HasSubstr("{\"code\":\"required\",\"diagnostics\":\"required element is "
                                    "missing\",\"expression\":[\"Observation.status\"],"
                                    "\"severity\":\"error\"}"));
  OperationOutcome in_bundle;
  in_bundle.Append(o, "Bundle.entry[3].resource");
  EXPECT_EQ(in_bundle.issues()[1].expression[0], "Bundle.entry[3].resource.status");
}

TEST(Capability, StatementListsResourcesAndSystemInteractions) {
  CapabilityOptions o;
  o.date = "2026-11-25";
  o.base_url = "http://127.0.0.1:8080/fhir";
  o.resources = DefaultResources();
  Result<std::string> cs = CapabilityStatementJson(o);
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  ResourceOutcome r = ReadResource(*cs);  // itself a valid resource
  EXPECT_TRUE(r.accepted()) << Dump(r.outcome);
  EXPECT_THAT(*cs, HasSubstr("\"fhirVersion\":\"4.0.1\""));
  EXPECT_THAT(*cs, HasSubstr("{\"code\":\"transaction\"},{\"code\":\"batch\"}"));
  EXPECT_THAT(*cs, HasSubstr("\"type\":\"MedicationAdministration\""));

  o.resources.push_back(o.resources[0]);
  EXPECT_THAT(CapabilityStatementJson(o).status().message(), HasSubstr("Patient twice"));
  o.resources.pop_back();
  o.resources[0].interactions.push_back("search-all");
  EXPECT_THAT(CapabilityStatementJson(o).status().message(),
              HasSubstr("unknown interaction 'search-all'"));
  o.date = "";
  EXPECT_THAT(CapabilityStatementJson(o).status().message(), HasSubstr("date: required"));
}

}  // namespace
}  // namespace medtwin::fhir
