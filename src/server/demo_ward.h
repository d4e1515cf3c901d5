// A virtual vancomycin ward as FHIR R4 resources, for `medtwin serve --demo` (docs/server.md,
// "Demo ward").
//
// Each patient ("demo-1", "demo-2", ...) is admitted 2 h after the previous one and has:
//  - a Patient (name, gender, birthDate for an age drawn from 25-85 years);
//  - body weight (LOINC 29463-7, kg) and serum creatinine (2160-0, mg/dL) Observations at
//    admission and every 24 h; demo-2's creatinine rises 40 % a day (acute kidney injury, so its
//    clearance falls while the twin watches);
//  - vancomycin (RxNorm 11124) every 12 h from 1 h after admission, 15 mg/kg rounded to 250 mg
//    (250-2000 mg), as 1-hour infusions: MedicationAdministrations with effectivePeriod and
//    dosage.dose in mg;
//  - vancomycin levels (LOINC 4092-3 trough, 4090-7 peak) 30 min before the 4th dose, 1 h after
//    the end of the 4th infusion, and 30 min before every second dose after that (daily
//    troughs), simulated with vancomycin_goti2018 from the patient's true parameters (typical
//    values, covariates and random effects drawn from the model's between-subject variability)
//    plus the model's residual error. Odd-numbered patients' labs report ug/mL, the others mg/L.
//  - Mislabelled level, so the twin's anomaly (outlier) alert fires in the demo: demo-3's second
//    trough (30 min before its 6th dose, 60.5 h after admission) is reported 10 times too high,
//    a decimal-point slip (10 x the exact prediction, without residual error: 5 x a noisy level
//    did not always stand out of the twin's prediction; 5 x when 10 x would pass 250 mg/L, so
//    the value stays inside the observation map's plausible range and is accepted).
//    DemoPatient::mislabelled_level_id names it ("" when the ward has fewer than 3 patients or
//    ends before that time), mislabel_factor gives the factor.
// Only events up to start + hours are generated. Every resource passes fhir::ReadResource, and
// its mapped values normalise through the observation map; the doses map through the medication
// map to vancomycin_goti2018's central compartment.
//
// Thread safety: MakeDemoWard is reentrant.
#ifndef MEDTWIN_SERVER_DEMO_WARD_H_
#define MEDTWIN_SERVER_DEMO_WARD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "medtwin/status.h"

namespace medtwin::server {

struct DemoWardOptions {
  int patients = 6;                        // 1..100
  uint64_t seed = 1;                       // the same seed gives the same ward
  int64_t start_epoch_ms = 1709280000000;  // first admission, 2024-03-01T08:00:00Z; 2000-2100
  double hours = 72.0;                     // length of the generated record, (0, 720] h
  bool residual_error = true;              // false: levels are the exact model predictions
  Status Validate() const;
};

// A FHIR R4 resource and the time it becomes available: a Patient at admission, an Observation
// at its effective time, a MedicationAdministration (status completed) at the end of its
// infusion. Within a patient no other resource's effective time falls inside an infusion, so
// at_ms order is also the order of effective times.
struct DemoItem {
  int64_t at_ms = 0;
  std::string type;  // resourceType
  std::string id;
  std::string json;  // the resource, compact JSON with its id
};

// What the generator knew: the truth the twins should recover.
struct DemoPatient {
  std::string id;  // Patient id, "demo-1"
  int64_t admission_ms = 0;
  std::string birth_date;  // Patient.birthDate
  double age_y = 0.0;      // at admission (365.25-day years, as fhir::PatientCovariates)
  int sex = 0;             // 0 male, 1 female (vancomycin_goti2018 SEX)
  double weight_kg = 0.0;
  std::vector<double> scr_mg_per_dL;  // as reported at admission + 24 h * index
  double dose_mg = 0.0;               // every 12 h
  std::vector<double> eta;            // vancomycin_goti2018 random effects (CL, V1, V2)
  std::string mislabelled_level_id;   // Observation id reported too high, or ""
  double mislabel_factor = 1.0;       // its value / the exact level: 10, or 5 (2.5) when that
                                      // would pass 250 mg/L (the map accepts up to 300)
};

struct DemoWard {
  std::vector<DemoItem> items;  // sorted by at_ms (ties: patient, then generation order)
  std::vector<DemoPatient> patients;
};

// The ward for `options`. Errors: invalid options (naming the option), a model or simulation
// failure (naming the patient).
Result<DemoWard> MakeDemoWard(const DemoWardOptions& options);

}  // namespace medtwin::server

#endif  // MEDTWIN_SERVER_DEMO_WARD_H_
