// Normalisation at the boundary: mapped Observation values to canonical units, patient
// covariates. The rules are in docs/fhir.md ("Normalisation").
#include <cstdio>

#include "medtwin/fhir_map.h"

namespace medtwin::fhir {
namespace {

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

struct Normalizer {
  const ObservationMap& map;
  bool strict;
  Observation* obs;
  OperationOutcome* out;
  bool checked_context = false;

  // A variant code or unit: a warning, or an error when strict.
  void Variant(const std::string& at, const std::string& what) {
    if (strict) {
      out->Error(IssueType::kCodeInvalid, at, what + " (rejected: strict codes)");
    } else {
      out->Warning(IssueType::kCodeInvalid, at, what);
    }
  }

  // A mapped value needs a patient and a time to be a twin input; checked once.
  void CheckContext(const MappedQuantity& q) {
    if (checked_context) return;
    checked_context = true;
    if (obs->subject.reference.empty()) {
      out->Error(IssueType::kRequired, "Observation.subject",
                 "a " + q.name + " observation must name its patient (subject.reference)");
    }
    if (!obs->effective_start && !obs->effective_end) {
      out->Error(IssueType::kRequired, "Observation.effective[x]",
                 "a " + q.name +
                     " observation needs effectiveDateTime, effectiveInstant or "
                     "effectivePeriod");
    }
  }

