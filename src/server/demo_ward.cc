// The demo ward (demo_ward.h): virtual vancomycin patients as FHIR resources.
#include "server/demo_ward.h"

#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "medtwin/dataset.h"
#include "medtwin/model.h"
#include "medtwin/simulator.h"
#include "server/ingest.h"

namespace medtwin::server {
namespace {

using Json = nlohmann::json;

constexpr const char* kModel = "vancomycin_goti2018";
constexpr const char* kRxNorm = "http://www.nlm.nih.gov/research/umls/rxnorm";
constexpr const char* kUcum = "http://unitsofmeasure.org";
constexpr int64_t kMsPerH = 3'600'000;
constexpr double kMsPerYear = 365.25 * 86400000.0;  // as fhir::PatientCovariates
constexpr double kAdmissionStaggerH = 2.0;
constexpr double kDoseIntervalH = 12.0;
constexpr double kFirstDoseH = 1.0;  // after admission
constexpr double kInfusionH = 1.0;
constexpr double kTroughBeforeH = 0.5;  // before the next dose
constexpr double kPeakAfterH = 1.0;     // after the end of the infusion
constexpr int kDrifterIndex = 1;        // demo-2: creatinine rises
constexpr double kScrRisePerDay = 1.4;
constexpr int kMislabelledIndex = 2;          // demo-3: its second trough is reported 10x too high
constexpr double kMislabelFactor = 10.0;      // a decimal-point slip
constexpr double kMislabelMaxMgPerL = 250.0;  // stays inside the map's plausible 0-300 mg/L

// SplitMix64 (Steele, Lea, Flood 2014): decorrelates the per-patient seeds.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double Round(double v, double step) { return std::round(v / step) * step; }

std::string Date(int64_t epoch_ms) { return IsoUtc(epoch_ms).substr(0, 10); }

const char* kGiven[2][8] = {
    {"James", "Omar", "Henrik", "Luis", "Kwame", "Daniel", "Tomasz", "Ravi"},
    {"Maria", "Aiko", "Fatima", "Ingrid", "Grace", "Sofia", "Leila", "Chloe"}};
const char* kFamily[10] = {"Okafor", "Lindqvist", "Moreau", "Tanaka",   "Silva",
                           "Novak",  "Haddad",    "Byrne",  "Kowalski", "Mensah"};

// One level to draw: when, trough or peak, and its index among the patient's levels.
struct LevelTime {
  double t_h;  // after admission
  bool peak;
};

// The schedule of one patient over `span_h` after admission.
struct Schedule {
  std::vector<double> dose_h;  // infusion starts
  std::vector<double> day_h;   // covariate observations
  std::vector<LevelTime> levels;
};

Schedule MakeSchedule(double span_h) {
  Schedule s;
  for (double t = kFirstDoseH; t + kInfusionH <= span_h; t += kDoseIntervalH) s.dose_h.push_back(t);
  for (double t = 0; t <= span_h; t += 24.0) s.day_h.push_back(t);
  // Trough before the 4th dose, peak after the 4th infusion, troughs before doses 6, 8, ...
  auto dose_start = [](int k) { return kFirstDoseH + k * kDoseIntervalH; };
  const double trough4 = dose_start(3) - kTroughBeforeH;
  if (trough4 <= span_h) s.levels.push_back({trough4, false});
  const double peak4 = dose_start(3) + kInfusionH + kPeakAfterH;
  if (peak4 <= span_h) s.levels.push_back({peak4, true});
  for (int k = 5; dose_start(k) - kTroughBeforeH <= span_h; k += 2) {
    s.levels.push_back({dose_start(k) - kTroughBeforeH, false});
  }
  return s;
}

class WardBuilder {
 public:
  WardBuilder(const DemoWardOptions& o, const Model& model) : o_(o), model_(model) {}
  Status Patient(int index, DemoWard* ward);

 private:
  // The patient's covariates and random effects, drawn from `rng`.
  DemoPatient Draw(int index, std::mt19937_64& rng, const Schedule& s) const;
  // Model predictions (mg/L) at the schedule's level times, from the patient's true parameters.
  Result<std::vector<double>> Predict(const DemoPatient& p, const Schedule& s) const;
  void Add(DemoWard* ward, int64_t at_ms, const std::string& type, const std::string& id,
           Json resource) const;
  Json Observation(const DemoPatient& p, int64_t at_ms, const char* loinc, const char* display,
                   const char* category, double value, const char* unit) const;
  Json Administration(const DemoPatient& p, int64_t start_ms) const;
  Json PatientResource(const DemoPatient& p, std::mt19937_64& rng) const;
  // The vancomycin levels (with residual error unless switched off; one mislabelled).
  void AddLevels(int index, const Schedule& s, const std::vector<double>& predicted,
                 std::mt19937_64& rng, DemoPatient* p, DemoWard* ward) const;

