#include "medtwin/fhir_map.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "fhir/fhir_test_util.h"

namespace medtwin::fhir {
namespace {

using testing::Dump;
using ::testing::HasSubstr;
constexpr IssueSeverity kError = IssueSeverity::kError;
constexpr IssueSeverity kWarning = IssueSeverity::kWarning;

// An Observation with one LOINC code and a valueQuantity; `quantity` is the JSON object body.
std::string Obs(const std::string& code, const std::string& quantity,
                const std::string& extra = "") {
  return R"({"resourceType": "Observation", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": ")" +
         code + R"("}]},
    "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-03-01T08:00:00Z",
    "valueQuantity": {)" +
         quantity + "}" + extra + "}";
}

ResourceOutcome Read(const std::string& json, bool strict = false) {
  ReadOptions o;
  o.strict_codes = strict;
  return ReadResource(json, o);
}

// The single normalised value of an accepted Observation.
NormalizedValue One(const ResourceOutcome& r) {
  EXPECT_TRUE(r.accepted()) << Dump(r.outcome);
  if (!r.accepted()) return {};
  const auto& obs = std::get<Observation>(r.resource->typed);
  EXPECT_EQ(obs.normalized.size(), 1u) << Dump(r.outcome);
  return obs.normalized.empty() ? NormalizedValue{} : obs.normalized[0];
}

const char* kUcum = R"("system": "http://unitsofmeasure.org")";

TEST(ObservationMap, DefaultTableLoadsAndMatchesTheDataFile) {
  const ObservationMap& m = ObservationMap::Default();
  EXPECT_EQ(m.quantities().size(), 11u);
  Result<ObservationMap> file =
      ObservationMap::FromFile(std::string(MEDTWIN_SOURCE_DIR) + "/data/fhir/observation-map.json");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ(file->quantities().size(), m.quantities().size());
  for (size_t i = 0; i < m.quantities().size(); ++i) {
    EXPECT_EQ(file->quantities()[i].name, m.quantities()[i].name);
    EXPECT_EQ(file->quantities()[i].units.size(), m.quantities()[i].units.size());
  }
  // Every code the issue names is mapped.
  for (const char* code : {"8867-4", "8480-6", "8462-4", "9279-1", "2708-6", "59408-5", "8310-5",
                           "8331-1", "29463-7", "2160-0", "38483-4", "2339-0", "20578-1"}) {
    EXPECT_TRUE(m.Find(kLoinc, code).has_value()) << code;
  }
  EXPECT_EQ(m.Find(kLoinc, "2160-0")->quantity->name, "serum_creatinine");
  EXPECT_EQ(m.Find(kLoinc, "2160-0")->quantity->feeds[0].covariate, "SCR");
  EXPECT_FALSE(m.Find("http://snomed.info/sct", "8867-4").has_value());
}

TEST(ObservationMap, BadTablesAreRejectedWithThePath) {
  auto err = [](const std::string& json) {
    Result<ObservationMap> m = ObservationMap::FromJson(json);
    return m.ok() ? std::string("ok") : m.status().message();
  };
  const std::string head = R"({"format": "medtwin-observation-map", "version": 1, "quantities": [)";
  const std::string hr =
      R"({"name": "hr", "canonical_unit": "/min", "range": [0, 300],
          "codes": [{"system": "http://loinc.org", "code": "8867-4"}],
          "units": [{"unit": "/min"}], "feeds": []})";
  EXPECT_EQ(err(head + hr + "]}"), "ok");
  EXPECT_THAT(err(head + hr + "," + hr + "]}"), HasSubstr("'hr' twice"));
  EXPECT_THAT(err(R"({"format": "x", "version": 1, "quantities": []})"), HasSubstr("map.format"));
  EXPECT_THAT(err(head + R"({"name": "hr", "canonical_unit": "Cel", "range": [0, 1],
      "codes": [{"system": "s", "code": "c"}], "units": [{"unit": "[degF]", "scale": 0.5}],
      "feeds": []}]})"),
              HasSubstr("map.quantities[0].canonical_unit: 'Cel' must be listed"));
  EXPECT_THAT(err(head + R"({"name": "hr", "canonical_unit": "/min", "range": [0, 1],
      "codes": [{"system": "s", "code": "c"}], "units": [{"unit": "/min"}],
      "feeds": [{"model": "m"}]}]})"),
              HasSubstr("feeds[0]: give exactly one of observable and covariate"));
  EXPECT_THAT(err(head + R"({"name": "hr", "canonical_unit": "/min", "range": [0, 1],
      "codes": [{"system": "s", "code": "c"}], "units": [{"unit": "/min", "scale": 0}],
      "feeds": []}]})"),
              HasSubstr("units[0].scale: must be > 0"));
  EXPECT_THAT(err(head + R"({"name": "hr", "canonical_unit": "/min", "range": [5, 1],
      "codes": [], "units": [], "feeds": []}]})"),
              HasSubstr("range"));
  EXPECT_THAT(err(head + R"({"name": "hr", "colour": "red"}]})"),
              HasSubstr("unknown key 'colour'"));
  EXPECT_THAT(err("{"), HasSubstr("malformed JSON"));
}

