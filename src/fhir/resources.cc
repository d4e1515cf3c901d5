// Typed reading of Patient, Observation, MedicationAdministration, MedicationRequest, Condition,
// Encounter and OperationOutcome (R4 4.0.1 element definitions and invariants).
#include "fhir/resources.h"

namespace medtwin::fhir {
namespace {

// Repeating elements are JSON arrays (R4 JSON format).
void CheckArray(const Json& r, std::string_view key, const Path& at, Issues& issues) {
  auto it = r.find(key);
  if (it != r.end() && !it->is_array()) {
    issues.Error(IssueType::kStructure, at.Child(key),
                 std::string("repeating element must be an array, found ") + JsonTypeName(*it));
  }
}

bool SameCoding(const CodeableConcept& a, const CodeableConcept& b) {
  for (const Coding& x : a.coding) {
    if (!x.code.empty() && b.Find(x.system, x.code) != nullptr) return true;
  }
  return false;
}

// The code of the first coding of a status CodeableConcept (clinicalStatus, ...).
std::string StatusCode(const CodeableConcept& c) {
  return c.coding.empty() ? std::string() : c.coding.front().code;
}

void ReadMedicationChoice(const Json& r, const Path& at, Issues& issues, CodeableConcept* coded,
                          Reference* reference) {
  const std::string_view key = FindChoice(r, "medication", at, issues);
  if (key.empty()) {
    issues.Error(IssueType::kRequired, at.Child("medication[x]"),
                 "required element is missing (medicationCodeableConcept or "
                 "medicationReference)");
  } else if (key == "medicationCodeableConcept") {
    ReadCodeableConcept(r, key, at, issues, coded);
  } else if (key == "medicationReference") {
    ReadReference(r, key, at, issues, reference);
  } else {
    issues.Error(IssueType::kStructure, at.Child(key),
                 "medication[x] is a CodeableConcept or a Reference");
  }
}

void ReadComponent(const Json& c, const Path& at, Issues& issues, ObservationComponent* out) {
  if (Require(c, "code", at, issues)) ReadCodeableConcept(c, "code", at, issues, &out->code);
  ReadValue(c, at, issues, &out->value);
  CodeableConcept dar;
  if (ReadCodeableConcept(c, "dataAbsentReason", at, issues, &dar)) out->data_absent_reason = dar;
  if (out->value.present() && out->data_absent_reason) {
    issues.Error(IssueType::kInvariant, at.Child("dataAbsentReason"),
                 "obs-6: dataAbsentReason only when there is no value[x]");
  }
}

}  // namespace

void ReadPatient(const Json& r, const Path& at, Issues& issues, Patient* out) {
  CheckArray(r, "identifier", at, issues);
  CheckArray(r, "name", at, issues);
  ReadIdentifiers(r, "identifier", &out->identifiers);
  std::string gender;
  if (ReadCode(r, "gender", at, issues, {"male", "female", "other", "unknown"}, &gender)) {
    out->gender_given = true;
    out->gender = gender == "male"     ? AdministrativeGender::kMale
                  : gender == "female" ? AdministrativeGender::kFemale
                  : gender == "other"  ? AdministrativeGender::kOther
                                       : AdministrativeGender::kUnknown;
  }
  ReadDateTime(r, "birthDate", "date", at, issues, &out->birth_date);
  const std::string_view deceased = FindChoice(r, "deceased", at, issues);
  if (deceased == "deceasedBoolean") {
    ReadBool(r, deceased, at, issues, &out->deceased);
  } else if (deceased == "deceasedDateTime") {
    out->deceased = ReadDateTime(r, deceased, "dateTime", at, issues, &out->deceased_date);
  } else if (!deceased.empty()) {
    issues.Error(IssueType::kStructure, at.Child(deceased), "deceased[x] is Boolean or DateTime");
  }
  auto names = r.find("name");
  if (names != r.end() && names->is_array() && !names->empty() && names->front().is_object()) {
    const Json& n = names->front();
    const Path p = at.Child("name", 0);
    ReadString(n, "family", p, issues, &out->family);
    auto given = n.find("given");
    if (given != n.end() && given->is_array() && !given->empty() && given->front().is_string()) {
      out->given = given->front().get<std::string>();
    }
  }
}

void ReadObservation(const Json& r, const Path& at, Issues& issues, Observation* out) {
  if (Require(r, "status", at, issues)) {
    ReadCode(r, "status", at, issues,
             {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
              "entered-in-error", "unknown"},
             &out->status);
  }
  ReadCodeableConcepts(r, "category", at, issues, &out->category);
  if (Require(r, "code", at, issues)) ReadCodeableConcept(r, "code", at, issues, &out->code);
  ReadReference(r, "subject", at, issues, &out->subject);
  ReadReference(r, "encounter", at, issues, &out->encounter);
  bool has_effective = false;
  ReadTimeChoice(r, "effective", at, issues, &out->effective_start, &out->effective_end,
                 &has_effective);
  ReadDateTime(r, "issued", "instant", at, issues, &out->issued);
  ReadValue(r, at, issues, &out->value);
  CodeableConcept dar;
  if (ReadCodeableConcept(r, "dataAbsentReason", at, issues, &dar)) out->data_absent_reason = dar;
  if (out->value.present() && out->data_absent_reason) {
    issues.Error(IssueType::kInvariant, at.Child("dataAbsentReason"),
                 "obs-6: dataAbsentReason only when there is no value[x]");
  }
  ReadReferences(r, "hasMember", at, issues, &out->has_member);
  auto comps = r.find("component");
  if (comps != r.end()) {
    if (!comps->is_array()) {
      CheckArray(r, "component", at, issues);
      return;
    }
    for (size_t i = 0; i < comps->size(); ++i) {
      const Path p = at.Child("component", static_cast<int>(i));
      if (!(*comps)[i].is_object()) {
        issues.Error(IssueType::kStructure, p, "must be an object");
        continue;
      }
      ObservationComponent& c = out->components.emplace_back();
      ReadComponent((*comps)[i], p, issues, &c);
      if (out->value.present() && SameCoding(out->code, c.code)) {
        issues.Error(IssueType::kInvariant, p.Child("code"),
                     "obs-7: a component with the Observation's own code forbids a value at the "
                     "top level");
      }
    }
  }
}

void ReadMedicationAdministration(const Json& r, const Path& at, Issues& issues,
                                  MedicationAdministration* out) {
  if (Require(r, "status", at, issues)) {
    ReadCode(r, "status", at, issues,
             {"in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped",
              "unknown"},
             &out->status);
  }
  ReadMedicationChoice(r, at, issues, &out->medication_concept, &out->medication_reference);
  if (Require(r, "subject", at, issues)) ReadReference(r, "subject", at, issues, &out->subject);
  ReadReference(r, "context", at, issues, &out->context);
  ReadReference(r, "request", at, issues, &out->request);
  bool has_effective = false;
  ReadTimeChoice(r, "effective", at, issues, &out->effective_start, &out->effective_end,
                 &has_effective);
  if (!has_effective) {
    issues.Error(IssueType::kRequired, at.Child("effective[x]"),
                 "required element is missing (effectiveDateTime or effectivePeriod)");
  }
  auto d = r.find("dosage");
  if (d == r.end()) return;
  const Path p = at.Child("dosage");
  if (!d->is_object()) {
    issues.Error(IssueType::kStructure, p, "must be an object");
    return;
  }
  Dosage dosage;
  const bool has_dose = ReadQuantity(*d, "dose", p, issues, &dosage.dose);
  const std::string_view rate = FindChoice(*d, "rate", p, issues);
  if (rate == "rateQuantity") {
    ReadQuantity(*d, rate, p, issues, &dosage.rate_quantity.emplace());
  } else if (rate == "rateRatio") {
    ReadRatio(*d, rate, p, issues, &dosage.rate_ratio.emplace());
  } else if (!rate.empty()) {
    issues.Error(IssueType::kStructure, p.Child(rate), "rate[x] is Ratio or Quantity");
  }
  ReadCodeableConcept(*d, "route", p, issues, &dosage.route);
  if (!has_dose && rate.empty()) {
    issues.Error(IssueType::kInvariant, p, "mad-1: dosage needs dose or rate[x]");
  }
  out->dosage = std::move(dosage);
}

namespace {

void ReadDosageInstruction(const Json& d, const Path& p, Issues& issues, DosageInstruction* out) {
  ReadString(d, "text", p, issues, &out->text);
  ReadBool(d, "asNeededBoolean", p, issues, &out->as_needed);
  if (auto t = d.find("timing"); t != d.end() && t->is_object()) {
    const Path tp = p.Child("timing");
    if (auto rep = t->find("repeat"); rep != t->end() && rep->is_object()) {
      const Path rp = tp.Child("repeat");
      TimingRepeat& tr = out->repeat.emplace();
      ReadNumber(*rep, "frequency", rp, issues, &tr.frequency);
      ReadNumber(*rep, "period", rp, issues, &tr.period);
      ReadNumber(*rep, "duration", rp, issues, &tr.duration);
      for (const char* key : {"periodUnit", "durationUnit"}) {
        if (!rep->contains(key)) continue;
        ReadCode(*rep, key, rp, issues, {"s", "min", "h", "d", "wk", "mo", "a"},
                 key[0] == 'p' ? &tr.period_unit : &tr.duration_unit);
      }
    }
  }
  auto dr = d.find("doseAndRate");
  if (dr == d.end() || !dr->is_array() || dr->empty() || !dr->front().is_object()) return;
  const Json& first = dr->front();
  const Path drp = p.Child("doseAndRate", 0);
  Quantity q;
  if (ReadQuantity(first, "doseQuantity", drp, issues, &q)) out->dose_quantity = q;
  Quantity rq;
  if (ReadQuantity(first, "rateQuantity", drp, issues, &rq)) out->rate_quantity = rq;
}

}  // namespace

void ReadMedicationRequest(const Json& r, const Path& at, Issues& issues, MedicationRequest* out) {
  if (Require(r, "status", at, issues)) {
    ReadCode(r, "status", at, issues,
             {"active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft",
              "unknown"},
             &out->status);
  }
  if (Require(r, "intent", at, issues)) {
    ReadCode(r, "intent", at, issues,
             {"proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
              "instance-order", "option"},
             &out->intent);
  }
  ReadMedicationChoice(r, at, issues, &out->medication_concept, &out->medication_reference);
  if (Require(r, "subject", at, issues)) ReadReference(r, "subject", at, issues, &out->subject);
  ReadReference(r, "encounter", at, issues, &out->encounter);
  ReadReference(r, "requester", at, issues, &out->requester);
  ReadDateTime(r, "authoredOn", "dateTime", at, issues, &out->authored_on);
  auto di = r.find("dosageInstruction");
  if (di == r.end()) return;
  if (!di->is_array()) {
    CheckArray(r, "dosageInstruction", at, issues);
    return;
  }
  for (size_t i = 0; i < di->size(); ++i) {
    const Path p = at.Child("dosageInstruction", static_cast<int>(i));
    if (!(*di)[i].is_object()) {
      issues.Error(IssueType::kStructure, p, "must be an object");
      continue;
    }
    ReadDosageInstruction((*di)[i], p, issues, &out->dosage_instructions.emplace_back());
  }
}

void ReadCondition(const Json& r, const Path& at, Issues& issues, Condition* out) {
  CodeableConcept clinical, verification;
  if (ReadCodeableConcept(r, "clinicalStatus", at, issues, &clinical)) {
    out->clinical_status = StatusCode(clinical);
  }
  if (ReadCodeableConcept(r, "verificationStatus", at, issues, &verification)) {
    out->verification_status = StatusCode(verification);
  }
  ReadCodeableConcept(r, "code", at, issues, &out->code);
  if (Require(r, "subject", at, issues)) ReadReference(r, "subject", at, issues, &out->subject);
  ReadReference(r, "encounter", at, issues, &out->encounter);
  std::optional<DateTime> end;
  bool has_onset = false, has_abatement = false;
  ReadTimeChoice(r, "onset", at, issues, &out->onset, &end, &has_onset);
  ReadTimeChoice(r, "abatement", at, issues, &out->abatement, &end, &has_abatement);
  ReadDateTime(r, "recordedDate", "dateTime", at, issues, &out->recorded_date);
  const std::string& cs = out->clinical_status;
  if (has_abatement && !cs.empty() && cs != "inactive" && cs != "resolved" && cs != "remission") {
    issues.Error(IssueType::kInvariant, at.Child("clinicalStatus"),
                 "con-4: an abated condition has clinicalStatus inactive, resolved or remission, "
                 "not " +
                     Quoted(cs));
  }
  if (out->verification_status == "entered-in-error" && !cs.empty()) {
    issues.Error(IssueType::kInvariant, at.Child("clinicalStatus"),
                 "con-5: no clinicalStatus when verificationStatus is entered-in-error");
  }
}

void ReadEncounter(const Json& r, const Path& at, Issues& issues, Encounter* out) {
  if (Require(r, "status", at, issues)) {
    ReadCode(r, "status", at, issues,
             {"planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled",
              "entered-in-error", "unknown"},
             &out->status);
  }
  if (Require(r, "class", at, issues)) ReadCoding(r, "class", at, issues, &out->encounter_class);
  ReadCodeableConcepts(r, "type", at, issues, &out->type);
  ReadReference(r, "subject", at, issues, &out->subject);
  ReadPeriod(r, "period", at, issues, &out->period);
}

void ReadOperationOutcome(const Json& r, const Path& at, Issues& issues,
                          OperationOutcomeResource* out) {
  if (!Require(r, "issue", at, issues)) return;
  auto arr = r.find("issue");
  if (!arr->is_array()) {
    CheckArray(r, "issue", at, issues);
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const Path p = at.Child("issue", static_cast<int>(i));
    const Json& j = (*arr)[i];
    if (!j.is_object()) {
      issues.Error(IssueType::kStructure, p, "must be an object");
      continue;
    }
    std::string severity, code, diagnostics, expression;
    if (Require(j, "severity", p, issues)) {
      ReadCode(j, "severity", p, issues, {"fatal", "error", "warning", "information"}, &severity);
    }
    if (Require(j, "code", p, issues)) ReadString(j, "code", p, issues, &code);
    ReadString(j, "diagnostics", p, issues, &diagnostics);
    if (auto e = j.find("expression");
        e != j.end() && e->is_array() && !e->empty() && e->front().is_string()) {
      expression = e->front().get<std::string>();
    }
    const IssueSeverity s = severity == "fatal"         ? IssueSeverity::kFatal
                            : severity == "warning"     ? IssueSeverity::kWarning
                            : severity == "information" ? IssueSeverity::kInformation
                                                        : IssueSeverity::kError;
    // Codes outside medtwin's subset are kept in the diagnostics.
    IssueType t = IssueType::kInvalid;
    for (IssueType candidate :
         {IssueType::kInvalid, IssueType::kStructure, IssueType::kRequired, IssueType::kValue,
          IssueType::kInvariant, IssueType::kNotSupported, IssueType::kDuplicate,
          IssueType::kMultipleMatches, IssueType::kNotFound, IssueType::kTooLong,
          IssueType::kTooCostly, IssueType::kCodeInvalid, IssueType::kProcessing,
          IssueType::kInformational}) {
      if (code == ToString(candidate)) t = candidate;
    }
    if (code != ToString(t)) diagnostics = "[" + code + "] " + diagnostics;
    out->outcome.Add(s, t, expression, diagnostics);
  }
}

}  // namespace medtwin::fhir
