// Real data nobody here wrote: every Synthea bundle and NDJSON file in ../shared/data/synthea
// goes through the FHIR layer; each entry is accepted or rejected with an OperationOutcome, counts
// reconcile with counts taken from the files independently, and the vital signs and creatinine
// map to canonical units, including the odd codes and units these files use.
//
// Data (read in place, never copied): bundles/ (8 transaction bundles of 2019-era Synthea: BP panel
// 55284-4, oral temperature 8331-1), hiv/ (Synthea-HIV: 4 transaction bundles whose vitals carry
// CIEL concept UUIDs under the LOINC system with units beats/minute, C and mmHg, and conditional
// references to the 2 batch bundles hospitalInformation and practitionerInformation), ndjson/
// (bulk data, one type per file, relative and conditional references).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fhir/fhir_test_util.h"
#include "medtwin/fhir.h"
#include "medtwin/fhir_bundle.h"
#include "medtwin/fhir_map.h"

namespace medtwin::fhir {
namespace {

namespace fs = std::filesystem;
using testing::Dump;
using testing::ReadFile;

const std::string kDir = std::string(MEDTWIN_SHARED_DATA) + "/synthea/";

std::vector<std::string> JsonFiles(const std::string& sub) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kDir + sub)) {
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// resourceType -> count, read with plain nlohmann-json, independently of src/fhir.
std::map<std::string, int> CountTypes(const std::string& text) {
  std::map<std::string, int> n;
  const nlohmann::json b = nlohmann::json::parse(text);
  for (const auto& e : b["entry"]) ++n[e["resource"]["resourceType"].get<std::string>()];
  return n;
}

// Occurrences of `needle` in `text`.
int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

struct Loaded {
  std::map<std::string, int> per_quantity;  // normalised values by quantity
  int variant_values = 0;
  std::map<std::string, NormalizedValue> by_id;  // Observation id -> first normalised value
};

class SyntheaTest : public ::testing::Test {
 protected:
  // Processes a bundle file; checks reconciliation; applies accepted entries to the resolver as
  // a store would.
  BundleResult Load(const std::string& path, bool strict = false) {
    const std::string text = ReadFile(path);
    BundleOptions o;
    o.ids = &ids_;
    o.read.strict_codes = strict;
    BundleResult r = ProcessBundle(text, store_, o);
    const std::map<std::string, int> expected = CountTypes(text);
    int total = 0;
    for (const auto& [type, n] : expected) {
      total += n;
      const auto& got = r.summary.by_type[type];
      EXPECT_EQ(got.first + got.second, n) << path << " " << type;
    }
    EXPECT_EQ(r.summary.entries, total) << path;
    EXPECT_EQ(r.summary.accepted + r.summary.rejected, r.summary.entries) << path;
    EXPECT_EQ(static_cast<int>(r.entries.size()), total) << path;
    for (const EntryResult& e : r.entries) {
      EXPECT_FALSE(e.outcome.empty()) << path << " entry " << e.index;
      EXPECT_EQ(e.accepted, !e.outcome.HasErrors() && r.ok) << path << " entry " << e.index;
      if (!e.accepted || !e.resource) continue;
      store_.Add(*e.resource);
      if (const auto* obs = std::get_if<Observation>(&e.resource->typed)) {
        for (const NormalizedValue& v : obs->normalized) {
          ++loaded_.per_quantity[v.quantity];
          loaded_.variant_values += v.variant;
          loaded_.by_id.emplace(e.resource->id + "/" + v.quantity, v);
        }
      }
    }
    return r;
  }

  MemoryResolver store_;
  SequentialIds ids_;
  Loaded loaded_;
};

TEST_F(SyntheaTest, HivBatchesThenPatientTransactionsAllLoad) {
  // Organizations/Locations and Practitioners/PractitionerRoles first: the patient bundles
  // reference them conditionally (R4 Synthea's order of loading).
  BundleResult hospitals = Load(kDir + "hiv/hospitalInformation1633536936158.json");
  EXPECT_EQ(hospitals.type, BundleType::kBatch);
  EXPECT_EQ(hospitals.summary.entries, 2382);
  EXPECT_EQ(hospitals.summary.by_type["Organization"].first, 1191);
  EXPECT_EQ(hospitals.summary.by_type["Location"].first, 1191);
  BundleResult practitioners = Load(kDir + "hiv/practitionerInformation1633536936158.json");
  EXPECT_EQ(practitioners.summary.accepted, 2382);
  EXPECT_EQ(store_.size(), 4764u);

  int patients = 0;
  for (const std::string& path : JsonFiles("hiv")) {
    if (path.find("Information") != std::string::npos) continue;
    const std::string text = ReadFile(path);
    BundleResult r = Load(path);
    EXPECT_EQ(r.type, BundleType::kTransaction);
    EXPECT_TRUE(r.ok) << path << ": " << r.outcome.FirstError();
    EXPECT_EQ(r.summary.rejected, 0) << path;
    // Every conditional reference in the file resolved to exactly one loaded resource, and every
    // urn:uuid reference to an entry of the bundle.
    EXPECT_EQ(r.summary.conditional_references, Count(text, "\"reference\": \"Practitioner?") +
                                                    Count(text, "\"reference\": \"Organization?") +
                                                    Count(text, "\"reference\": \"Location?"))
        << path;
    EXPECT_EQ(r.summary.references_rewritten, Count(text, "\"reference\": \"urn:uuid:")) << path;
    ++patients;
  }
  EXPECT_EQ(patients, 4);
}

TEST_F(SyntheaTest, HivVitalsWithCielCodesAndOddUnitsMapToCanonicalUnits) {
  Load(kDir + "hiv/hospitalInformation1633536936158.json");
  Load(kDir + "hiv/practitionerInformation1633536936158.json");
  BundleResult r =
      Load(kDir + "hiv/Alva958_Dickinson688_742fc10a-c565-f636-3c05-5dcd28672194.json");
  ASSERT_TRUE(r.ok) << r.outcome.FirstError();
  EXPECT_EQ(r.summary.entries, 386);
  EXPECT_EQ(r.summary.by_type["Observation"].first, 156);
  // Values as they stand in the file (Observation ids from the file).
  const NormalizedValue& pulse =
      loaded_.by_id.at("c62e45f6-f15d-6985-e379-2c9f4cb9a781/heart_rate");
  EXPECT_DOUBLE_EQ(pulse.value, 114.9);  // "beats/minute", code 5087AAAA... (CIEL PULSE)
  EXPECT_EQ(pulse.unit, "/min");
  EXPECT_EQ(pulse.source_unit, "beats/minute");
  EXPECT_EQ(pulse.source_code.code, "5087AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_TRUE(pulse.variant);
  const NormalizedValue& temp =
      loaded_.by_id.at("64cfa14b-7172-fbae-9d44-e3fe18fda3af/body_temperature");
  EXPECT_DOUBLE_EQ(temp.value, 36.776);  // unit "C" read as Cel
  EXPECT_EQ(temp.unit, "Cel");
  const NormalizedValue& spo2 =
      loaded_.by_id.at("ce54d30a-0fc9-6605-4d45-bfc6412c98ea/oxygen_saturation");
  EXPECT_DOUBLE_EQ(spo2.value, 93.426);
  const NormalizedValue& sbp = loaded_.by_id.at("e448c081-0f7a-83ed-33f9-1fff99d24f83/systolic_bp");
  EXPECT_DOUBLE_EQ(sbp.value, 105.13);  // "mmHg", CIEL 5085 with display "LOINC Code"
  EXPECT_EQ(sbp.unit, "mm[Hg]");
  // The variants are flagged on the entry, naming the element.
  const EntryResult* entry = nullptr;
  for (const EntryResult& e : r.entries) {
    if (e.id == "c62e45f6-f15d-6985-e379-2c9f4cb9a781") entry = &e;
  }
  ASSERT_NE(entry, nullptr);
  EXPECT_ISSUE(entry->outcome, IssueSeverity::kWarning, "Observation.code.coding[0]", "CIEL");
  EXPECT_ISSUE(entry->outcome, IssueSeverity::kWarning, "Observation.valueQuantity.code",
               "'beats/minute' is a variant");
  EXPECT_GT(r.summary.warnings, 0);
}

TEST_F(SyntheaTest, OlderSyntheaTransactionsLoadWithBpPanelAndOralTemperature) {
  int files = 0;
  for (const std::string& path : JsonFiles("bundles")) {
    const std::string text = ReadFile(path);
    BundleResult r = Load(path);
    EXPECT_TRUE(r.ok) << path << ": " << r.outcome.FirstError();
    EXPECT_EQ(r.summary.rejected, 0) << path;
    EXPECT_EQ(r.summary.references_rewritten, Count(text, "\"reference\": \"urn:uuid:")) << path;
    ++files;
  }
  EXPECT_EQ(files, 8);
  // Bryan Breitenberg's creatinine (LOINC 38483-4) and oral temperature (8331-1), as in the file.
  const NormalizedValue& scr =
      loaded_.by_id.at("babce52b-a53a-4270-a1ab-ce8d5a0f1905/serum_creatinine");
  EXPECT_DOUBLE_EQ(scr.value, 1.083121790380991);
  EXPECT_EQ(scr.unit, "mg/dL");
  EXPECT_FALSE(scr.variant);
  const NormalizedValue& oral =
      loaded_.by_id.at("d7c8cf41-8125-467f-97a0-1f76c3325e6f/body_temperature");
  EXPECT_DOUBLE_EQ(oral.value, 38.341390487667);
  EXPECT_TRUE(oral.variant);  // 8331-1 instead of 8310-5
  // Abdul Koepp's blood pressure: panel 55284-4 with systolic and diastolic components.
  const NormalizedValue& sys = loaded_.by_id.at("f13d3b8d-0097-4b35-8d6e-31c73ac2601c/systolic_bp");
  EXPECT_DOUBLE_EQ(sys.value, 129.73979437732424);
  EXPECT_EQ(sys.element, "Observation.component[1].valueQuantity");
  EXPECT_DOUBLE_EQ(loaded_.by_id.at("f13d3b8d-0097-4b35-8d6e-31c73ac2601c/diastolic_bp").value,
                   75.4364412796852);
}

TEST_F(SyntheaTest, EveryMappedValueInAllBundlesIsCounted) {
  Load(kDir + "hiv/hospitalInformation1633536936158.json");
  Load(kDir + "hiv/practitionerInformation1633536936158.json");
  for (const char* dir : {"hiv", "bundles"}) {
    for (const std::string& path : JsonFiles(dir)) {
      if (path.find("Information") == std::string::npos) Load(path);
    }
  }
  // Counts of the mapped codes in the files (by code, value present), tallied outside medtwin:
  // weight 83 (29463-7) + 4 (CIEL 5089); height 83 + 4 (5090); systolic 83 BP-panel components +
  // 20 (CIEL 5085); diastolic 83; pulse 10 (5087); temperature 6 (8331-1) + 10 (5088); SpO2 10
  // (5092); creatinine 20 (38483-4); glucose 20 (2339-0). No respiratory rate, no vancomycin.
  const std::map<std::string, int> expected = {
      {"body_weight", 87},       {"body_height", 87},      {"systolic_bp", 103},
      {"diastolic_bp", 83},      {"heart_rate", 10},       {"body_temperature", 16},
      {"oxygen_saturation", 10}, {"serum_creatinine", 20}, {"glucose", 20}};
  EXPECT_EQ(loaded_.per_quantity, expected);
  // Variants: the 58 CIEL-coded HIV vitals and the 6 oral temperatures.
  EXPECT_EQ(loaded_.variant_values, 64);
}

TEST_F(SyntheaTest, StrictCodesRejectTheVariantBundlesAsAWhole) {
  Load(kDir + "hiv/hospitalInformation1633536936158.json");
  Load(kDir + "hiv/practitionerInformation1633536936158.json");
  BundleResult r = Load(kDir + "hiv/Cyrus914_Nader710_e35e717e-09ad-041e-6858-56f84b32e476.json",
                        /*strict=*/true);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.summary.accepted, 0);
  EXPECT_EQ(r.summary.rejected, 284);
  EXPECT_EQ(r.outcome.issues()[0].code, IssueType::kCodeInvalid);
  EXPECT_THAT(r.outcome.FirstError(), ::testing::HasSubstr("rejected: strict codes"));
}

TEST_F(SyntheaTest, PatientBundleBeforeItsBatchesIsRejectedWithTheReason) {
  // Loaded out of order, the conditional references have nothing to resolve to: the transaction
  // is refused as a whole and says which reference failed.
  BundleResult r = Load(kDir + "hiv/Cyrus914_Nader710_e35e717e-09ad-041e-6858-56f84b32e476.json");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.summary.rejected, 284);
  EXPECT_EQ(r.outcome.issues()[0].code, IssueType::kNotFound);
  EXPECT_THAT(r.outcome.FirstError(), ::testing::HasSubstr("?identifier="));
  EXPECT_THAT(r.outcome.FirstError(), ::testing::HasSubstr("matches no resource"));
}

