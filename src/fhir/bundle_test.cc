#include "medtwin/fhir_bundle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "fhir/fhir_test_util.h"

namespace medtwin::fhir {
namespace {

using testing::Dump;
using ::testing::HasSubstr;
constexpr IssueSeverity kError = IssueSeverity::kError;

const char* kP = "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427";
const char* kE = "urn:uuid:6fa459ea-ee8a-3ca4-894e-db77e160355e";

std::string Entry(const std::string& full_url, const std::string& resource,
                  const std::string& method, const std::string& url,
                  const std::string& extra_request = "") {
  std::string e = "{";
  if (!full_url.empty()) e += R"("fullUrl": ")" + full_url + "\", ";
  if (!resource.empty()) e += R"("resource": )" + resource + ", ";
  return e + R"("request": {"method": ")" + method + R"(", "url": ")" + url + "\"" + extra_request +
         "}}";
}

std::string Bundle(const std::string& type, const std::vector<std::string>& entries) {
  std::string s = R"({"resourceType": "Bundle", "type": ")" + type + R"(", "entry": [)";
  for (size_t i = 0; i < entries.size(); ++i) s += (i ? "," : "") + entries[i];
  return s + "]}";
}

const std::string kPatient = R"({"resourceType": "Patient", "gender": "male"})";
const std::string kEncounter = R"({"resourceType": "Encounter", "status": "finished",
  "class": {"code": "IMP"}, "subject": {"reference": "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427"}})";

std::string HeartRate(const std::string& subject, const std::string& encounter = "",
                      const std::string& status = "\"final\"") {
  return R"({"resourceType": "Observation", "status": )" + status + R"(,
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "subject": {"reference": ")" +
         subject + "\"}," +
         (encounter.empty() ? "" : R"("encounter": {"reference": ")" + encounter + "\"},") +
         R"("effectiveDateTime": "2024-03-01T08:00:00Z",
    "valueQuantity": {"value": 72, "system": "http://unitsofmeasure.org", "code": "/min"}})";
}

class BundleTest : public ::testing::Test {
 protected:
  BundleResult Process(const std::string& json) {
    BundleOptions o = options_;
    o.ids = &ids_;
    return ProcessBundle(json, store_, o);
  }
  MemoryResolver store_;
  SequentialIds ids_;
  BundleOptions options_;
};

TEST_F(BundleTest, TransactionRewritesUrnUuidReferencesToAssignedIds) {
  BundleResult r =
      Process(Bundle("transaction", {Entry(kP, kPatient, "POST", "Patient"),
                                     Entry(kE, kEncounter, "POST", "Encounter"),
                                     Entry("", HeartRate(kP, kE), "POST", "Observation")}));
  ASSERT_TRUE(r.ok) << Dump(r.outcome);
  EXPECT_EQ(r.type, BundleType::kTransaction);
  ASSERT_EQ(r.entries.size(), 3u);
  // Ids: the uuid of the urn:uuid fullUrl; a fresh one where there is no fullUrl.
  EXPECT_EQ(r.entries[0].id, "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
  EXPECT_EQ(r.entries[2].id, "mt1");
  EXPECT_EQ(r.entries[2].action, EntryAction::kCreate);
  EXPECT_EQ(r.entries[2].status, "201 Created");
  const Resource& obs = *r.entries[2].resource;
  EXPECT_THAT(obs.json, HasSubstr("\"id\":\"mt1\""));
  EXPECT_THAT(
      obs.json,
      HasSubstr("\"subject\":{\"reference\":\"Patient/1b4e28ba-2fa1-11d2-883f-0016d3cca427\"}"));
  EXPECT_THAT(
      obs.json,
      HasSubstr(
          "\"encounter\":{\"reference\":\"Encounter/6fa459ea-ee8a-3ca4-894e-db77e160355e\"}"));
  EXPECT_EQ(std::get<Observation>(obs.typed).subject.Id(), "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
  EXPECT_EQ(r.summary.references_rewritten, 3);  // Encounter.subject, Observation x2
  EXPECT_EQ(r.summary.accepted, 3);
  EXPECT_EQ(r.summary.by_type.at("Observation").first, 1);
}

TEST_F(BundleTest, TransactionIsAllOrNothing) {
  BundleResult r = Process(
      Bundle("transaction", {Entry(kP, kPatient, "POST", "Patient"),
                             Entry("", HeartRate(kP, "", "\"done\""), "POST", "Observation"),
                             Entry("", HeartRate(kP), "POST", "Observation")}));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.summary.accepted, 0);
  EXPECT_EQ(r.summary.rejected, 3);
  EXPECT_FALSE(r.entries[0].resource.has_value());
  // The failing entry says why; the others say which entry sank the transaction.
  EXPECT_ISSUE(r.entries[1].outcome, kError, "Observation.status", "'done'");
  EXPECT_ISSUE(r.entries[0].outcome, kError, "Bundle.entry[0]",
               "not applied: the transaction failed at Bundle.entry[1] (Observation.status");
  EXPECT_EQ(r.entries[0].outcome.issues().back().code, IssueType::kProcessing);
  EXPECT_EQ(r.entries[1].status, "422 Unprocessable Entity");
  EXPECT_ISSUE(r.outcome, kError, "Bundle.entry[1].resource.status", "'done'");
}

TEST_F(BundleTest, BatchEntriesAreIndependent) {
  BundleResult r = Process(
      Bundle("batch", {Entry("", kPatient, "POST", "Patient"),
                       Entry("", HeartRate("Patient/x", "", "\"done\""), "POST", "Observation"),
                       Entry("", HeartRate("Patient/x"), "POST", "Observation")}));
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.summary.accepted, 2);
  EXPECT_EQ(r.summary.rejected, 1);
  EXPECT_TRUE(r.entries[0].accepted);
  EXPECT_FALSE(r.entries[1].accepted);
  EXPECT_TRUE(r.entries[2].accepted);
  EXPECT_EQ(r.summary.accepted + r.summary.rejected, r.summary.entries);
}

