// The observation map (data/fhir/observation-map.json) against the model registry: every feed
// names a registered model and one of its observables or covariates, in the unit the model
// states. src/fhir does not depend on src/model, so this cross-module check lives here.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "medtwin/fhir_map.h"
#include "medtwin/model.h"

namespace medtwin::fhir {
namespace {

// The models spell a few units outside UCUM; these are the pairs that denote the same unit.
// UCUM writes mm[Hg] for mmHg and "a" (annum) for years; "/min" and "1/min" are one unit.
bool SameUnit(const std::string& ucum, const std::string& model_unit) {
  static const std::multimap<std::string, std::string> kSame = {
      {"/min", "1/min"}, {"mm[Hg]", "mmHg"}, {"a", "years"}};
  if (ucum == model_unit) return true;
  auto [lo, hi] = kSame.equal_range(ucum);
  for (auto it = lo; it != hi; ++it) {
    if (it->second == model_unit) return true;
  }
  return false;
}

void CheckFeed(const Feed& f, const std::string& unit, const std::string& what) {
  Result<std::unique_ptr<Model>> m = MakeModel(f.model);
  ASSERT_TRUE(m.ok()) << what << ": " << m.status().ToString();
  const ModelSpec& s = (*m)->spec();
  if (!f.observable.empty()) {
    const int i = s.ObservableIndex(f.observable);
    ASSERT_GE(i, 0) << what << ": model " << f.model << " has no observable " << f.observable;
    EXPECT_TRUE(SameUnit(unit, s.observables[i].unit))
        << what << " is in " << unit << ", " << f.model << "." << f.observable << " in "
        << s.observables[i].unit;
  } else {
    const int i = s.CovariateIndex(f.covariate);
    ASSERT_GE(i, 0) << what << ": model " << f.model << " has no covariate " << f.covariate;
    EXPECT_TRUE(SameUnit(unit, s.covariates[i].unit))
        << what << " is in " << unit << ", " << f.model << "." << f.covariate << " in "
        << s.covariates[i].unit;
  }
}

TEST(ObservationMapFeeds, EveryFeedNamesAModelQuantityInItsUnit) {
  const ObservationMap& map = ObservationMap::Default();
  int feeds = 0;
  for (const MappedQuantity& q : map.quantities()) {
    for (const Feed& f : q.feeds) {
      CheckFeed(f, q.canonical_unit, q.name);
      ++feeds;
    }
  }
  for (const PatientCovariate& c : map.patient_covariates()) {
    for (const Feed& f : c.feeds) {
      CheckFeed(f, c.unit, c.name);
      ++feeds;
    }
  }
  // The twin inputs of the issue: HR, SBP and DBP for the circulation model (3); weight,
  // creatinine, sex, age and levels for vancomycin (5); glucose for the two glucose models (2).
  EXPECT_EQ(feeds, 10);
}

TEST(MedicationMapFeeds, EveryFeedNamesADosableCompartmentInItsUnits) {
  int feeds = 0;
  for (const MappedMedication& med : ObservationMap::Default().medications()) {
    for (const MedicationFeed& f : med.feeds) {
      ++feeds;
      Result<std::unique_ptr<Model>> m = MakeModel(f.model);
      ASSERT_TRUE(m.ok()) << med.name << ": " << m.status().ToString();
      const ModelSpec& s = (*m)->spec();
      EXPECT_EQ(s.time_unit, f.time_unit) << med.name << " feeds " << f.model;
      const int i = s.StateIndex(f.compartment);
      ASSERT_GE(i, 0) << med.name << ": model " << f.model << " has no state " << f.compartment;
      // StateIndex also takes numbers; the map must name the state.
      EXPECT_EQ(s.states[i].name, f.compartment);
      EXPECT_TRUE(s.states[i].dosable) << f.model << "." << f.compartment << " takes no doses";
      EXPECT_EQ(s.states[i].unit, med.canonical_unit)
          << med.name << " is dosed in " << med.canonical_unit << ", " << f.model << "."
          << f.compartment << " holds " << s.states[i].unit;
    }
  }
  EXPECT_EQ(feeds, 2);  // vancomycin -> vancomycin_goti2018, rapid insulin -> t1d_uvapadova
}

TEST(ObservationMapFeeds, SexCodingMatchesTheVancomycinModel) {
  // vancomycin_goti2018 reads SEX as 0 male, 1 female (Cockcroft-Gault factor 0.85 for 1).
  const ObservationMap& map = ObservationMap::Default();
  ASSERT_FALSE(map.patient_covariates().empty());
  const PatientCovariate& sex = map.patient_covariates()[0];
  ASSERT_EQ(sex.name, "sex");
  EXPECT_EQ(sex.values.at("male"), 0.0);
  EXPECT_EQ(sex.values.at("female"), 1.0);
  Result<std::unique_ptr<Model>> m = MakeModel("vancomycin_goti2018");
  ASSERT_TRUE(m.ok());
  const ModelSpec& s = (*m)->spec();
  EXPECT_NE(s.covariates[s.CovariateIndex("SEX")].description.find("1 female"), std::string::npos);
}

}  // namespace
}  // namespace medtwin::fhir