TEST_F(SyntheaTest, NdjsonFilesLoadInDependencyOrderWithEveryReferenceResolved) {
  const std::vector<std::pair<std::string, int>> files = {
      {"Organization", 43}, {"Location", 44},   {"Practitioner", 43},       {"Patient", 13},
      {"Encounter", 1215},  {"Condition", 555}, {"MedicationRequest", 1745}};
  for (const auto& [type, lines] : files) {
    const std::string text = ReadFile(kDir + "ndjson/" + type + ".000.ndjson");
    ReadOptions o;
    o.expected_type = type;
    NdjsonResult r = ReadNdjson(text, o, &store_, /*check_reference_targets=*/true);
    EXPECT_EQ(r.summary.lines, lines) << type;
    EXPECT_EQ(r.summary.accepted, lines) << type;
    EXPECT_EQ(r.summary.accepted + r.summary.rejected, r.summary.lines);
    for (const NdjsonLine& l : r.lines) {
      if (!l.result.accepted()) {
        ADD_FAILURE() << type << " line " << l.line << ": " << Dump(l.result.outcome);
        continue;
      }
      store_.Add(*l.result.resource);
      for (const ReferenceUse& u : l.result.resource->references) {
        EXPECT_EQ(u.reference.find('?'), std::string::npos) << "unresolved " << u.reference;
      }
    }
  }
  EXPECT_EQ(store_.size(), 3658u);  // the line count of the seven files
}

}  // namespace
}  // namespace medtwin::fhir
