#include "server/twin_inputs.h"

#include <algorithm>
#include <tuple>
#include <variant>

#include "medtwin/fhir.h"

namespace medtwin::server {
namespace {

// The feed of `quantity` into `spec`, if any.
const fhir::Feed* FeedFor(const std::vector<fhir::Feed>& feeds, const ModelSpec& spec) {
  for (const fhir::Feed& f : feeds) {
    if (f.model == spec.name) return &f;
  }
  return nullptr;
}

Result<std::vector<TwinInput>> ObservationInputs(const fhir::ObservationMap& map,
                                                 const ModelSpec& spec, const fhir::Observation& o,
                                                 const std::string& source) {
  std::vector<TwinInput> out;
  for (const fhir::NormalizedValue& v : o.normalized) {
    const fhir::MappedQuantity* q = map.FindQuantity(v.quantity);
    const fhir::Feed* f = q ? FeedFor(q->feeds, spec) : nullptr;
    if (f == nullptr) continue;
    if (!o.effective_start) {
      return Status::Invalid(source + ": effective[x] is required for a value a twin reads");
    }
    TwinInput in;
    in.kind = f->observable.empty() ? TwinInput::Kind::kCovariate : TwinInput::Kind::kObservation;
    in.at_ms = o.effective_start->epoch_ms;
    in.name = f->observable.empty() ? f->covariate : f->observable;
    in.value = v.value;
    in.source = source;
    out.push_back(std::move(in));
  }
  return out;
}

// Doses: the medication map decides which drug feeds which model compartment.
Result<std::vector<TwinInput>> DoseInputs(const fhir::ObservationMap& map, const ModelSpec& spec,
                                          const fhir::MedicationAdministration& a,
                                          const std::string& source) {
  std::vector<TwinInput> out;
  // Another drug (or one the map does not know) is not this twin's input.
  const bool feeds = std::any_of(a.medication_concept.coding.begin(),
                                 a.medication_concept.coding.end(), [&](const fhir::Coding& c) {
                                   const fhir::MappedMedication* m =
                                       map.FindMedication(c.system, c.code);
                                   return m != nullptr && m->FindFeed(spec.name) != nullptr;
                                 });
  if (!feeds) return out;
  auto dose = fhir::ToModelDose(map, a, spec.name);
  if (!dose.ok()) return dose.status().WithContext(source);
  const fhir::ModelDose& d = *dose;
  TwinInput in;
  in.kind = TwinInput::Kind::kDose;
  in.at_ms = d.start_epoch_ms;
  in.name = d.compartment;
  in.value = d.amount;
  in.rate = d.rate;
  in.source = source;
  out.push_back(std::move(in));
  return out;
}

}  // namespace

void SortInputs(std::vector<TwinInput>* inputs) {
  std::stable_sort(inputs->begin(), inputs->end(), [](const TwinInput& a, const TwinInput& b) {
    return std::tie(a.at_ms, a.kind, a.source) < std::tie(b.at_ms, b.kind, b.source);
  });
}

Result<double> MsPerTimeUnit(const ModelSpec& spec) {
  if (spec.time_unit == "h") return 3'600'000.0;
  if (spec.time_unit == "min") return 60'000.0;
  if (spec.time_unit == "s") return 1'000.0;
  if (spec.time_unit == "d" || spec.time_unit == "day") return 86'400'000.0;
  return Status::Unsupported("model " + spec.name + ": time unit '" + spec.time_unit +
                             "' cannot be placed on the clock (h, min, s or d/day)");
}

Result<double> ModelTime(const ModelSpec& spec, int64_t at_ms, int64_t origin_ms) {
  auto per = MsPerTimeUnit(spec);
  if (!per.ok()) return per.status();
  return static_cast<double>(at_ms - origin_ms) / *per;
}

Result<std::vector<TwinInput>> TwinInputs(const fhir::ObservationMap& map, const ModelSpec& spec,
                                          const std::string& type, const std::string& json) {
  if (type != "Observation" && type != "MedicationAdministration") {
    return std::vector<TwinInput>{};
  }
  fhir::ReadOptions ro;
  ro.observation_map = &map;
  fhir::ResourceOutcome o = fhir::ReadResource(json, ro);
  if (!o.accepted()) {
    return Status::Invalid(type + ": stored resource no longer reads: " + o.outcome.FirstError());
  }
  const std::string source = type + "/" + o.resource->id;
  if (const auto* obs = std::get_if<fhir::Observation>(&o.resource->typed)) {
    return ObservationInputs(map, spec, *obs, source);
  }
  if (const auto* med = std::get_if<fhir::MedicationAdministration>(&o.resource->typed)) {
    return DoseInputs(map, spec, *med, source);
  }
  return std::vector<TwinInput>{};
}

Result<std::vector<std::pair<std::string, double>>> PatientTwinCovariates(
    const fhir::ObservationMap& map, const ModelSpec& spec, const std::string& patient_json,
    int64_t at_ms) {
  fhir::ReadOptions ro;
  ro.expected_type = "Patient";
  fhir::ResourceOutcome o = fhir::ReadResource(patient_json, ro);
  if (!o.accepted()) {
    return Status::Invalid("Patient: stored resource no longer reads: " + o.outcome.FirstError());
  }
  const auto& patient = std::get<fhir::Patient>(o.resource->typed);
  auto values = fhir::PatientCovariates(map, patient, at_ms);
  if (!values.ok()) return values.status();
  std::vector<std::pair<std::string, double>> out;
  for (const fhir::CovariateValue& v : *values) {
    for (const fhir::PatientCovariate& c : map.patient_covariates()) {
      if (c.name != v.name) continue;
      if (const fhir::Feed* f = FeedFor(c.feeds, spec)) out.emplace_back(f->covariate, v.value);
    }
  }
  return out;
}

}  // namespace medtwin::server