TEST_F(BundleTest, BatchEntriesMayNotReferenceEachOther) {
  BundleResult r = Process(Bundle("batch", {Entry(kP, kPatient, "POST", "Patient"),
                                            Entry("", HeartRate(kP), "POST", "Observation")}));
  EXPECT_TRUE(r.entries[0].accepted);
  EXPECT_FALSE(r.entries[1].accepted);
  EXPECT_ISSUE(r.entries[1].outcome, kError, "Observation.subject.reference",
               "batch entries must not depend on each other");
}

TEST_F(BundleTest, UnknownUrnUuidIsAnInvalidReference) {
  BundleResult r = Process(
      Bundle("transaction", {Entry("", HeartRate("urn:uuid:00000000-0000-4000-8000-000000000000"),
                                   "POST", "Observation")}));
  EXPECT_FALSE(r.ok);
  EXPECT_ISSUE(r.outcome, kError, "Bundle.entry[0].resource.subject.reference",
               "is not the fullUrl of any entry");
}

TEST_F(BundleTest, ConditionalReferencesResolveThroughTheResolver) {
  store_.Add("Organization", "org1", {{"https://github.com/synthetichealth/synthea", "abc"}});
  store_.Add("Organization", "org2", {{"urn:dup", "1"}});
  store_.Add("Organization", "org3", {{"urn:dup", "1"}});
  auto enc = [](const std::string& org) {
    return R"({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
      "serviceProvider": {"reference": ")" +
           org + "\"}}";
  };
  BundleResult ok = Process(Bundle(
      "transaction",
      {Entry("", enc("Organization?identifier=https://github.com/synthetichealth/synthea|abc"),
             "POST", "Encounter")}));
  ASSERT_TRUE(ok.ok) << Dump(ok.outcome);
  EXPECT_THAT(ok.entries[0].resource->json, HasSubstr("\"reference\":\"Organization/org1\""));
  EXPECT_EQ(ok.summary.conditional_references, 1);

  BundleResult none = Process(
      Bundle("batch", {Entry("", enc("Organization?identifier=urn:x|nope"), "POST", "Encounter"),
                       Entry("", enc("Organization?identifier=urn:dup|1"), "POST", "Encounter"),
                       Entry("", enc("Organization?name=x"), "POST", "Encounter")}));
  EXPECT_EQ(none.summary.rejected, 3);
  EXPECT_ISSUE(none.entries[0].outcome, kError, "Encounter.serviceProvider.reference",
               "matches no resource");
  EXPECT_ISSUE(none.entries[1].outcome, kError, "Encounter.serviceProvider.reference",
               "matches 2 resources");
  EXPECT_EQ(none.entries[1].status, "412 Precondition Failed");
  EXPECT_ISSUE(none.entries[2].outcome, kError, "Encounter.serviceProvider.reference",
               "search parameter 'name' is not supported");
}

TEST_F(BundleTest, ConditionalReferenceMayMatchAnEntryOfTheSameTransaction) {
  const std::string org = R"({"resourceType": "Organization",
    "identifier": [{"system": "urn:org", "value": "7"}], "name": "Ward 7"})";
  const std::string enc = R"({"resourceType": "Encounter", "status": "finished",
    "class": {"code": "AMB"}, "serviceProvider": {"reference": "Organization?identifier=urn:org|7"}})";
  BundleResult r = Process(Bundle("transaction", {Entry("", org, "POST", "Organization"),
                                                  Entry("", enc, "POST", "Encounter")}));
  ASSERT_TRUE(r.ok) << Dump(r.outcome);
  EXPECT_THAT(r.entries[1].resource->json,
              HasSubstr("\"reference\":\"Organization/" + r.entries[0].id + "\""));
}

