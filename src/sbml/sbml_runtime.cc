// Runtime of an imported SBML model: value array, right-hand side, initial values, probes.
#include <algorithm>
#include <cmath>
#include <deque>

#include "medtwin/state_history.h"
#include "sbml/sbml_internal.h"

namespace medtwin {
namespace {

// Per-thread work arrays, one frame per nesting level of delay() evaluation (level 0: Rhs,
// Observe, Roots, events, probes). A deque: frames do not move when a deeper one is added.
struct Frame {
  std::vector<double> values, x, dx;
};
thread_local std::deque<Frame> tl_frames;
thread_local size_t tl_depth = 0;
// Individual parameters of the Fill in progress (what delay() evaluates the past with).
thread_local const double* tl_params = nullptr;
// Set while initial values are computed: the history then is the initial state itself.
thread_local bool tl_initializing = false;

Frame& CurrentFrame(size_t slots, int states) {
  if (tl_frames.size() <= tl_depth) tl_frames.resize(tl_depth + 1);
  Frame& f = tl_frames[tl_depth];
  if (f.values.size() < slots) f.values.resize(slots);
  if (f.x.size() < static_cast<size_t>(states)) f.x.resize(states);
  if (f.dx.size() < static_cast<size_t>(states)) f.dx.resize(states);
  return f;
}

// One level deeper for the scope's lifetime.
struct DeeperFrame {
  DeeperFrame() { ++tl_depth; }
  ~DeeperFrame() { --tl_depth; }
};

}  // namespace

double* SbmlModelImpl::Scratch() const {
  return CurrentFrame(in_.num_slots(), num_states()).values.data();
}

// delay(x, d) at tau = t - d: x evaluated on the value array of time tau, computing only the
// assignment rules x needs, from the run's recorded past.
double SbmlModelImpl::Delayed(int index, double tau, const double* values) const {
  const SbmlInternals::DelayedExpr& d = in_.delayed[index];
  if (tau >= values[0]) return d.x.Eval(values, this);  // delay 0: the present
  DeeperFrame deeper;
  Frame& f = CurrentFrame(in_.num_slots(), num_states());
  double* v = f.values.data();
  double* x = f.x.data();
  const StateHistory* h = StateHistory::Current();
  const bool recorded = !tl_initializing && h != nullptr && !h->empty() && tl_params != nullptr;
  if (!recorded) return DelayedBeforeStart(d, tau, values, nullptr, v);
  h->At(tau, x);
  if (tau < h->first_time()) return DelayedBeforeStart(d, tau, values, x, v);
  const double* p = tl_params;
  SetStateAndConstants(tau, x, p, v);
  if (d.reads_rates) std::fill(v + in_.RateSlot(0), v + in_.num_slots(), 0.0);
  for (int k : d.computations) Compute(in_.computations[k], x, p, v);
  // rateOf: the derivatives at tau, twice as in UpdateRates (rates may feed rules that feed
  // rates); d.computations then includes everything the derivatives read.
  for (int round = 0; d.reads_rates && round < 2; ++round) {
    Derivatives(v, f.dx.data());
    SetRateSlots(f.dx.data(), v);
    for (int k : d.computations) Compute(in_.computations[k], x, p, v);
  }
  return d.x.Eval(v, this);
}

// Before the start the state is the initial state held constant (x, or while initial values
// are computed the present values), so rates of change are zero; rules that read time see tau,
// and values set by initial assignments that read time follow them (SBML Test Suite 00938,
// 00941: "it has been oscillating up until the start").
double SbmlModelImpl::DelayedBeforeStart(const SbmlInternals::DelayedExpr& d, double tau,
                                         const double* values, const double* x, double* v) const {
  const double* p = tl_params;
  if (x != nullptr) {
    SetStateAndConstants(tau, x, p, v);
  } else {
    std::copy(values, values + in_.num_slots(), v);
    v[0] = tau;
  }
  if (in_.uses_rate_of) std::fill(v + in_.RateSlot(0), v + in_.num_slots(), 0.0);
  for (int k : in_.time_initial_assignments) {
    const Computation& c = in_.initial_assignments[k];
    v[in_.Slot(c.symbol)] = c.program.Eval(v, this);
  }
  for (int k : d.computations) {
    const Computation& c = in_.computations[k];
    if (!c.from_amount) {
      if (!c.program.empty()) v[in_.Slot(c.symbol)] = c.program.Eval(v, this);
    } else if (x != nullptr && !in_.set_by_time_initial_assignment[c.symbol]) {
      Compute(c, x, p, v);
    }
  }
  return d.x.Eval(v, this);
}

void SbmlModelImpl::SetStateAndConstants(double t, const double* x, const double* p,
                                         double* v) const {
  tl_params = p;
  v[0] = t;
  for (size_t i = 0; i < in_.symbols.size(); ++i) {
    const Symbol& s = in_.symbols[i];
    if (s.role == Role::kConstant) {
      v[i + 1] = p[s.param];
    } else if (s.role == Role::kState) {
      v[i + 1] = x[s.state];
    }
  }
}

void SbmlModelImpl::Fill(double t, const double* x, const double* p, double* v) const {
  SetStateAndConstants(t, x, p, v);
  if (in_.uses_rate_of) std::fill(v + in_.RateSlot(0), v + in_.num_slots(), 0.0);
  ComputeAll(x, p, v);
  if (in_.uses_rate_of) UpdateRates(x, p, v);
}

void SbmlModelImpl::Compute(const Computation& c, const double* x, const double* p,
                            double* v) const {
  const Symbol& s = in_.symbols[c.symbol];
  double value = 0.0;
  if (c.from_amount) {
    const double amount = s.role == Role::kState ? x[s.state] : p[s.param];
    value = amount / v[in_.Slot(s.compartment)];
  } else if (!c.program.empty()) {
    value = c.program.Eval(v, this);
  }
  v[in_.Slot(c.symbol)] = value;
}

void SbmlModelImpl::ComputeAll(const double* x, const double* p, double* v) const {
  for (const Computation& c : in_.computations) Compute(c, x, p, v);
}

void SbmlModelImpl::Derivatives(const double* v, double* dxdt) const {
  std::fill(dxdt, dxdt + num_states(), 0.0);
  for (const auto& [sym, prog] : in_.rate_rules) dxdt[in_.symbols[sym].state] = prog.Eval(v, this);
  for (const Flux& f : in_.fluxes) {
    // L2 stoichiometryMath wins; an L3 species reference id carries a (possibly rule-set) value.
    const double stoich = !f.stoich_program.empty() ? f.stoich_program.Eval(v, this)
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
  double* dx = CurrentFrame(in_.num_slots(), num_states()).dx.data();
  for (int round = 0; round < 2; ++round) {
    Derivatives(v, dx);
    SetRateSlots(dx, v);
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
  struct Initializing {
    Initializing() { tl_initializing = true; }
    ~Initializing() { tl_initializing = false; }
  } initializing;
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
    for (const Computation& c : in_.initial_assignments)
      set(in_.Slot(c.symbol), c.program.Eval(v, this));
    for (const Computation& c : in_.computations) {
      if (c.from_amount) continue;  // concentrations are the species' own values here
      set(in_.Slot(c.symbol), c.program.empty() ? 0.0 : c.program.Eval(v, this));
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