TEST(Normalize, CanonicalUnitsAndConversions) {
  // Conversion factors (data/fhir/observation-map.json, sources there): exact UCUM definitions
  // for temperature and mass; creatinine 88.4 umol/L per mg/dL; glucose 18.016 mg/dL per mmol/L.
  NormalizedValue t = One(Read(Obs("8310-5", std::string(kUcum) + R"(, "value": 98.6,
                                   "code": "[degF]")")));
  EXPECT_EQ(t.quantity, "body_temperature");
  EXPECT_EQ(t.unit, "Cel");
  EXPECT_NEAR(t.value, 37.0, 1e-12);  // (98.6 - 32) * 5/9
  EXPECT_FALSE(t.variant);

  NormalizedValue c = One(Read(Obs("14682-9", std::string(kUcum) + R"(, "value": 88.4,
                                   "code": "umol/L")")));
  EXPECT_EQ(c.quantity, "serum_creatinine");
  EXPECT_NEAR(c.value, 1.0, 1e-12);
  EXPECT_EQ(c.unit, "mg/dL");
  EXPECT_EQ(c.source_unit, "umol/L");
  EXPECT_DOUBLE_EQ(c.source_value, 88.4);

  NormalizedValue g = One(Read(Obs("15074-8", std::string(kUcum) + R"(, "value": 5.5,
                                   "code": "mmol/L")")));
  EXPECT_NEAR(g.value, 99.088, 1e-9);  // 5.5 * 18.016

  NormalizedValue w = One(Read(Obs("29463-7", std::string(kUcum) + R"(, "value": 154,
                                   "code": "[lb_av]")")));
  EXPECT_NEAR(w.value, 69.85322498, 1e-8);  // 154 * 0.45359237

  NormalizedValue v = One(Read(Obs("4092-3", std::string(kUcum) + R"(, "value": 15,
                                   "code": "ug/mL")")));
  EXPECT_EQ(v.quantity, "vancomycin");
  EXPECT_DOUBLE_EQ(v.value, 15.0);
  EXPECT_EQ(v.unit, "mg/L");
}

TEST(Normalize, RealDataVariantsMapWithAWarning) {
  for (const char* unit : {"beats/minute", "count/min"}) {
    ResourceOutcome r =
        Read(Obs("8867-4", std::string(kUcum) + R"(, "value": 80, "code": ")" + unit + "\""));
    NormalizedValue hr = One(r);
    EXPECT_DOUBLE_EQ(hr.value, 80.0);
    EXPECT_EQ(hr.unit, "/min");
    EXPECT_TRUE(hr.variant);
    EXPECT_ISSUE(r.outcome, kWarning, "Observation.valueQuantity.code", "is a variant");
  }
  NormalizedValue ucum = One(Read(Obs("8867-4", std::string(kUcum) + R"(, "value": 80,
                                      "code": "{beats}/min")")));
  EXPECT_FALSE(ucum.variant);  // {beats}/min is UCUM (an annotation)

  ResourceOutcome oral = Read(Obs("8331-1", std::string(kUcum) + R"(, "value": 36.6,
                                  "code": "C")"));
  NormalizedValue t = One(oral);
  EXPECT_EQ(t.quantity, "body_temperature");
  EXPECT_DOUBLE_EQ(t.value, 36.6);
  EXPECT_ISSUE(oral.outcome, kWarning, "Observation.code.coding[0]", "8331-1");
  EXPECT_ISSUE(oral.outcome, kWarning, "Observation.valueQuantity.code", "coulomb");
}

TEST(Normalize, StrictCodesRejectVariants) {
  ResourceOutcome r =
      Read(Obs("8331-1", std::string(kUcum) + R"(, "value": 36.6, "code": "Cel")"), true);
  EXPECT_FALSE(r.accepted());
  EXPECT_ISSUE(r.outcome, kError, "Observation.code.coding[0]", "rejected: strict codes");
  ResourceOutcome bp = Read(R"({"resourceType": "Observation", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "55284-4"}]},
    "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2019-01-01T00:00:00Z",
    "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                   "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org",
                                     "code": "mm[Hg]"}}]})",
                            true);
  EXPECT_ISSUE(bp.outcome, kError, "Observation.code.coding[0]", "panel code 55284-4");
}

TEST(Normalize, UnknownAndMissingUnitsNameTheField) {
  ResourceOutcome bpm = Read(Obs("8867-4", std::string(kUcum) + R"(, "value": 80, "code": "bpm")"));
  EXPECT_FALSE(bpm.accepted());
  EXPECT_ISSUE(bpm.outcome, kError, "Observation.valueQuantity.code",
               "unit 'bpm' is not accepted for heart_rate (8867-4); accepted: /min, 1/min");
  // Without a coded unit the display unit is read, and an error names it.
  ResourceOutcome display = Read(Obs("2160-0", R"("value": 1.1, "unit": "mg%")"));
  EXPECT_ISSUE(display.outcome, kError, "Observation.valueQuantity.unit", "unit 'mg%'");
  ResourceOutcome none = Read(Obs("2160-0", R"("value": 1.1)"));
  EXPECT_ISSUE(none.outcome, kError, "Observation.valueQuantity.code", "needs a unit");
  ResourceOutcome no_value = Read(Obs("2160-0", std::string(kUcum) + R"(, "code": "mg/dL")"));
  EXPECT_ISSUE(no_value.outcome, kError, "Observation.valueQuantity.value", "has no value");
  // A display unit alone is enough when it is one the map accepts.
  EXPECT_DOUBLE_EQ(One(Read(Obs("2160-0", R"("value": 1.1, "unit": "mg/dL")"))).value, 1.1);
}

TEST(Normalize, ImplausibleValuesAndWrongValueTypes) {
  ResourceOutcome f = Read(Obs("8310-5", std::string(kUcum) + R"(, "value": 98.6, "code": "Cel")"));
  EXPECT_FALSE(f.accepted());
  EXPECT_ISSUE(f.outcome, kError, "Observation.valueQuantity.value",
               "outside the plausible range 10-47 Cel for body_temperature");
  ResourceOutcome neg =
      Read(Obs("29463-7", std::string(kUcum) + R"(, "value": -70, "code": "kg")"));
  EXPECT_ISSUE(neg.outcome, kError, "Observation.valueQuantity.value", "plausible range");
  ResourceOutcome text = Read(R"({"resourceType": "Observation", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-03-01T08:00:00Z",
    "valueString": "eighty"})");
  EXPECT_ISSUE(text.outcome, kError, "Observation.valueString", "needs valueQuantity");
}

TEST(Normalize, MappedValuesNeedPatientAndTime) {
  ResourceOutcome r = Read(R"({"resourceType": "Observation", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org", "code": "/min"}})");
  EXPECT_FALSE(r.accepted());
  EXPECT_ISSUE(r.outcome, kError, "Observation.subject", "must name its patient");
  EXPECT_ISSUE(r.outcome, kError, "Observation.effective[x]", "heart_rate");
  // An unmapped code needs neither (R4 base Observation has both optional).
  EXPECT_TRUE(Read(R"({"resourceType": "Observation", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
    "valueQuantity": {"value": 4, "system": "http://unitsofmeasure.org", "code": "{score}"}})")
                  .accepted());
}

TEST(Normalize, StatusAndCensoredValuesAreNotNormalised) {
  std::string eie = Obs("8867-4", std::string(kUcum) + R"(, "value": 80, "code": "/min")");
  eie.replace(eie.find("\"final\""), 7, "\"entered-in-error\"");
  ResourceOutcome r = Read(eie);
  ASSERT_TRUE(r.accepted()) << Dump(r.outcome);
  EXPECT_TRUE(std::get<Observation>(r.resource->typed).normalized.empty());
  EXPECT_ISSUE(r.outcome, IssueSeverity::kInformation, "Observation.status", "entered-in-error");

  ResourceOutcome lt = Read(Obs("2160-0", std::string(kUcum) + R"(, "value": 0.2,
                                "comparator": "<", "code": "mg/dL")"));
  ASSERT_TRUE(lt.accepted()) << Dump(lt.outcome);
  EXPECT_TRUE(std::get<Observation>(lt.resource->typed).normalized.empty());
  EXPECT_ISSUE(lt.outcome, kWarning, "Observation.valueQuantity.comparator", "censored");
}

TEST(Normalize, NormalisationCanBeSwitchedOff) {
  ReadOptions o;
  o.normalize = false;
  ResourceOutcome r = ReadResource(Obs("8867-4", std::string(kUcum) + R"(, "value": 80,
                                       "code": "bpm")"),
                                   o);
  ASSERT_TRUE(r.accepted()) << Dump(r.outcome);
  EXPECT_TRUE(std::get<Observation>(r.resource->typed).normalized.empty());
}

TEST(PatientCovariates, SexAndAgeFromThePatient) {
  Patient p;
  p.gender = AdministrativeGender::kFemale;
  p.gender_given = true;
  p.birth_date = *ParseDateTime("1950-06-15", "date");
  const int64_t at = ParseDateTime("2024-03-01T00:00:00Z")->epoch_ms;
  Result<std::vector<CovariateValue>> c = PatientCovariates(ObservationMap::Default(), p, at);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0].name, "sex");
  EXPECT_DOUBLE_EQ((*c)[0].value, 1.0);
  EXPECT_EQ((*c)[1].name, "age");
  EXPECT_NEAR((*c)[1].value, 26923 / 365.25, 1e-9);  // 26,923 days from 1950-06-15 to 2024-03-01
  EXPECT_EQ((*c)[1].unit, "a");

  p.gender = AdministrativeGender::kUnknown;
  c = PatientCovariates(ObservationMap::Default(), p, at);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->size(), 1u);  // no numeric value for "unknown": left out
  const int64_t before_birth = ParseDateTime("1940-01-01", "date")->epoch_ms;
  EXPECT_THAT(PatientCovariates(ObservationMap::Default(), p, before_birth).status().message(),
              HasSubstr("Patient.birthDate: 1950-06-15 is after"));
}

// A MedicationAdministration read through ReadResource (so it is valid FHIR as well).
// `medication` is the medicationCodeableConcept body, `rest` the effective[x] and dosage.
MedicationAdministration Admin(const std::string& medication, const std::string& rest,
                               const std::string& status = "completed") {
  ResourceOutcome r = ReadResource(R"({"resourceType": "MedicationAdministration", "status": ")" +
                                   status + R"(", "medicationCodeableConcept": )" + medication +
                                   R"(, "subject": {"reference": "Patient/p1"}, )" + rest + "}");
  EXPECT_TRUE(r.accepted()) << Dump(r.outcome);
  if (!r.accepted()) return {};
  return std::get<MedicationAdministration>(r.resource->typed);
}