TEST_F(BundleTest, ConditionalCreateThatMatchesCreatesNothing) {
  store_.Add("Practitioner", "pr-existing", {{"http://hl7.org/fhir/sid/us-npi", "999"}});
  const std::string pr = R"({"resourceType": "Practitioner",
    "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "999"}]})";
  const std::string pr2 = R"({"resourceType": "Practitioner",
    "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1000"}]})";
  const std::string enc = R"({"resourceType": "Encounter", "status": "finished",
    "class": {"code": "AMB"}, "participant": [{"individual": {"reference": "urn:uuid:aa"}}]})";
  BundleResult r = Process(Bundle(
      "transaction", {Entry("urn:uuid:aa", pr, "POST", "Practitioner",
                            R"(, "ifNoneExist": "identifier=http://hl7.org/fhir/sid/us-npi|999")"),
                      Entry("", pr2, "POST", "Practitioner",
                            R"(, "ifNoneExist": "identifier=http://hl7.org/fhir/sid/us-npi|1000")"),
                      Entry("", enc, "POST", "Encounter")}));
  ASSERT_TRUE(r.ok) << Dump(r.outcome);
  EXPECT_EQ(r.entries[0].action, EntryAction::kNoop);
  EXPECT_EQ(r.entries[0].id, "pr-existing");
  EXPECT_EQ(r.entries[0].status, "200 OK");
  EXPECT_FALSE(r.entries[0].resource.has_value());
  EXPECT_EQ(r.entries[1].action, EntryAction::kCreate);
  // The reference to the matched entry's fullUrl points at the existing resource.
  EXPECT_THAT(r.entries[2].resource->json, HasSubstr("\"reference\":\"Practitioner/pr-existing\""));
}

TEST_F(BundleTest, PutDeleteAndUnsupportedMethods) {
  store_.Add("Patient", "p9", {{"urn:mrn", "9"}});
  BundleResult r = Process(
      Bundle("batch", {Entry("", R"({"resourceType": "Patient", "id": "p1", "gender": "female"})",
                             "PUT", "Patient/p1"),
                       Entry("", R"({"resourceType": "Patient", "id": "p2"})", "PUT", "Patient/p1"),
                       Entry("", R"({"resourceType": "Patient", "gender": "other"})", "PUT",
                             "Patient?identifier=urn:mrn|9"),
                       Entry("", R"({"resourceType": "Patient", "id": "new1"})", "PUT",
                             "Patient?identifier=urn:mrn|10"),
                       Entry("", "", "DELETE", "Patient/p3"), Entry("", "", "GET", "Patient/p1"),
                       Entry("", "", "DELETE", "Patient?identifier=urn:mrn|77")}));
  EXPECT_EQ(r.entries[0].action, EntryAction::kUpdate);
  EXPECT_EQ(r.entries[0].id, "p1");
  EXPECT_FALSE(r.entries[1].accepted);
  EXPECT_ISSUE(r.entries[1].outcome, kError, "Bundle.entry[1].resource.id", "does not match");
  EXPECT_EQ(r.entries[2].action, EntryAction::kUpdate);
  EXPECT_EQ(r.entries[2].id, "p9");  // conditional update found p9
  EXPECT_THAT(r.entries[2].resource->json, HasSubstr("\"id\":\"p9\""));
  EXPECT_EQ(r.entries[3].action, EntryAction::kCreate);  // matched nothing: created
  EXPECT_EQ(r.entries[3].id, "new1");
  EXPECT_EQ(r.entries[4].action, EntryAction::kDelete);
  EXPECT_TRUE(r.entries[4].accepted);
  EXPECT_FALSE(r.entries[5].accepted);
  EXPECT_EQ(r.entries[5].status, "405 Method Not Allowed");
  EXPECT_ISSUE(r.entries[5].outcome, kError, "Bundle.entry[5].request.method", "'GET'");
  EXPECT_EQ(r.entries[6].action, EntryAction::kNoop);  // conditional delete without a match
  EXPECT_TRUE(r.entries[6].accepted);
}

TEST_F(BundleTest, EntryStructureErrors) {
  BundleResult r = Process(
      Bundle("batch",
             {Entry(kP, kPatient, "POST", "Patient"), Entry(kP, kPatient, "POST", "Patient"),
              R"({"resource": {"resourceType": "Patient"}})", "17",
              Entry("", kPatient, "POST", "Patient/p1"), Entry("", kPatient, "POST", "Observation"),
              Entry("", "", "POST", "Patient"), Entry("", kPatient, "POST", "Patinet")}));
  EXPECT_ISSUE(r.entries[1].outcome, kError, "Bundle.entry[1].fullUrl", "bdl-7");
  EXPECT_ISSUE(r.entries[2].outcome, kError, "Bundle.entry[2].request", "bdl-3");
  EXPECT_ISSUE(r.entries[3].outcome, kError, "Bundle.entry[3]", "an entry is a JSON object");
  EXPECT_ISSUE(r.entries[4].outcome, kError, "Bundle.entry[4].request.url", "the type alone");
  EXPECT_ISSUE(r.entries[5].outcome, kError, "Bundle.entry[5].resource.resourceType",
               "request.url names Observation");
  EXPECT_ISSUE(r.entries[6].outcome, kError, "Bundle.entry[6].resource", "POST needs a resource");
  EXPECT_ISSUE(r.entries[7].outcome, kError, "Bundle.entry[7].request.url", "R4 resource type");
  EXPECT_EQ(r.summary.rejected, 7);
  EXPECT_EQ(r.summary.accepted, 1);
}

TEST_F(BundleTest, BundleLevelErrors) {
  EXPECT_ISSUE(Process("{").outcome, kError, "Bundle", "malformed JSON");
  EXPECT_ISSUE(Process(kPatient).outcome, kError, "Bundle.resourceType", "found 'Patient'");
  BundleResult coll = Process(Bundle("collection", {}));
  EXPECT_FALSE(coll.ok);
  EXPECT_ISSUE(coll.outcome, kError, "Bundle.type", "only transaction and batch");
  EXPECT_ISSUE(Process(R"({"resourceType": "Bundle", "type": "batch", "entry": {}})").outcome,
               kError, "Bundle.entry", "must be an array");
  EXPECT_ISSUE(Process(R"({"resourceType": "Bundle"})").outcome, kError, "Bundle.type", "required");
  BundleResult empty = Process(Bundle("transaction", {}));
  EXPECT_TRUE(empty.ok);
  EXPECT_EQ(empty.summary.entries, 0);
  std::string deep = R"({"resourceType": "Bundle", "type": "batch", "entry": )";
  deep += std::string(1000, '[') + std::string(1000, ']') + "}";
  BundleResult d = Process(deep);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.outcome.issues()[0].code, IssueType::kTooCostly);
  BundleOptions no_ids;
  EXPECT_THAT(ProcessBundle(Bundle("batch", {}), store_, no_ids).outcome.FirstError(),
              HasSubstr("BundleOptions.ids"));
}