  const DemoWardOptions& o_;
  const Model& model_;
};

DemoPatient WardBuilder::Draw(int index, std::mt19937_64& rng, const Schedule& s) const {
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  DemoPatient p;
  p.id = "demo-" + std::to_string(index + 1);
  p.admission_ms = o_.start_epoch_ms + static_cast<int64_t>(index * kAdmissionStaggerH * kMsPerH);
  p.sex = uniform(rng) < 0.5 ? 1 : 0;
  const double drawn_age_y = 25.0 + 60.0 * uniform(rng);
  // The birth date is a whole day, so the age is recomputed from it as a reader would.
  const int64_t birth_ms =
      (p.admission_ms - static_cast<int64_t>(drawn_age_y * kMsPerYear)) / 86400000 * 86400000;
  p.age_y = static_cast<double>(p.admission_ms - birth_ms) / kMsPerYear;
  p.birth_date = Date(birth_ms);
  p.weight_kg = Round(std::clamp((p.sex ? 70.0 : 82.0) + 13.0 * normal(rng), 45.0, 150.0), 0.1);
  const double scr0 =
      std::clamp(std::exp(std::log(p.sex ? 0.75 : 0.9) + 0.25 * normal(rng)), 0.5, 1.8);
  for (size_t d = 0; d < s.day_h.size(); ++d) {
    const double rise = index == kDrifterIndex ? std::pow(kScrRisePerDay, d) : 1.0;
    p.scr_mg_per_dL.push_back(Round(scr0 * rise, 0.01));
  }
  p.dose_mg = std::clamp(Round(15.0 * p.weight_kg, 250.0), 250.0, 2000.0);
  // Random effects eta = L z with omega = L L^T; z truncated at 2 SD so the demo shows
  // ordinary patients rather than the tails of the population.
  const Variability& v = model_.spec().variability;
  const int n = static_cast<int>(v.parameters.size());
  Eigen::MatrixXd omega = Eigen::Map<const Eigen::MatrixXd>(v.omega.data(), n, n).transpose();
  Eigen::VectorXd z(n);
  for (int j = 0; j < n; ++j) z[j] = std::clamp(normal(rng), -2.0, 2.0);
  Eigen::VectorXd eta = Eigen::LLT<Eigen::MatrixXd>(omega).matrixL() * z;
  p.eta.assign(eta.data(), eta.data() + n);
  return p;
}

Result<std::vector<double>> WardBuilder::Predict(const DemoPatient& p, const Schedule& s) const {
  // A NONMEM-style record: covariate rows at each lab day, the doses, the levels; covariates
  // are last-observation-carried-forward (SimOptions below), as a twin learns them.
  struct Row {
    double t_h;
    int kind;  // 0 covariates, 1 dose, 2 level
  };
  std::vector<Row> rows;
  for (double t : s.day_h) rows.push_back({t, 0});
  for (double t : s.dose_h) rows.push_back({t, 1});
  for (const LevelTime& l : s.levels) rows.push_back({l.t_h, 2});
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.t_h < b.t_h; });
  std::string csv = "ID,TIME,AMT,RATE,EVID,CMT,DV,WT,AGE,SEX,SCR\n";
  char line[256];
  for (const Row& r : rows) {
    const size_t day = std::min(static_cast<size_t>(r.t_h / 24.0), p.scr_mg_per_dL.size() - 1);
    std::snprintf(line, sizeof line, "1,%.17g,%.17g,%.17g,%d,%s,.,%.17g,%.17g,%d,%.17g\n", r.t_h,
                  r.kind == 1 ? p.dose_mg : 0.0, r.kind == 1 ? p.dose_mg / kInfusionH : 0.0,
                  r.kind == 1 ? 1 : (r.kind == 0 ? 2 : 0), r.kind == 1 ? "central" : ".",
                  p.weight_kg, p.age_y, p.sex, p.scr_mg_per_dL[day]);
    csv += line;
  }
  DatasetOptions dopt;
  dopt.source_name = "demo ward " + p.id;
  Result<Dataset> data = ReadDataset(csv, model_, dopt);
  if (!data.ok()) return data.status();
  SimOptions sim_options;
  sim_options.covariates = CovariateRule::kLocf;
  Simulator sim(model_, sim_options);
  OutputRequest request;
  Result<SimOutput> out = sim.Run(*data, 0, request, {{}, p.eta});
  if (!out.ok()) return out.status().WithContext(p.id);
  std::vector<double> conc_mg_per_L;
  for (size_t i = 0; i < out->rows(); ++i) {
    const int record = out->record[i];
    if (record >= 0 && data->subjects[0].records[record].evid == Evid::kObservation) {
      conc_mg_per_L.push_back(out->observables[i * model_.num_observables()]);
    }
  }
  if (conc_mg_per_L.size() != s.levels.size()) {
    return Status::Internal(p.id + ": " + std::to_string(conc_mg_per_L.size()) +
                            " predictions for " + std::to_string(s.levels.size()) + " levels");
  }
  return conc_mg_per_L;
}

