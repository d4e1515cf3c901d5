// MedicationAdministration -> a dose: in mg (and mg/h) for the PK models (ToDoseEvent), or in a
// model's compartment unit and time unit by the medication map (ToModelDose). One reader serves
// both; they differ only in the table of amount units and the time unit of the rate.
#include <cmath>

#include "medtwin/fhir.h"
#include "medtwin/fhir_map.h"

namespace medtwin::fhir {
namespace {

// Mass units in mg. "mcg" is not UCUM but common on medication labels; accepted as ug.
const std::vector<UnitRule>& MassUnits() {
  static const std::vector<UnitRule> kMass = [] {
    std::vector<UnitRule> units;
    for (const auto& [unit, mg] : {std::pair<const char*, double>{"mg", 1.0},
                                   {"g", 1e3},
                                   {"kg", 1e6},
                                   {"ug", 1e-3},
                                   {"mcg", 1e-3},
                                   {"ng", 1e-6}}) {
      units.emplace_back().unit = unit;
      units.back().scale = mg;
    }
    return units;
  }();
  return kMass;
}

// Hours per unit of time (UCUM: s, min, h, d).
bool TimeToH(std::string_view unit, double* h) {
  if (unit == "h") {
    *h = 1.0;
  } else if (unit == "min") {
    *h = 1.0 / 60.0;
  } else if (unit == "s") {
    *h = 1.0 / 3600.0;
  } else if (unit == "d") {
    *h = 24.0;
  } else {
    return false;
  }
  return true;
}

// The amount units a caller accepts: conversion to its amount unit, and words for messages.
struct AmountUnits {
  const std::vector<UnitRule>* rules;
  std::string what;      // "a mass (mg, g, ug, mcg, ng, kg)"
  std::string per_time;  // "mass per time (mg/h, mg/min, g/h, ...)"
  bool variant = false;  // set when a variant rule was used
  const UnitRule* Find(std::string_view unit) {
    for (const UnitRule& u : *rules) {
      if (u.unit == unit) {
        variant = variant || !u.variant.empty();
        return &u;
      }
    }
    return nullptr;
  }
};

// A dose in the caller's amount unit, the rate per hour.
struct AdministeredDose {
  double amount = 0.0;
  double rate_per_h = 0.0;  // 0 for a bolus
  DateTime start;
  std::optional<DateTime> end;
};

std::string UnitOf(const Quantity& q) { return q.code.empty() ? q.unit : q.code; }

Status BadUnit(const std::string& at, const std::string& unit, const std::string& expected) {
  return Status::Invalid(at + ": unit '" + unit + "' is not " + expected);
}

Result<double> RatePerH(const Dosage& d, AmountUnits& units) {
  const std::string at = "MedicationAdministration.dosage.";
  if (d.rate_quantity) {
    const std::string unit = UnitOf(*d.rate_quantity);
    const size_t slash = unit.find('/');
    const UnitRule* amount =
        slash == std::string::npos ? nullptr : units.Find(unit.substr(0, slash));
    double h = 0;
    if (amount == nullptr || !TimeToH(unit.substr(slash + 1), &h)) {
      return BadUnit(at + "rateQuantity.code", unit, units.per_time);
    }
    if (!d.rate_quantity->value || !(*d.rate_quantity->value > 0)) {
      return Status::Invalid(at + "rateQuantity.value: must be > 0");
    }
    return *d.rate_quantity->value * amount->scale / h;
  }
  if (d.rate_ratio) {
    const Quantity& num = d.rate_ratio->numerator;
    const Quantity& den = d.rate_ratio->denominator;
    const UnitRule* amount = units.Find(UnitOf(num));
    double h = 0;
    if (amount == nullptr) return BadUnit(at + "rateRatio.numerator.code", UnitOf(num), units.what);
    if (!TimeToH(UnitOf(den), &h)) {
      return BadUnit(at + "rateRatio.denominator.code", UnitOf(den), "a time (s, min, h, d)");
    }
    if (!num.value || !den.value || !(*num.value > 0) || !(*den.value > 0)) {
      return Status::Invalid(at + "rateRatio: numerator and denominator values must be > 0");
    }
    return *num.value * amount->scale / (*den.value * h);
  }
  return 0.0;
}

Result<AdministeredDose> ReadAdministration(const MedicationAdministration& a, AmountUnits& units) {
  const std::string at = "MedicationAdministration.";
  if (a.status != "completed" && a.status != "in-progress") {
    return Status::Invalid(at + "status: '" + a.status +
                           "' is not a dose given (completed or in-progress)");
  }
  if (!a.effective_start) {
    return Status::Invalid(at + "effective[x]: a dose needs a start time");
  }
  if (!a.dosage || !a.dosage->dose.value) {
    return Status::Invalid(at + "dosage.dose: required to make a dose event");
  }
  const Quantity& dose = a.dosage->dose;
  const UnitRule* rule = units.Find(UnitOf(dose));
  if (rule == nullptr) return BadUnit(at + "dosage.dose.code", UnitOf(dose), units.what);
  if (!(*dose.value > 0)) return Status::Invalid(at + "dosage.dose.value: must be > 0");
  AdministeredDose e;
  e.amount = *dose.value * rule->scale;
  e.start = *a.effective_start;
  e.end = a.effective_end;
  Result<double> rate = RatePerH(*a.dosage, units);
  if (!rate.ok()) return rate.status();
  e.rate_per_h = *rate;
  if (e.rate_per_h == 0.0 && e.end && e.end->epoch_ms > e.start.epoch_ms) {
    // An infusion given by its period: amount spread evenly over it.
    e.rate_per_h = e.amount / ((e.end->epoch_ms - e.start.epoch_ms) / 3.6e6);
  }
  return e;
}

// The mapped medication of a MedicationAdministration that feeds `model`.
Result<const MappedMedication*> MedicationFor(const ObservationMap& map,
                                              const MedicationAdministration& a,
                                              std::string_view model, Coding* matched) {
  const std::string at = "MedicationAdministration.medicationCodeableConcept";
  if (a.medication_concept.coding.empty()) {
    if (!a.medication_reference.reference.empty()) {
      return Status::Invalid("MedicationAdministration.medicationReference: '" +
                             a.medication_reference.reference +
                             "' is not resolved to a medication code; send "
                             "medicationCodeableConcept with an RxNorm coding");
    }
    return Status::Invalid(at + ".coding: no coding to map to a medication");
  }
  std::string seen, elsewhere;
  for (const Coding& c : a.medication_concept.coding) {
    seen += (seen.empty() ? "" : ", ") + c.system + "|" + c.code;
    const MappedMedication* m = map.FindMedication(c.system, c.code);
    if (m == nullptr) continue;
    if (m->FindFeed(model) != nullptr) {
      *matched = c;
      return m;
    }
    for (const MedicationFeed& f : m->feeds) elsewhere += (elsewhere.empty() ? "" : ", ") + f.model;
  }
  if (!elsewhere.empty()) {
    return Status::Invalid(at + ": medication " + seen + " does not feed model '" +
                           std::string(model) + "' (it feeds " + elsewhere + ")");
  }
  return Status::Invalid(at + ": no coding (" + seen +
                         ") is in the medication map; medtwin cannot dose model '" +
                         std::string(model) + "' with it");
}

}  // namespace

Result<DoseEvent> ToDoseEvent(const MedicationAdministration& a) {
  AmountUnits mass{&MassUnits(), "a mass (mg, g, ug, mcg, ng, kg)",
                   "mass per time (mg/h, mg/min, g/h, ...)"};
  Result<AdministeredDose> d = ReadAdministration(a, mass);
  if (!d.ok()) return d.status();
  return DoseEvent{d->amount, d->rate_per_h, d->start, d->end};
}

Result<ModelDose> ToModelDose(const ObservationMap& map, const MedicationAdministration& a,
                              std::string_view model) {
  ModelDose out;
  Result<const MappedMedication*> med = MedicationFor(map, a, model, &out.source_code);
  if (!med.ok()) return med.status();
  const MappedMedication& m = **med;
  const MedicationFeed& feed = *m.FindFeed(model);
  AmountUnits units{
      &m.units, "an amount of " + m.name + " (" + m.UnitList() + ")",
      m.name + " amount per time (" + m.canonical_unit + "/h, " + m.canonical_unit + "/min, ...)"};
  Result<AdministeredDose> d = ReadAdministration(a, units);
  if (!d.ok()) return d.status();
  double h_per_time_unit = 0;
  TimeToH(feed.time_unit, &h_per_time_unit);  // the loader admits s, min, h, d only
  out.start_epoch_ms = d->start.epoch_ms;
  out.compartment = feed.compartment;
  out.amount = d->amount;
  out.rate = d->rate_per_h * h_per_time_unit;
  out.duration = out.rate > 0 ? out.amount / out.rate : 0.0;
  out.unit = m.canonical_unit;
  out.time_unit = feed.time_unit;
  out.medication = m.name;
  out.variant = units.variant;
  for (const CodeRule& c : m.codes) {
    if (c.system == out.source_code.system && c.code == out.source_code.code) {
      out.variant = out.variant || !c.variant.empty();
    }
  }
  return out;
}

}  // namespace medtwin::fhir
