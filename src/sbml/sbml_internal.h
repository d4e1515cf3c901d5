// Internal representation of an imported SBML model, shared by the builder (sbml_model.cc),
// the runtime (sbml_runtime.cc) and the event logic (sbml_events.cc).
#ifndef MEDTWIN_SBML_SBML_INTERNAL_H_
#define MEDTWIN_SBML_SBML_INTERNAL_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "medtwin/sbml.h"
#include "sbml/expr.h"

class ASTNode;

namespace medtwin {

enum class Kind { kCompartment, kSpecies, kParameter, kSpeciesRef, kReaction };
enum class Role { kConstant, kState, kAssigned, kReactionRate };

struct Symbol {
  std::string id;
  Kind kind = Kind::kParameter;
  Role role = Role::kConstant;
  int param = -1;                   // parameter index (constants and initial values of states)
  int state = -1;                   // state index (Role::kState)
  bool state_is_amount = false;     // species held as an amount (a state, or a constant)
  bool only_substance = false;      // species: hasOnlySubstanceUnits (or 0-D compartment)
  bool declared_as_amount = false;  // species: initial value given as an amount
  int compartment = -1;             // species: symbol index of its compartment
  bool has_initial_assignment = false;
};

// A computed symbol: a species concentration from its amount, an assignment rule, or a rate.
struct Computation {
  int symbol = -1;
  bool from_amount = false;  // species concentration = amount / compartment
  sbml::Program program;     // otherwise
  std::set<int> deps;        // symbol indices read
};

struct Flux {
  int reaction = -1;             // symbol index of the reaction (its rate)
  int species = -1;              // symbol index of the species
  double sign = 1.0;             // -1 reactant, +1 product
  int stoich_symbol = -1;        // species reference with an id: its value is the stoichiometry
  sbml::Program stoich_program;  // L2 stoichiometryMath
  double stoich = 1.0;
  int conversion = -1;  // symbol index of the conversion factor, or -1
};

// An SBML event (L3V2 section 4.12): trigger, optional delay and priority, assignments.
struct EventDef {
  std::string id;
  sbml::Program trigger;
  sbml::Program root;  // continuous root function (lhs - rhs of a relation), if any
  bool root_is_difference = false;
  bool initial_value = true;
  bool persistent = true;
  bool use_values_from_trigger_time = true;
  sbml::Program delay;                                     // empty: none
  sbml::Program priority;                                  // empty: none
  std::vector<std::pair<int, sbml::Program>> assignments;  // (symbol, value)
};

// Everything the importer derives from the document; owned by the model after the build.
struct SbmlInternals {
  std::vector<Symbol> symbols;
  std::map<std::string, int> index;
  std::vector<Computation> computations;                  // in evaluation order
  std::vector<Computation> initial_assignments;           // symbol = IA math (math value)
  std::vector<std::pair<int, sbml::Program>> rate_rules;  // (symbol, d/dt)
  std::vector<Flux> fluxes;
  std::vector<int> state_symbol;  // per state: its symbol
  std::vector<EventDef> events;
  // Switching functions of discontinuities in the right-hand side (relations in piecewise
  // and comparisons, floor/ceiling arguments crossing integers): roots after the events'.
  std::vector<sbml::Program> switches;
  bool uses_rate_of = false;  // some math reads rateOf(...)
  // First arguments of delay(x, d), evaluated on the value array of a past time.
  struct DelayedExpr {
    sbml::Program x;
    std::vector<int> computations;  // indices into `computations` x needs, in order
    bool reads_rates = false;       // x reads rateOf(): the past's derivatives are needed
  };
  std::vector<DelayedExpr> delayed;
  // Initial assignments that read time, and per symbol whether one sets it: before the start
  // a delayed value follows them (the model's own account of its past).
  std::vector<int> time_initial_assignments;
  std::vector<char> set_by_time_initial_assignment;
  // Value array: slot 0 time, then one slot per symbol, then (for rateOf) one rate per symbol.
  int Slot(int symbol) const { return symbol + 1; }
  int RateSlot(int symbol) const { return static_cast<int>(symbols.size()) + 1 + symbol; }
  size_t num_slots() const { return 2 * symbols.size() + 1; }
};

class SbmlModelImpl final : public SbmlModel, public sbml::DelayResolver {
 public:
  SbmlModelImpl(ModelSpec spec, SbmlInternals in)
      : SbmlModel(std::move(spec)), in_(std::move(in)) {}

  Status Individualize(std::span<const double> theta, std::span<const double> eta,
                       std::span<const double> covariates, std::span<double> out) const override;
  void InitialState(const double* p, double* x) const override;
  void Rhs(double t, const double* x, const double* p, double* dxdt) const override;
  void Observe(double t, const double* x, const double* p, double* y) const override;
  Result<SbmlProbe> Probe(const std::string& id, SbmlQuantity q) const override;
  int num_roots() const override {
    return static_cast<int>(in_.events.size() + in_.switches.size());
  }
  void Roots(double t, const double* x, const double* p, double* g) const override;
  std::unique_ptr<EventState> NewEventState() const override;
  bool reads_history() const override { return !in_.delayed.empty(); }
  // delay(x, d): x at tau from the run's StateHistory (before the start, and while initial
  // values are computed: the initial state, with time = tau).
  double Delayed(int index, double tau, const double* values) const override;

  const SbmlInternals& internals() const { return in_; }
  // Fills the value array v (slot 0 = time) from the state and parameters.
  void Fill(double t, const double* x, const double* p, double* v) const;
  // A per-thread value array of num_slots() doubles (for evaluations outside delay()).
  double* Scratch() const;

 private:
  void InitialValues(const double* declared, double* v) const;
  // delay() reaching before the start of the run (or with no run): see Delayed.
  double DelayedBeforeStart(const SbmlInternals::DelayedExpr& d, double tau, const double* values,
                            const double* x, double* v) const;
  // Time, states and constants into v (the first part of Fill).
  void SetStateAndConstants(double t, const double* x, const double* p, double* v) const;
  void ComputeAll(const double* x, const double* p, double* v) const;
  void Compute(const Computation& c, const double* x, const double* p, double* v) const;
  void Derivatives(const double* v, double* dxdt) const;
  // rateOf support: fills the rate slots from the derivatives of the states (species held as
  // amounts report d(concentration)/dt) and recomputes what reads them.
  void UpdateRates(const double* x, const double* p, double* v) const;
  void SetRateSlots(const double* dx, double* v) const;

  SbmlInternals in_;
};

}  // namespace medtwin

#endif  // MEDTWIN_SBML_SBML_INTERNAL_H_