const char* kVanco =
    R"({"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "11124"}]})";
const char* kLispro =
    R"({"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "86009"}]})";

TEST(MedicationMap, DefaultTableHasVancomycinAndRapidInsulin) {
  const ObservationMap& m = ObservationMap::Default();
  ASSERT_EQ(m.medications().size(), 2u);
  const char* rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm";
  const MappedMedication* vanco = m.FindMedication(rxnorm, "11124");
  ASSERT_NE(vanco, nullptr);
  EXPECT_EQ(vanco->name, "vancomycin");
  EXPECT_EQ(vanco->FindFeed("vancomycin_goti2018")->compartment, "central");
  EXPECT_EQ(vanco->FindFeed("t1d_uvapadova"), nullptr);
  for (const char* code : {"86009", "51428", "253182"}) {
    const MappedMedication* insulin = m.FindMedication(rxnorm, code);
    ASSERT_NE(insulin, nullptr) << code;
    EXPECT_EQ(insulin->name, "insulin_rapid");
    EXPECT_EQ(insulin->FindFeed("t1d_uvapadova")->time_unit, "min");
  }
  // Humulin 70/30, the only insulin in the Synthea data, is deliberately not mapped.
  EXPECT_EQ(m.FindMedication(rxnorm, "106892"), nullptr);
}

