// MedicationAdministration -> a dose in mg (and mg/h) for the PK models.
#include <cmath>

#include "medtwin/fhir.h"

namespace medtwin::fhir {
namespace {

// mg per unit of mass. "mcg" is not UCUM but common on medication labels; accepted as ug.
bool MassToMg(std::string_view unit, double* mg) {
  if (unit == "mg") {
    *mg = 1.0;
  } else if (unit == "g") {
    *mg = 1e3;
  } else if (unit == "kg") {
    *mg = 1e6;
  } else if (unit == "ug" || unit == "mcg") {
    *mg = 1e-3;
  } else if (unit == "ng") {
    *mg = 1e-6;
  } else {
    return false;
  }
  return true;
}

// hours per unit of time (UCUM: s, min, h, d).
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

std::string UnitOf(const Quantity& q) { return q.code.empty() ? q.unit : q.code; }

Status BadUnit(const std::string& at, const std::string& unit, const char* expected) {
  return Status::Invalid(at + ": unit '" + unit + "' is not " + expected);
}

Result<double> RateMgPerH(const Dosage& d) {
  const std::string at = "MedicationAdministration.dosage.";
  if (d.rate_quantity) {
    const std::string unit = UnitOf(*d.rate_quantity);
    const size_t slash = unit.find('/');
    double mg = 0, h = 0;
    if (slash == std::string::npos || !MassToMg(unit.substr(0, slash), &mg) ||
        !TimeToH(unit.substr(slash + 1), &h)) {
      return BadUnit(at + "rateQuantity.code", unit, "mass per time (mg/h, mg/min, g/h, ...)");
    }
    if (!d.rate_quantity->value || !(*d.rate_quantity->value > 0)) {
      return Status::Invalid(at + "rateQuantity.value: must be > 0");
    }
    return *d.rate_quantity->value * mg / h;
  }
  if (d.rate_ratio) {
    const Quantity& num = d.rate_ratio->numerator;
    const Quantity& den = d.rate_ratio->denominator;
    double mg = 0, h = 0;
    if (!MassToMg(UnitOf(num), &mg)) {
      return BadUnit(at + "rateRatio.numerator.code", UnitOf(num), "a mass (mg, g, ug, ...)");
    }
    if (!TimeToH(UnitOf(den), &h)) {
      return BadUnit(at + "rateRatio.denominator.code", UnitOf(den), "a time (s, min, h, d)");
    }
    if (!num.value || !den.value || !(*num.value > 0) || !(*den.value > 0)) {
      return Status::Invalid(at + "rateRatio: numerator and denominator values must be > 0");
    }
    return *num.value * mg / (*den.value * h);
  }
  return 0.0;
}

}  // namespace

Result<DoseEvent> ToDoseEvent(const MedicationAdministration& a) {
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
  double mg = 0;
  if (!MassToMg(UnitOf(dose), &mg)) {
    return BadUnit(at + "dosage.dose.code", UnitOf(dose), "a mass (mg, g, ug, mcg, ng, kg)");
  }
  if (!(*dose.value > 0)) return Status::Invalid(at + "dosage.dose.value: must be > 0");
  DoseEvent e;
  e.amount_mg = *dose.value * mg;
  e.start = *a.effective_start;
  e.end = a.effective_end;
  Result<double> rate = RateMgPerH(*a.dosage);
  if (!rate.ok()) return rate.status();
  e.rate_mg_per_h = *rate;
  if (e.rate_mg_per_h == 0.0 && e.end && e.end->epoch_ms > e.start.epoch_ms) {
    // An infusion given by its period: amount spread evenly over it.
    e.rate_mg_per_h = e.amount_mg / ((e.end->epoch_ms - e.start.epoch_ms) / 3.6e6);
  }
  return e;
}

}  // namespace medtwin::fhir
