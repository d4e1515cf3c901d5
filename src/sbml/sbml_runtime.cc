// Runtime of an imported SBML model: value array, right-hand side, initial values, probes.
#include <algorithm>
#include <cmath>

#include "sbml/sbml_internal.h"

namespace medtwin {

double* SbmlModelImpl::Scratch() const {
  thread_local std::vector<double> buffer;
  if (buffer.size() < in_.num_slots()) buffer.resize(in_.num_slots());
  return buffer.data();
}

void SbmlModelImpl::Fill(double t, const double* x, const double* p, double* v) const {
  v[0] = t;
  for (size_t i = 0; i < in_.symbols.size(); ++i) {
    const Symbol& s = in_.symbols[i];
    if (s.role == Role::kConstant) {
      v[i + 1] = p[s.param];
    } else if (s.role == Role::kState) {
      v[i + 1] = x[s.state];
    }
  }
  if (in_.uses_rate_of) std::fill(v + in_.RateSlot(0), v + in_.num_slots(), 0.0);
  ComputeAll(x, p, v);
  if (in_.uses_rate_of) UpdateRates(x, p, v);
}

void SbmlModelImpl::ComputeAll(const double* x, const double* p, double* v) const {
  for (const Computation& c : in_.computations) {
    const Symbol& s = in_.symbols[c.symbol];
    double value = 0.0;
    if (c.from_amount) {
      const double amount = s.role == Role::kState ? x[s.state] : p[s.param];
      value = amount / v[in_.Slot(s.compartment)];
    } else if (!c.program.empty()) {
      value = c.program.Eval(v);
    }
    v[in_.Slot(c.symbol)] = value;
  }
}

void SbmlModelImpl::Derivatives(const double* v, double* dxdt) const {
  std::fill(dxdt, dxdt + num_states(), 0.0);
  for (const auto& [sym, prog] : in_.rate_rules) dxdt[in_.symbols[sym].state] = prog.Eval(v);
  for (const Flux& f : in_.fluxes) {
    // L2 stoichiometryMath wins; an L3 species reference id carries a (possibly rule-set) value.
    const double stoich = !f.stoich_program.empty() ? f.stoich_program.Eval(v)
                          : f.stoich_symbol >= 0    ? v[in_.Slot(f.stoich_symbol)]
                                                    : f.stoich;
    const double cf = f.conversion >= 0 ? v[in_.Slot(f.conversion)] : 1.0;
    dxdt[in_.symbols[f.species].state] += f.sign * stoich * cf * v[in_.Slot(f.reaction)];
  }
}

void SbmlModelImpl::SetRateSlots(const double* dx, double* v) const {
  for (int pass = 0; pass < 2; ++pass) {  // compartments and parameters, then species
    for (size_t i = 0; i < in_.symbols.size(); ++i) {
      const Symbol& s = in_.symbols[i];
      if (s.role != Role::kState || (s.kind == Kind::kSpecies) != (pass == 1)) continue;
      double rate = dx[s.state];
      if (s.state_is_amount && !s.only_substance) {
        // d(A/V)/dt = A'/V - (A/V) V'/V
        const double size = v[in_.Slot(s.compartment)];
        rate = (rate - v[i + 1] * v[in_.RateSlot(s.compartment)]) / size;
      }
      v[in_.RateSlot(static_cast<int>(i))] = rate;
    }
  }
}

// Two rounds reach the fixed point when rateOf feeds assignment rules that feed rates (SBML
// forbids rateOf cycles through a variable's own derivative).
void SbmlModelImpl::UpdateRates(const double* x, const double* p, double* v) const {
  thread_local std::vector<double> dx;
  dx.resize(num_states());
  for (int round = 0; round < 2; ++round) {
    Derivatives(v, dx.data());
    SetRateSlots(dx.data(), v);
    ComputeAll(x, p, v);
  }
}

void SbmlModelImpl::Rhs(double t, const double* x, const double* p, double* dxdt) const {
  double* v = Scratch();
  Fill(t, x, p, v);
  Derivatives(v, dxdt);
}

void SbmlModelImpl::Observe(double t, const double* x, const double* p, double* y) const {
  double* v = Scratch();
  Fill(t, x, p, v);
  int k = 0;
  for (size_t i = 0; i < in_.symbols.size(); ++i) {
    if (in_.symbols[i].kind == Kind::kSpecies) y[k++] = v[i + 1];
  }
}

// Initial values (SBML L3V2 section 4.12.8 ff.): declared values, then initial assignments and
// assignment rules, repeated until nothing changes (they may depend on each other in any order).
void SbmlModelImpl::InitialValues(const double* declared, double* v) const {
  const size_t n = in_.symbols.size();
  std::fill(v, v + in_.num_slots(), 0.0);
  const size_t passes = in_.initial_assignments.size() + in_.computations.size() + 2;
  for (size_t pass = 0; pass < passes; ++pass) {
    bool changed = false;
    auto set = [&](size_t slot, double value) {
      if (!(v[slot] == value || (std::isnan(v[slot]) && std::isnan(value)))) changed = true;
      v[slot] = value;
    };
    for (size_t i = 0; i < n; ++i) {
      const Symbol& s = in_.symbols[i];
      if (s.param < 0 || s.has_initial_assignment) continue;
      double value = declared[s.param];
      if (s.kind == Kind::kSpecies) {
        const double size = v[in_.Slot(s.compartment)];
        if (s.declared_as_amount && !s.only_substance) value /= size;
        if (!s.declared_as_amount && s.only_substance) value *= size;
      }
      set(i + 1, value);
    }
    for (const Computation& c : in_.initial_assignments) set(in_.Slot(c.symbol), c.program.Eval(v));
    for (const Computation& c : in_.computations) {
      if (c.from_amount) continue;  // concentrations are the species' own values here
      set(in_.Slot(c.symbol), c.program.empty() ? 0.0 : c.program.Eval(v));
    }
    if (in_.uses_rate_of) {
      std::vector<double> dx(num_states()), before(v + in_.RateSlot(0), v + in_.num_slots());
      Derivatives(v, dx.data());
      SetRateSlots(dx.data(), v);
      if (!std::equal(before.begin(), before.end(), v + in_.RateSlot(0))) changed = true;
    }
    if (!changed && pass > 0) break;
  }
}

Status SbmlModelImpl::Individualize(std::span<const double> theta, std::span<const double> eta,
                                    std::span<const double> covariates,
                                    std::span<double> out) const {
  if (theta.size() != static_cast<size_t>(num_parameters()) ||
      out.size() != static_cast<size_t>(num_parameters())) {
    return Status::Invalid("expected " + std::to_string(num_parameters()) + " parameters");
  }
  std::vector<double> v(in_.num_slots());
  InitialValues(theta.data(), v.data());
  for (size_t i = 0; i < in_.symbols.size(); ++i) {
    const Symbol& s = in_.symbols[i];
    if (s.param < 0) continue;
    double value = v[i + 1];
    // A species held as an amount starts at concentration * size.
    if (s.state_is_amount && !s.only_substance) {
      value *= v[in_.Slot(s.compartment)];
    }
    out[s.param] = value;
  }
  return Status::Ok();
}

void SbmlModelImpl::InitialState(const double* p, double* x) const {
  std::fill(x, x + num_states(), 0.0);
  for (int k = 0; k < static_cast<int>(in_.state_symbol.size()); ++k) {
    x[k] = p[in_.symbols[in_.state_symbol[k]].param];
  }
}

Result<SbmlProbe> SbmlModelImpl::Probe(const std::string& id, SbmlQuantity q) const {
  auto it = in_.index.find(id);
  if (it == in_.index.end()) return Status::NotFound("no SBML element with id '" + id + "'");
  const int i = it->second;
  const Symbol s = in_.symbols[i];
  const int slot = in_.Slot(i);
  const int comp = s.kind == Kind::kSpecies ? in_.Slot(s.compartment) : -1;
  const bool natural_is_amount = s.kind != Kind::kSpecies || s.only_substance;
  return SbmlProbe(
      [this, slot, comp, q, natural_is_amount](double t, const double* x, const double* p) {
        double* v = Scratch();
        Fill(t, x, p, v);
        const double value = v[slot];
        if (comp < 0 || q == SbmlQuantity::kNatural) return value;
        if (q == SbmlQuantity::kAmount) return natural_is_amount ? value : value * v[comp];
        return natural_is_amount ? value / v[comp] : value;
      });
}

// ---- loading ----------------------------------------------------------------------------
}  // namespace medtwin
