#include "events/schedule.h"

#include <cmath>
#include <string>

namespace medtwin {
namespace {

const char* Prefix(ModifierKind kind) {
  switch (kind) {
    case ModifierKind::kBioavailability:
      return "F";
    case ModifierKind::kLag:
      return "ALAG";
    case ModifierKind::kRate:
      return "R";
    case ModifierKind::kDuration:
      return "D";
  }
  return "?";
}

std::string DoseContext(const Record& r) {
  return "line " + std::to_string(r.line) + " (TIME=" + std::to_string(r.time_h) + ")";
}

}  // namespace

DoseModifierMap::DoseModifierMap(const ModelSpec& spec, const std::vector<ModifierColumn>& columns)
    : sources_(spec.states.size()) {
  for (size_t s = 0; s < spec.states.size(); ++s) {
    for (int k = 0; k < 4; ++k) {
      std::string name = Prefix(static_cast<ModifierKind>(k)) + std::to_string(s + 1);
      sources_[s][k].parameter = spec.ParameterIndex(name);
    }
  }
  for (size_t c = 0; c < columns.size(); ++c) {
    const ModifierColumn& col = columns[c];
    if (col.state >= 0 && col.state < static_cast<int>(sources_.size())) {
      sources_[col.state][static_cast<int>(col.kind)].column = static_cast<int>(c);
    }
  }
}

double DoseModifierMap::Value(const Source& s, const Record& r, const double* p,
                              double fallback) const {
  // A data column wins over a model parameter, as $PK code would overwrite it per record.
  if (s.column >= 0 && s.column < static_cast<int>(r.modifiers.size()) &&
      !std::isnan(r.modifiers[s.column])) {
    return r.modifiers[s.column];
  }
  if (s.parameter >= 0) return p[s.parameter];
  return fallback;
}

Result<ResolvedDose> DoseModifierMap::Resolve(const Record& r, const double* p) const {
  const auto& src = sources_[r.state];
  const double f = Value(src[0], r, p, 1.0);
  const double lag_h = Value(src[1], r, p, 0.0);
  if (!(f >= 0.0) || !std::isfinite(f)) {
    return Status::Invalid(DoseContext(r) + ": bioavailability F" + std::to_string(r.state + 1) +
                           " must be finite and >= 0, got " + std::to_string(f));
  }
  if (!(lag_h >= 0.0) || !std::isfinite(lag_h)) {
    return Status::Invalid(DoseContext(r) + ": lag ALAG" + std::to_string(r.state + 1) +
                           " must be finite and >= 0, got " + std::to_string(lag_h));
  }
  ResolvedDose d;
  d.state = r.state;
  d.amount = r.amt * f;
  d.lag_h = lag_h;
  d.ii_h = r.ii_h;
  d.addl = r.addl;
  d.ss = r.ss;
  if (r.rate == 0.0) return d;
  if (r.ss != 0 && r.amt == 0.0 && r.rate > 0.0) {
    // Steady-state infusion: F scales the infused rate like it scales an infused amount.
    d.rate = r.rate * f;
    d.duration_h = kInf;
    return d;
  }
  if (r.rate > 0.0) {
    // NONMEM: the rate is as given; F stretches or shortens the duration.
    d.rate = r.rate;
    d.duration_h = d.amount / r.rate;
  } else if (r.rate == -1.0) {
    d.rate = Value(src[2], r, p, NAN);
    if (!(d.rate > 0.0) || !std::isfinite(d.rate)) {
      return Status::Invalid(DoseContext(r) + ": RATE=-1 needs a modelled rate R" +
                             std::to_string(r.state + 1) + " > 0, got " + std::to_string(d.rate));
    }
    d.duration_h = d.amount / d.rate;
  } else {  // -2, validated by the reader
    d.duration_h = Value(src[3], r, p, NAN);
    if (!(d.duration_h > 0.0) || !std::isfinite(d.duration_h)) {
      return Status::Invalid(DoseContext(r) + ": RATE=-2 needs a modelled duration D" +
                             std::to_string(r.state + 1) + " > 0, got " +
                             std::to_string(d.duration_h));
    }
    d.rate = d.amount / d.duration_h;
  }
  if (d.amount == 0.0) d.rate = 0.0, d.duration_h = 0.0;  // F = 0: nothing enters
  return d;
}

}  // namespace medtwin