TEST(MedicationMap, BadMedicationTablesAreRejectedWithThePath) {
  auto err = [](const std::string& meds) {
    Result<ObservationMap> m = ObservationMap::FromJson(
        R"({"format": "medtwin-observation-map", "version": 1, "quantities": [],
            "medications": [)" +
        meds + "]}");
    return m.ok() ? std::string("ok") : m.status().message();
  };
  auto med = [](const std::string& units, const std::string& feeds) {
    return R"({"name": "vanco", "canonical_unit": "mg",
               "codes": [{"system": "rx", "code": "11124"}], "units": )" +
           units + R"(, "feeds": )" + feeds + "}";
  };
  const std::string mg = R"([{"unit": "mg"}, {"unit": "g", "scale": 1000}])";
  const std::string feed = R"([{"model": "m", "compartment": "central", "time_unit": "h"}])";
  EXPECT_EQ(err(med(mg, feed)), "ok");
  EXPECT_THAT(err(med(mg, feed) + "," + med(mg, feed)), HasSubstr("'vanco' twice"));
  EXPECT_THAT(err(med(mg, R"([{"model": "m", "compartment": "c", "time_unit": "hour"}])")),
              HasSubstr("map.medications[0].feeds[0].time_unit: 'hour'"));
  EXPECT_THAT(err(med(mg, R"([{"model": "m", "compartment": "c", "time_unit": "h"},
                               {"model": "m", "compartment": "d", "time_unit": "h"}])")),
              HasSubstr("feeds[1].model: 'm' is fed twice"));
  EXPECT_THAT(err(med(mg, R"([{"model": "m", "time_unit": "h"}])")),
              HasSubstr("feeds[0].compartment: required"));
  EXPECT_THAT(err(med(R"([{"unit": "mg"}, {"unit": "g", "offset": 1}])", feed)),
              HasSubstr("map.medications[0].units[1].offset: dose amounts convert by a factor"));
  EXPECT_THAT(err(med(R"([{"unit": "g", "scale": 1000}])", feed)),
              HasSubstr("map.medications[0].canonical_unit: 'mg' must be listed"));
}