void WardBuilder::Add(DemoWard* ward, int64_t at_ms, const std::string& type, const std::string& id,
                      Json resource) const {
  resource["resourceType"] = type;
  resource["id"] = id;
  ward->items.push_back({at_ms, type, id, resource.dump()});
}

Json Coding(const char* system, const std::string& code, const std::string& display) {
  return {{"system", system}, {"code", code}, {"display", display}};
}

Json WardBuilder::PatientResource(const DemoPatient& p, std::mt19937_64& rng) const {
  std::uniform_int_distribution<int> given(0, 7), family(0, 9);
  return {{"identifier", {{{"system", "urn:medtwin:demo:mrn"}, {"value", p.id}}}},
          {"name", {{{"family", kFamily[family(rng)]}, {"given", {kGiven[p.sex][given(rng)]}}}}},
          {"gender", p.sex ? "female" : "male"},
          {"birthDate", p.birth_date}};
}

Json WardBuilder::Observation(const DemoPatient& p, int64_t at_ms, const char* loinc,
                              const char* display, const char* category, double value,
                              const char* unit) const {
  const char* kCategory = "http://terminology.hl7.org/CodeSystem/observation-category";
  return {{"status", "final"},
          {"category",
           {{{"coding",
              {Coding(kCategory, category,
                      std::string(category) == "laboratory" ? "Laboratory" : "Vital Signs")}}}}},
          {"code", {{"coding", {Coding(fhir::kLoinc, loinc, display)}}}},
          {"subject", {{"reference", "Patient/" + p.id}}},
          {"effectiveDateTime", IsoUtc(at_ms)},
          {"valueQuantity", {{"value", value}, {"unit", unit}, {"system", kUcum}, {"code", unit}}}};
}

Json WardBuilder::Administration(const DemoPatient& p, int64_t start_ms) const {
  const int64_t end_ms = start_ms + static_cast<int64_t>(kInfusionH * kMsPerH);
  return {{"status", "completed"},
          {"medicationCodeableConcept",
           {{"coding", {Coding(kRxNorm, "11124", "vancomycin")}}, {"text", "vancomycin IV"}}},
          {"subject", {{"reference", "Patient/" + p.id}}},
          {"effectivePeriod", {{"start", IsoUtc(start_ms)}, {"end", IsoUtc(end_ms)}}},
          {"dosage",
           {{"route",
             {{"coding", {Coding("http://snomed.info/sct", "47625008", "Intravenous route")}}}},
            {"dose", {{"value", p.dose_mg}, {"unit", "mg"}, {"system", kUcum}, {"code", "mg"}}}}}};
}