TEST_F(BundleTest, SequentialIdsWhenUrnUuidsAreNotKept) {
  options_.id_from_urn_uuid = false;
  BundleResult r =
      Process(Bundle("transaction", {Entry(kP, kPatient, "POST", "Patient"),
                                     Entry("", HeartRate(kP), "POST", "Observation")}));
  ASSERT_TRUE(r.ok) << Dump(r.outcome);
  EXPECT_EQ(r.entries[0].id, "mt1");
  EXPECT_THAT(r.entries[1].resource->json, HasSubstr("\"reference\":\"Patient/mt1\""));
}

TEST_F(BundleTest, ReferenceTargetsCheckedWhenAsked) {
  options_.check_reference_targets = true;
  store_.Add("Patient", "known", {});
  BundleResult r = Process(
      Bundle("batch", {Entry("", HeartRate("Patient/known"), "POST", "Observation"),
                       Entry("", HeartRate("Patient/unknown"), "POST", "Observation"),
                       Entry("", R"({"resourceType": "Patient", "id": "p5"})", "PUT", "Patient/p5"),
                       Entry("", HeartRate("Patient/p5"), "POST", "Observation")}));
  EXPECT_TRUE(r.entries[0].accepted);
  EXPECT_FALSE(r.entries[1].accepted);
  EXPECT_ISSUE(r.entries[1].outcome, kError, "Observation.subject.reference", "no known resource");
  EXPECT_TRUE(r.entries[3].accepted);  // an entry of the same bundle counts
}