// effective[x] from 08:00: a period to `end` when given, else a dateTime.
std::string From8(const std::string& end = "") {
  return end.empty()
             ? R"("effectiveDateTime": "2024-03-01T08:00:00Z")"
             : R"("effectivePeriod": {"start": "2024-03-01T08:00:00Z", "end": ")" + end + "\"}";
}

// A UCUM quantity.
std::string Ucum(double value, const std::string& code) {
  return R"({"system": "http://unitsofmeasure.org", "value": )" + std::to_string(value) +
         R"(, "code": ")" + code + "\"}";
}

Result<ModelDose> DoseOf(const char* medication, const std::string& effective,
                         const std::string& dosage, const char* model,
                         const std::string& status = "completed") {
  return ToModelDose(ObservationMap::Default(),
                     Admin(medication, effective + R"(, "dosage": {)" + dosage + "}", status),
                     model);
}

TEST(MedicationMap, VancomycinDosesInMgAndMgPerHour) {
  // 1.5 g over a 90-minute effective period: 1500 mg at 1000 mg/h for 1.5 h.
  Result<ModelDose> d = DoseOf(kVanco, From8("2024-03-01T09:30:00Z"),
                               R"("dose": )" + Ucum(1.5, "g"), "vancomycin_goti2018");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->compartment, "central");
  EXPECT_DOUBLE_EQ(d->amount, 1500.0);
  EXPECT_DOUBLE_EQ(d->rate, 1000.0);
  EXPECT_DOUBLE_EQ(d->duration, 1.5);
  EXPECT_EQ(d->unit, "mg");
  EXPECT_EQ(d->time_unit, "h");
  EXPECT_EQ(d->start_epoch_ms, ParseDateTime("2024-03-01T08:00:00Z")->epoch_ms);
  EXPECT_EQ(d->source_code.code, "11124");
  EXPECT_FALSE(d->variant);

  // A rate per minute becomes a rate per hour: 25 mg/min = 1500 mg/h; 1000 mg take 40 min.
  Result<ModelDose> r =
      DoseOf(kVanco, From8(),
             R"("dose": )" + Ucum(1000, "mg") + R"(, "rateQuantity": )" + Ucum(25, "mg/min"),
             "vancomycin_goti2018", "in-progress");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->rate, 1500.0);
  EXPECT_NEAR(r->duration, 40.0 / 60.0, 1e-12);

  // 500 ug bolus (a dateTime, no rate): 0.5 mg, rate 0. "mcg" is a variant spelling.
  Result<ModelDose> b =
      DoseOf(kVanco, From8(), R"("dose": {"value": 500, "unit": "mcg"})", "vancomycin_goti2018");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_DOUBLE_EQ(b->amount, 0.5);
  EXPECT_EQ(b->rate, 0.0);
  EXPECT_EQ(b->duration, 0.0);
  EXPECT_TRUE(b->variant);
}