void WardBuilder::AddLevels(int index, const Schedule& s, const std::vector<double>& predicted,
                            std::mt19937_64& rng, DemoPatient* p, DemoWard* ward) const {
  const ResidualError error = model_.spec().observables[0].error;
  std::normal_distribution<double> normal(0.0, 1.0);
  const char* unit = index % 2 == 0 ? "ug/mL" : "mg/L";  // demo-1, demo-3, ...: ug/mL
  int troughs = 0;
  for (size_t i = 0; i < s.levels.size(); ++i) {
    double level = predicted[i];
    if (o_.residual_error) {
      // A draw within 3 SD that a laboratory could report (>= 0.1 mg/L); the prediction itself
      // if 100 draws fail (a level far below the additive error).
      for (int tries = 0; tries < 100; ++tries) {
        const double z = normal(rng);
        const double y = error.Observation(predicted[i], z);
        if (std::abs(z) <= 3.0 && y >= 0.1) {
          level = y;
          break;
        }
      }
    }
    const std::string id = p->id + "-level-" + std::to_string(i + 1);
    const bool peak = s.levels[i].peak;
    if (!peak) ++troughs;
    if (index == kMislabelledIndex && !peak && troughs == 2) {
      // Ten times the exact level; five times (or less) when ten would pass 250 mg/L.
      p->mislabel_factor = kMislabelFactor;
      while (predicted[i] * p->mislabel_factor > kMislabelMaxMgPerL && p->mislabel_factor > 2.0) {
        p->mislabel_factor /= 2.0;
      }
      level = predicted[i] * p->mislabel_factor;
      p->mislabelled_level_id = id;
    }
    const int64_t at_ms =
        p->admission_ms + static_cast<int64_t>(std::llround(s.levels[i].t_h * kMsPerH));
    Add(ward, at_ms, "Observation", id,
        Observation(*p, at_ms, peak ? "4090-7" : "4092-3",
                    peak ? "Vancomycin [Mass/volume] in Serum or Plasma --peak"
                         : "Vancomycin [Mass/volume] in Serum or Plasma --trough",
                    "laboratory", Round(level, 0.1), unit));
  }
}

Status WardBuilder::Patient(int index, DemoWard* ward) {
  std::mt19937_64 rng(SplitMix64(o_.seed ^ SplitMix64(static_cast<uint64_t>(index) + 1)));
  const double span_h = o_.hours - index * kAdmissionStaggerH;
  if (span_h < 0) return Status::Ok();
  const Schedule s = MakeSchedule(span_h);
  DemoPatient p = Draw(index, rng, s);
  Result<std::vector<double>> predicted = Predict(p, s);
  if (!predicted.ok()) return predicted.status();
  auto at = [&](double t_h) {
    return p.admission_ms + static_cast<int64_t>(std::llround(t_h * kMsPerH));
  };

  Add(ward, p.admission_ms, "Patient", p.id, PatientResource(p, rng));
  for (size_t d = 0; d < s.day_h.size(); ++d) {
    const std::string day = std::to_string(d);
    Add(ward, at(s.day_h[d]), "Observation", p.id + "-weight-" + day,
        Observation(p, at(s.day_h[d]), "29463-7", "Body weight", "vital-signs", p.weight_kg, "kg"));
    Add(ward, at(s.day_h[d]), "Observation", p.id + "-creatinine-" + day,
        Observation(p, at(s.day_h[d]), "2160-0", "Creatinine [Mass/volume] in Serum or Plasma",
                    "laboratory", p.scr_mg_per_dL[d], "mg/dL"));
  }
  for (size_t k = 0; k < s.dose_h.size(); ++k) {
    const int64_t start = at(s.dose_h[k]);
    Add(ward, start + static_cast<int64_t>(kInfusionH * kMsPerH), "MedicationAdministration",
        p.id + "-vancomycin-" + std::to_string(k + 1), Administration(p, start));
  }
  AddLevels(index, s, *predicted, rng, &p, ward);
  ward->patients.push_back(std::move(p));
  return Status::Ok();
}

}  // namespace

Status DemoWardOptions::Validate() const {
  if (patients < 1 || patients > 100) {
    return Status::Invalid("demo ward: patients=" + std::to_string(patients) + " must be 1..100");
  }
  if (!(hours > 0.0) || !(hours <= 720.0)) {
    return Status::Invalid("demo ward: hours=" + std::to_string(hours) + " must be in (0, 720]");
  }
  // 2000-01-01 .. 2100-01-01: birth dates and ISO times stay four-digit years.
  if (start_epoch_ms < 946684800000 || start_epoch_ms > 4102444800000) {
    return Status::Invalid("demo ward: start_epoch_ms=" + std::to_string(start_epoch_ms) +
                           " must lie in 2000-2100");
  }
  return Status::Ok();
}

Result<DemoWard> MakeDemoWard(const DemoWardOptions& options) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  Result<std::unique_ptr<Model>> model = MakeModel(kModel);
  if (!model.ok()) return model.status();
  WardBuilder builder(options, **model);
  DemoWard ward;
  for (int i = 0; i < options.patients; ++i) MEDTWIN_RETURN_IF_ERROR(builder.Patient(i, &ward));
  std::stable_sort(ward.items.begin(), ward.items.end(),
                   [](const DemoItem& a, const DemoItem& b) { return a.at_ms < b.at_ms; });
  return ward;
}

}  // namespace medtwin::server