TEST(SearchQuery, ParsesAndDecodes) {
  Result<SearchQuery> q = SearchQuery::Parse(
      "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi%7C9999974394&_id=a");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->type, "Practitioner");
  ASSERT_EQ(q->params.size(), 2u);
  EXPECT_EQ(q->params[0].second, "http://hl7.org/fhir/sid/us-npi|9999974394");
  EXPECT_EQ(q->ToString(),
            "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999974394&_id=a");
  EXPECT_FALSE(SearchQuery::Parse("Practitioner").ok());
  EXPECT_FALSE(SearchQuery::Parse("Nope?identifier=1").ok());
  EXPECT_FALSE(SearchQuery::Parse("Patient?identifier=").ok());
  EXPECT_FALSE(SearchQuery::Parse("Patient?=1").ok());
  EXPECT_FALSE(SearchQuery::Parse("Patient?identifier=%zz").ok());
}

TEST(IdentifierToken, SystemValueForms) {
  const std::vector<Identifier> ids = {{"urn:a", "1"}, {"", "2"}};
  EXPECT_TRUE(IdentifierMatches(ids, "urn:a|1"));
  EXPECT_FALSE(IdentifierMatches(ids, "urn:b|1"));
  EXPECT_TRUE(IdentifierMatches(ids, "1"));   // any system
  EXPECT_TRUE(IdentifierMatches(ids, "|2"));  // no system
  EXPECT_FALSE(IdentifierMatches(ids, "|1"));
}

TEST(MemoryResolver, AddRemoveSearch) {
  MemoryResolver m;
  m.Add("Patient", "a", {{"urn:mrn", "1"}});
  m.Add("Patient", "b", {{"urn:mrn", "1"}, {"urn:ssn", "x"}});
  m.Add("Patient", "b", {{"urn:mrn", "2"}});  // replaces b's identifiers
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(*m.Search(*SearchQuery::Parse("Patient?identifier=urn:mrn|1")),
            std::vector<std::string>{"a"});
  EXPECT_TRUE(m.Search(*SearchQuery::Parse("Patient?identifier=x")).value().empty());
  EXPECT_EQ(*m.Search(*SearchQuery::Parse("Patient?_id=b")), std::vector<std::string>{"b"});
  m.Remove("Patient", "a");
  EXPECT_TRUE(m.Search(*SearchQuery::Parse("Patient?identifier=urn:mrn|1")).value().empty());
  EXPECT_FALSE(*m.Exists("Patient", "a"));
  EXPECT_TRUE(*m.Exists("Patient", "b"));
  EXPECT_EQ(m.Search(*SearchQuery::Parse("Patient?name=x")).status().code(),
            StatusCode::kUnsupported);
}

}  // namespace
}  // namespace medtwin::fhir