  void One(const CodeableConcept& code, const Value& value,
           const std::optional<CodeableConcept>& absent, const std::string& base);
  void FromQuantity(const MappedQuantity& q, const Coding& coding, bool code_variant,
                    const Quantity& qty, const std::string& base);
};

void Normalizer::One(const CodeableConcept& code, const Value& value,
                     const std::optional<CodeableConcept>& absent, const std::string& base) {
  std::optional<ObservationMap::Match> match;
  size_t k = 0;
  for (; k < code.coding.size() && !match; ++k) {
    match = map.Find(code.coding[k].system, code.coding[k].code);
  }
  if (!match) return;
  const MappedQuantity& q = *match->quantity;
  const Coding& coding = code.coding[k - 1];
  const bool code_variant = !match->code->variant.empty();
  if (code_variant) {
    Variant(base + ".code.coding[" + std::to_string(k - 1) + "]",
            "code " + coding.code + " (" + coding.system +
                ") is a variant: " + match->code->variant + "; mapped to " + q.name);
  }
  CheckContext(q);
  if (absent) {
    const std::string why = absent->coding.empty() ? absent->text : absent->coding[0].code;
    out->Information(base + ".dataAbsentReason", q.name + " absent: " + why);
    return;
  }
  if (value.kind != "Quantity") {
    out->Error(value.present() ? IssueType::kValue : IssueType::kRequired,
               base + (value.present() ? ".value" + value.kind : std::string(".value[x]")),
               q.name + " (" + coding.code + ") needs valueQuantity" +
                   (value.present() ? ", found value" + value.kind : " or dataAbsentReason"));
    return;
  }
  FromQuantity(q, coding, code_variant, value.quantity, base + ".valueQuantity");
}

void Normalizer::FromQuantity(const MappedQuantity& q, const Coding& coding, bool code_variant,
                              const Quantity& qty, const std::string& at) {
  if (!qty.value) {
    out->Error(IssueType::kRequired, at + ".value", q.name + " (" + coding.code + ") has no value");
    return;
  }
  if (!qty.comparator.empty()) {
    out->Warning(IssueType::kNotSupported, at + ".comparator",
                 q.name + " " + qty.comparator + " " + Num(*qty.value) +
                     " is censored; censored values are kept but not normalised");
    return;
  }
  // The coded unit (Quantity.code) decides; the display unit is used when there is no code.
  const bool by_code = !qty.code.empty();
  const std::string& unit = by_code ? qty.code : qty.unit;
  const std::string field = at + (by_code ? ".code" : ".unit");
  if (unit.empty()) {
    out->Error(IssueType::kRequired, at + ".code",
               q.name + " (" + coding.code + ") needs a unit; accepted: " + q.UnitList());
    return;
  }
  const UnitRule* rule = q.FindUnit(unit);
  if (rule == nullptr) {
    out->Error(IssueType::kCodeInvalid, field,
               "unit '" + unit + "' is not accepted for " + q.name + " (" + coding.code +
                   "); accepted: " + q.UnitList());
    return;
  }
  bool unit_variant = !rule->variant.empty();
  if (unit_variant) Variant(field, "unit '" + unit + "' is a variant: " + rule->variant);
  if (!qty.system.empty() && qty.system != kUcum) {
    unit_variant = true;
    Variant(at + ".system", "unit system " + qty.system + " is not UCUM (" + kUcum + ")");
  }
  const double v = (*qty.value + rule->offset) * rule->scale;
  if (v < q.min || v > q.max) {
    out->Error(IssueType::kValue, at + ".value",
               Num(*qty.value) + " " + unit + " (" + Num(v) + " " + q.canonical_unit +
                   ") is outside the plausible range " + Num(q.min) + "-" + Num(q.max) + " " +
                   q.canonical_unit + " for " + q.name + "; is the unit right?");
    return;
  }
  NormalizedValue n;
  n.quantity = q.name;
  n.value = v;
  n.unit = q.canonical_unit;
  n.element = at;
  n.source_code = coding;
  n.source_value = *qty.value;
  n.source_unit = unit;
  n.variant = code_variant || unit_variant;
  obs->normalized.push_back(std::move(n));
}

}  // namespace

void NormalizeObservation(const ObservationMap& map, bool strict, Observation* observation,
                          OperationOutcome* outcome) {
  Normalizer n{map, strict, observation, outcome};
  if (observation->status == "entered-in-error" || observation->status == "cancelled") {
    outcome->Information("Observation.status",
                         "status " + observation->status + ": not used as a twin input");
    return;
  }
  for (size_t k = 0; k < observation->code.coding.size(); ++k) {
    const Coding& c = observation->code.coding[k];
    const CodeRule* panel = map.FindPanel(c.system, c.code);
    if (panel != nullptr && !panel->variant.empty()) {
      n.Variant("Observation.code.coding[" + std::to_string(k) + "]",
                "panel code " + c.code + " is a variant: " + panel->variant);
    }
  }
  n.One(observation->code, observation->value, observation->data_absent_reason, "Observation");
  for (size_t i = 0; i < observation->components.size(); ++i) {
    const ObservationComponent& c = observation->components[i];
    n.One(c.code, c.value, c.data_absent_reason,
          "Observation.component[" + std::to_string(i) + "]");
  }
}

Result<std::vector<CovariateValue>> PatientCovariates(const ObservationMap& map,
                                                      const Patient& patient, int64_t at_epoch_ms) {
  // Age in years of 365.25 days: a fractional age, as Cockcroft-Gault and the PK models use it.
  constexpr double kMsPerYear = 365.25 * 86400000.0;
  std::vector<CovariateValue> out;
  for (const PatientCovariate& c : map.patient_covariates()) {
    if (c.element == "gender") {
      if (!patient.gender_given) continue;
      auto it = c.values.find(ToString(patient.gender));
      if (it != c.values.end()) out.push_back({c.name, it->second, c.unit});
    } else if (c.element == "birthDate" && patient.birth_date) {
      const int64_t age_ms = at_epoch_ms - patient.birth_date->epoch_ms;
      if (age_ms < 0) {
        return Status::Invalid("Patient.birthDate: " + patient.birth_date->text +
                               " is after the time the covariates are wanted for");
      }
      out.push_back({c.name, static_cast<double>(age_ms) / kMsPerYear, c.unit});
    }
  }
  return out;
}

}  // namespace medtwin::fhir