TEST(MedicationMap, InsulinDosesInUnitsPerMinute) {
  // 6 U of lispro over 2 h: 0.05 U/min for 120 min (t1d_uvapadova's time unit is min).
  Result<ModelDose> d =
      DoseOf(kLispro, From8("2024-03-01T10:00:00Z"), R"("dose": )" + Ucum(6, "U"), "t1d_uvapadova");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->compartment, "insulin");
  EXPECT_EQ(d->medication, "insulin_rapid");
  EXPECT_DOUBLE_EQ(d->amount, 6.0);
  EXPECT_DOUBLE_EQ(d->rate, 0.05);
  EXPECT_DOUBLE_EQ(d->duration, 120.0);
  EXPECT_EQ(d->time_unit, "min");

  // [IU] and a pump rate of 1.2 [IU]/h: 0.02 U/min; 4 U take 200 min.
  Result<ModelDose> p =
      DoseOf(kLispro, From8(),
             R"("dose": )" + Ucum(4, "[IU]") + R"(, "rateQuantity": )" + Ucum(1.2, "[IU]/h"),
             "t1d_uvapadova");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_DOUBLE_EQ(p->rate, 0.02);
  EXPECT_NEAR(p->duration, 200.0, 1e-9);
  EXPECT_FALSE(p->variant);
}

TEST(MedicationMap, ErrorsNameTheElement) {
  const std::string mg = R"("dose": )" + Ucum(1000, "mg");
  auto error = [](const Result<ModelDose>& d) { return d.ok() ? "ok" : d.status().message(); };
  EXPECT_THAT(error(DoseOf(kVanco, From8(), mg, "t1d_uvapadova")),
              HasSubstr("MedicationAdministration.medicationCodeableConcept: medication "
                        "http://www.nlm.nih.gov/research/umls/rxnorm|11124 does not feed model "
                        "'t1d_uvapadova' (it feeds vancomycin_goti2018)"));
  const char* humulin_70_30 =
      R"({"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "106892"}]})";
  EXPECT_THAT(
      error(DoseOf(humulin_70_30, From8(), R"("dose": )" + Ucum(10, "U"), "t1d_uvapadova")),
      HasSubstr("medicationCodeableConcept: no coding "
                "(http://www.nlm.nih.gov/research/umls/rxnorm|106892) is in the medication map"));
  EXPECT_THAT(error(DoseOf(kVanco, From8(), mg, "vancomycin_goti2018", "not-done")),
              HasSubstr("MedicationAdministration.status: 'not-done' is not a dose given"));
  EXPECT_THAT(error(DoseOf(kLispro, From8(), mg, "t1d_uvapadova")),
              HasSubstr("dosage.dose.code: unit 'mg' is not an amount of insulin_rapid (U, [iU], "
                        "[IU], UNT)"));
  EXPECT_THAT(error(DoseOf(kVanco, From8(), mg + R"(, "rateQuantity": )" + Ucum(2, "mL/h"),
                           "vancomycin_goti2018")),
              HasSubstr("dosage.rateQuantity.code: unit 'mL/h' is not vancomycin amount per "
                        "time"));
  EXPECT_THAT(error(DoseOf(kVanco, From8(), R"("rateQuantity": )" + Ucum(500, "mg/h"),
                           "vancomycin_goti2018")),
              HasSubstr("MedicationAdministration.dosage.dose: required"));
  MedicationAdministration by_reference = Admin(kVanco, From8() + R"(, "dosage": {)" + mg + "}");
  by_reference.medication_concept = {};
  by_reference.medication_reference.reference = "Medication/vanco";
  EXPECT_THAT(error(ToModelDose(ObservationMap::Default(), by_reference, "vancomycin_goti2018")),
              HasSubstr("MedicationAdministration.medicationReference: 'Medication/vanco' is not "
                        "resolved"));
}

}  // namespace
}  // namespace medtwin::fhir
