// SBML import (see include/medtwin/sbml.h).
//
// Every SBML symbol (compartment, species, parameter, species reference, reaction) gets a slot in
// a value array; slot 0 is time. Before each right-hand-side evaluation the array is filled:
// constants from the parameter vector, state-backed symbols from the state vector, then the
// computed symbols (species concentrations, assignment rules, reaction rates) in dependency order.
//
// Representation (SBML L3V2 spec, section 4.6 and 4.11):
//  - species changed by reactions are states in amounts; their math value is amount/size unless
//    hasOnlySubstanceUnits (then the amount);
//  - species, compartments and parameters with rate rules are states in their math value;
//  - the rest are constants (parameter vector) or computed by assignment rules.
#include "medtwin/sbml.h"

#include <sbml/SBMLTransforms.h>
#include <sbml/SBMLTypes.h>
#include <sbml/conversion/ConversionProperties.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <set>

#include "sbml/expr.h"
#include "sbml/sbml_internal.h"

namespace medtwin {
namespace {

// libSBML error 10313: a units attribute naming no unit definition. Units do not enter the
// simulation (medtwin does not convert SBML units), so such a model still runs (SBML Test Suite
// case 00959 expects that).
constexpr unsigned kDanglingUnitReference = 10313;
// At most this many switching functions (discontinuities) get root functions of their own.
constexpr size_t kMaxSwitches = 256;

bool Counts(const SBMLError& e, unsigned min_severity) {
  return e.getSeverity() >= min_severity && e.getErrorId() != kDanglingUnitReference;
}

int CountErrors(const SBMLDocument& doc) {
  int n = 0;
  for (unsigned i = 0; i < doc.getNumErrors(); ++i)
    n += Counts(*doc.getError(i), LIBSBML_SEV_ERROR);
  return n;
}

std::string ErrorList(const SBMLDocument& doc, unsigned min_severity, int max_errors = 3) {
  std::string out;
  int n = 0;
  for (unsigned i = 0; i < doc.getNumErrors() && n < max_errors; ++i) {
    const SBMLError* e = doc.getError(i);
    if (!Counts(*e, min_severity)) continue;
    if (!out.empty()) out += "; ";
    out += "line " + std::to_string(e->getLine()) + ": " + e->getShortMessage() + ": " +
           e->getMessage();
    ++n;
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

void CollectNames(const ASTNode* node, std::set<std::string>* names) {
  if (node == nullptr) return;
  if (node->getType() == AST_NAME) names->insert(node->getName());
  for (unsigned i = 0; i < node->getNumChildren(); ++i) CollectNames(node->getChild(i), names);
}

Symbol MakeSymbol(const std::string& id, Kind kind) {
  Symbol s;
  s.id = id;
  s.kind = kind;
  return s;
}

}  // namespace

class SbmlBuilder {
 public:
  explicit SbmlBuilder(const ::Model& m) : m_(m) {}
  Status Build(ModelSpec* spec, SbmlInternals* out);

 private:
  Status AddSymbols();
  Status ClassifyRules();
  Status AddReactions();
  Status CompileAll();
  Status ClassifyEventTargets();
  Status CompileEvents();
  Status CompileSwitches();
  void CollectSwitches(const ASTNode* node, std::vector<std::unique_ptr<ASTNode>>* out) const;
  Status CompileEvent(const Event& ev, EventDef* def);
  Status CompileRootFunction(const ASTNode& math, const std::string& ctx, EventDef* def);
  Status SortComputations(std::vector<Computation> pending);
  void MakeSpec(ModelSpec* spec);
  double DeclaredValue(const Symbol& s) const;
  Result<sbml::Program> CompileMath(const ASTNode* math, const std::string& context,
                                    std::set<int>* deps);
  // For each delay(x, d): the computations x needs (transitively), so that the past is
  // evaluated without computing everything else at that time.
  void ResolveDelayedDependencies();

  const ::Model& m_;
  SbmlInternals in_;
};
Status SbmlBuilder::AddSymbols() {
  const ::Model& m = m_;
  auto& index_ = in_.index;
  auto& symbols_ = in_.symbols;
  auto add = [&](const std::string& id, Kind kind) -> Status {
    if (id.empty()) return Status::Ok();
    if (index_.count(id)) return Status::Invalid("duplicate SBML id '" + id + "'");
    index_[id] = static_cast<int>(symbols_.size());
    symbols_.push_back(MakeSymbol(id, kind));
    return Status::Ok();
  };
  for (unsigned i = 0; i < m.getNumCompartments(); ++i) {
    MEDTWIN_RETURN_IF_ERROR(add(m.getCompartment(i)->getId(), Kind::kCompartment));
  }
  for (unsigned i = 0; i < m.getNumSpecies(); ++i) {
    MEDTWIN_RETURN_IF_ERROR(add(m.getSpecies(i)->getId(), Kind::kSpecies));
  }
  for (unsigned i = 0; i < m.getNumParameters(); ++i) {
    MEDTWIN_RETURN_IF_ERROR(add(m.getParameter(i)->getId(), Kind::kParameter));
  }
  for (unsigned i = 0; i < m.getNumReactions(); ++i) {
    const Reaction* r = m.getReaction(i);
    MEDTWIN_RETURN_IF_ERROR(add(r->getId(), Kind::kReaction));
    symbols_[index_[r->getId()]].role = Role::kReactionRate;
    for (unsigned j = 0; j < r->getNumReactants() + r->getNumProducts(); ++j) {
      const SpeciesReference* sr =
          j < r->getNumReactants() ? r->getReactant(j) : r->getProduct(j - r->getNumReactants());
      if (sr->isSetId()) MEDTWIN_RETURN_IF_ERROR(add(sr->getId(), Kind::kSpeciesRef));
    }
  }
  for (unsigned i = 0; i < m.getNumSpecies(); ++i) {
    const Species* sp = m.getSpecies(i);
    Symbol& s = symbols_[index_[sp->getId()]];
    auto c = index_.find(sp->getCompartment());
    if (c == index_.end()) {
      return Status::Invalid("species '" + sp->getId() + "': unknown compartment '" +
                             sp->getCompartment() + "'");
    }
    s.compartment = c->second;
    const Compartment* comp = m.getCompartment(sp->getCompartment());
    s.only_substance = sp->getHasOnlySubstanceUnits() || comp->getSpatialDimensions() == 0;
    s.declared_as_amount = !sp->isSetInitialConcentration();
  }
  return Status::Ok();
}

Status SbmlBuilder::ClassifyRules() {
  const ::Model& m = m_;
  auto& index_ = in_.index;
  auto& symbols_ = in_.symbols;
  for (unsigned i = 0; i < m.getNumRules(); ++i) {
    const Rule* r = m.getRule(i);
    if (!r->isSetMath()) continue;  // SBML L3V2: a rule without math has no effect
    if (r->isAlgebraic()) {
      return Status::Unsupported("algebraic rule " + std::to_string(i + 1) +
                                 " is not supported (AlgebraicRule)");
    }
    auto it = index_.find(r->getVariable());
    if (it == index_.end()) {
      return Status::Invalid("rule for unknown variable '" + r->getVariable() + "'");
    }
    Symbol& s = symbols_[it->second];
    s.role = r->isAssignment() ? Role::kAssigned : Role::kState;
  }
  return Status::Ok();
}

Status SbmlBuilder::AddReactions() {
  const ::Model& m = m_;
  auto& index_ = in_.index;
  auto& symbols_ = in_.symbols;
  for (unsigned i = 0; i < m.getNumReactions(); ++i) {
    const Reaction* r = m.getReaction(i);
    if (r->isSetFast() && r->getFast()) {
      return Status::Unsupported("reaction '" + r->getId() +
                                 "' is a fast reaction (FastReaction), not supported");
    }
    const int rx = index_[r->getId()];
    const unsigned nr = r->getNumReactants(), np = r->getNumProducts();
    for (unsigned j = 0; j < nr + np; ++j) {
      const SpeciesReference* sr = j < nr ? r->getReactant(j) : r->getProduct(j - nr);
      auto sp = index_.find(sr->getSpecies());
      if (sp == index_.end()) {
        return Status::Invalid("reaction '" + r->getId() + "': unknown species '" +
                               sr->getSpecies() + "'");
      }
      const Species* species = m.getSpecies(sr->getSpecies());
      if (species->getBoundaryCondition() || species->getConstant()) continue;
      Flux f;
      f.reaction = rx;
      f.species = sp->second;
      f.sign = j < nr ? -1.0 : 1.0;
      f.stoich = sr->isSetStoichiometry() ? sr->getStoichiometry() : 1.0;
      if (sr->isSetId()) f.stoich_symbol = index_[sr->getId()];
      std::string cf = species->isSetConversionFactor() ? species->getConversionFactor()
                       : m.isSetConversionFactor()      ? m.getConversionFactor()
                                                        : "";
      if (!cf.empty()) f.conversion = index_.count(cf) ? index_[cf] : -1;
      if (sr->isSetStoichiometryMath() && sr->getStoichiometryMath()->isSetMath()) {
        auto prog = CompileMath(
            sr->getStoichiometryMath()->getMath(),
            "stoichiometryMath of '" + sr->getSpecies() + "' in reaction '" + r->getId() + "'",
            nullptr);
        if (!prog.ok()) return prog.status();
        f.stoich_program = std::move(prog).value();
      }
      in_.fluxes.push_back(std::move(f));
      Symbol& s = symbols_[sp->second];
      if (s.role == Role::kConstant) {
        s.role = Role::kState;
        s.state_is_amount = true;
      }
    }
  }
  return Status::Ok();
}

Result<sbml::Program> SbmlBuilder::CompileMath(const ASTNode* math, const std::string& context,
                                               std::set<int>* deps) {
  if (math == nullptr) return Status::Invalid(context + " has no math");
  sbml::CompileEnv env;
  env.slot = [this, deps](const std::string& id) {
    auto it = in_.index.find(id);
    if (it == in_.index.end()) return -1;
    if (deps) deps->insert(it->second);
    return in_.Slot(it->second);
  };
  env.rate_slot = [this](const std::string& id) {
    auto it = in_.index.find(id);
    if (it == in_.index.end()) return -1;
    // The derivative of an assignment-rule variable or a reaction rate would need symbolic
    // differentiation: refused (-1 makes the compiler report rateOf as unsupported).
    const Role role = in_.symbols[it->second].role;
    if (role == Role::kAssigned || role == Role::kReactionRate) return -1;
    in_.uses_rate_of = true;
    return in_.RateSlot(it->second);
  };
  env.add_delayed = [this](sbml::Program x) {
    in_.delayed.push_back({std::move(x), {}, false});
    return static_cast<int>(in_.delayed.size()) - 1;
  };
  env.sbml_model = &m_;
  env.context = context;
  // Every identifier the program reads is resolved through env.slot (function bodies included,
  // their arguments compiled at the call site), so deps records exactly what is read.
  return sbml::Compile(*math, env);
}

Status SbmlBuilder::CompileAll() {
  std::vector<Computation> pending;
  for (size_t i = 0; i < in_.symbols.size(); ++i) {
    Symbol& s = in_.symbols[i];
    // A species nothing changes keeps its amount when its compartment changes size (SBML Test
    // Suite 01117/01118): it is held as an amount, its concentration computed.
    if (s.kind == Kind::kSpecies && s.role == Role::kConstant && !s.only_substance &&
        in_.symbols[s.compartment].role != Role::kConstant) {
      s.state_is_amount = true;
    }
    if (s.kind == Kind::kSpecies && s.state_is_amount && !s.only_substance) {
      Computation c;
      c.symbol = static_cast<int>(i);
      c.from_amount = true;
      c.deps = {s.compartment};
      pending.push_back(std::move(c));
    }
  }
  for (unsigned i = 0; i < m_.getNumRules(); ++i) {
    const Rule* r = m_.getRule(i);
    if (!r->isSetMath()) continue;
    const int sym = in_.index.at(r->getVariable());
    const std::string what =
        (r->isAssignment() ? "assignment rule for '" : "rate rule for '") + r->getVariable() + "'";
    Computation c;
    c.symbol = sym;
    auto prog = CompileMath(r->getMath(), what, &c.deps);
    if (!prog.ok()) return prog.status();
    c.program = std::move(prog).value();
    if (r->isAssignment()) {
      pending.push_back(std::move(c));
    } else {
      in_.rate_rules.emplace_back(sym, std::move(c.program));
    }
  }
  for (unsigned i = 0; i < m_.getNumReactions(); ++i) {
    const Reaction* r = m_.getReaction(i);
    Computation c;
    c.symbol = in_.index.at(r->getId());
    if (r->isSetKineticLaw() && r->getKineticLaw()->isSetMath()) {
      auto prog = CompileMath(r->getKineticLaw()->getMath(),
                              "reaction '" + r->getId() + "' kinetic law", &c.deps);
      if (!prog.ok()) return prog.status();
      c.program = std::move(prog).value();
    }
    pending.push_back(std::move(c));
  }
  for (unsigned i = 0; i < m_.getNumInitialAssignments(); ++i) {
    const InitialAssignment* ia = m_.getInitialAssignment(i);
    if (!ia->isSetMath()) continue;  // no math: the declared value stands
    auto it = in_.index.find(ia->getSymbol());
    if (it == in_.index.end()) {
      return Status::Invalid("initial assignment to unknown symbol '" + ia->getSymbol() + "'");
    }
    Computation c;
    c.symbol = it->second;
    auto prog =
        CompileMath(ia->getMath(), "initial assignment to '" + ia->getSymbol() + "'", &c.deps);
    if (!prog.ok()) return prog.status();
    c.program = std::move(prog).value();
    in_.initial_assignments.push_back(std::move(c));
  }
  return SortComputations(std::move(pending));
}

// Kahn's algorithm: a computation runs after every computation producing a symbol it reads.
Status SbmlBuilder::SortComputations(std::vector<Computation> pending) {
  std::map<int, size_t> producer;
  for (size_t i = 0; i < pending.size(); ++i) producer[pending[i].symbol] = i;
  std::vector<int> indegree(pending.size(), 0);
  std::vector<std::vector<size_t>> users(pending.size());
  for (size_t i = 0; i < pending.size(); ++i) {
    for (int d : pending[i].deps) {
      auto it = producer.find(d);
      if (it == producer.end() || it->second == i) continue;
      ++indegree[i];
      users[it->second].push_back(i);
    }
  }
  std::vector<size_t> ready;
  for (size_t i = 0; i < pending.size(); ++i) {
    if (indegree[i] == 0) ready.push_back(i);
  }
  std::vector<size_t> order;
  while (!ready.empty()) {
    const size_t i = ready.back();
    ready.pop_back();
    order.push_back(i);
    for (size_t u : users[i]) {
      if (--indegree[u] == 0) ready.push_back(u);
    }
  }
  if (order.size() != pending.size()) {
    for (size_t i = 0; i < pending.size(); ++i) {
      if (indegree[i] > 0) {
        return Status::Unsupported("assignment rules form a cycle through '" +
                                   in_.symbols[pending[i].symbol].id + "'");
      }
    }
  }
  for (size_t i : order) in_.computations.push_back(std::move(pending[i]));
  return Status::Ok();
}

void SbmlBuilder::MakeSpec(ModelSpec* spec) {
  for (size_t i = 0; i < in_.symbols.size(); ++i) {
    Symbol& s = in_.symbols[i];
    if (s.role == Role::kState) {
      s.state = static_cast<int>(spec->states.size());
      in_.state_symbol.push_back(static_cast<int>(i));
      spec->states.push_back(
          {s.id, s.state_is_amount ? "substance" : "model units",
           "SBML " + std::string(s.kind == Kind::kSpecies ? "species" : "quantity"),
           s.state_is_amount});
    }
    if (s.role == Role::kConstant || s.role == Role::kState) {
      s.param = static_cast<int>(spec->parameters.size());
      ParameterSpec p;
      p.name = s.id;
      p.unit = "model units";
      p.typical = DeclaredValue(s);
      p.lower = -kInf;
      p.upper = kInf;
      p.description = s.role == Role::kState ? "initial value (as declared in the file)"
                                             : "constant value (as declared in the file)";
      p.source = "SBML";
      spec->parameters.push_back(p);
    }
    if (s.kind == Kind::kSpecies) {
      spec->observables.push_back(
          {s.id, s.only_substance ? "substance" : "substance/size", "species " + s.id, {}});
    }
  }
  if (spec->states.empty()) {
    // Models without differential equations (only assignments) still need a state for CVODES.
    spec->states.push_back({"_time_only", "1", "placeholder state with zero derivative", false});
  }
  for (size_t k = 0; k < spec->states.size(); ++k) {
    if (spec->states[k].dosable) {
      spec->default_dose_state = static_cast<int>(k);
      break;
    }
  }
}

double SbmlBuilder::DeclaredValue(const Symbol& s) const {
  double v = 0.0;
  switch (s.kind) {
    case Kind::kCompartment: {
      const Compartment* c = m_.getCompartment(s.id);
      v = c->isSetSize() ? c->getSize() : 1.0;
      break;
    }
    case Kind::kSpecies: {
      const Species* sp = m_.getSpecies(s.id);
      v = sp->isSetInitialConcentration() ? sp->getInitialConcentration()
          : sp->isSetInitialAmount()      ? sp->getInitialAmount()
                                          : 0.0;
      break;
    }
    case Kind::kParameter: {
      const Parameter* p = m_.getParameter(s.id);
      v = p->isSetValue() ? p->getValue() : 0.0;
      break;
    }
    case Kind::kSpeciesRef: {
      const SpeciesReference* sr = m_.getSpeciesReference(s.id);
      v = sr != nullptr && sr->isSetStoichiometry() ? sr->getStoichiometry() : 1.0;
      break;
    }
    case Kind::kReaction:
      break;
  }
  return v;  // INF and NaN are legal SBML values
}

// Symbols that events assign change over time: they become states (species as amounts, so an
// event that resizes their compartment keeps the amount, as SBML requires).
Status SbmlBuilder::ClassifyEventTargets() {
  for (unsigned i = 0; i < m_.getNumEvents(); ++i) {
    const Event* ev = m_.getEvent(i);
    for (unsigned j = 0; j < ev->getNumEventAssignments(); ++j) {
      const std::string& var = ev->getEventAssignment(j)->getVariable();
      auto it = in_.index.find(var);
      if (it == in_.index.end()) {
        return Status::Invalid("event '" + ev->getId() + "' assigns unknown variable '" + var +
                               "'");
      }
      Symbol& s = in_.symbols[it->second];
      if (s.role == Role::kAssigned || s.role == Role::kReactionRate) {
        return Status::Invalid("event '" + ev->getId() + "' assigns '" + var +
                               "', which an assignment rule or reaction determines");
      }
      if (s.role == Role::kConstant) {
        s.role = Role::kState;
        s.state_is_amount = s.kind == Kind::kSpecies;
      }
    }
  }
  return Status::Ok();
}

Status SbmlBuilder::CompileEvents() {
  for (unsigned i = 0; i < m_.getNumEvents(); ++i) {
    const Event* ev = m_.getEvent(i);
    EventDef def;
    def.id = ev->isSetId() ? ev->getId() : "event" + std::to_string(i + 1);
    Status st = CompileEvent(*ev, &def);
    if (!st.ok()) return st;
    if (!def.trigger.empty()) in_.events.push_back(std::move(def));
  }
  return Status::Ok();
}

Status SbmlBuilder::CompileEvent(const Event& ev, EventDef* def) {
  const std::string ctx = "event '" + def->id + "'";
  if (!ev.isSetTrigger() || !ev.getTrigger()->isSetMath()) {
    return Status::Ok();  // never fires (SBML L3V2: a trigger without math is never true)
  }
  const Trigger* trig = ev.getTrigger();
  def->initial_value = trig->isSetInitialValue() ? trig->getInitialValue() : true;
  def->persistent = trig->isSetPersistent() ? trig->getPersistent() : true;
  def->use_values_from_trigger_time = ev.getUseValuesFromTriggerTime();
  auto trigger = CompileMath(trig->getMath(), ctx + " trigger", nullptr);
  if (!trigger.ok()) return trigger.status();
  def->trigger = std::move(trigger).value();
  MEDTWIN_RETURN_IF_ERROR(CompileRootFunction(*trig->getMath(), ctx, def));
  if (ev.isSetDelay() && ev.getDelay()->isSetMath()) {
    auto delay = CompileMath(ev.getDelay()->getMath(), ctx + " delay", nullptr);
    if (!delay.ok()) return delay.status();
    def->delay = std::move(delay).value();
  }
  if (ev.isSetPriority() && ev.getPriority()->isSetMath()) {
    auto prio = CompileMath(ev.getPriority()->getMath(), ctx + " priority", nullptr);
    if (!prio.ok()) return prio.status();
    def->priority = std::move(prio).value();
  }
  for (unsigned j = 0; j < ev.getNumEventAssignments(); ++j) {
    const EventAssignment* ea = ev.getEventAssignment(j);
    if (!ea->isSetMath()) continue;
    auto value =
        CompileMath(ea->getMath(), ctx + " assignment to '" + ea->getVariable() + "'", nullptr);
    if (!value.ok()) return value.status();
    def->assignments.emplace_back(in_.index.at(ea->getVariable()), std::move(value).value());
  }
  return Status::Ok();
}

// A continuous margin of a trigger, positive where it is true and negative where it is false:
// a - b for a > b (or a >= b; b - a for <, <=), min over the arguments of `and`, max over
// those of `or`, minus that of `not`. CVODES then locates the instant the trigger turns true
// to its tolerance, even when a compound trigger is true only briefly (SBML Test Suite 01511,
// 01518). Null for anything else (equalities, xor, numbers used as booleans).
namespace {

std::unique_ptr<ASTNode> TriggerMargin(const ASTNode& n) {
  const ASTNodeType_t type = n.getType();
  const bool greater = type == AST_RELATIONAL_GT || type == AST_RELATIONAL_GEQ;
  const bool less = type == AST_RELATIONAL_LT || type == AST_RELATIONAL_LEQ;
  if (greater || less) {
    if (n.getNumChildren() != 2) return nullptr;
    auto diff = std::make_unique<ASTNode>(AST_MINUS);
    diff->addChild(n.getChild(greater ? 0 : 1)->deepCopy());
    diff->addChild(n.getChild(greater ? 1 : 0)->deepCopy());
    return diff;
  }
  if (type == AST_LOGICAL_NOT && n.getNumChildren() == 1) {
    auto inner = TriggerMargin(*n.getChild(0));
    if (!inner) return nullptr;
    auto neg = std::make_unique<ASTNode>(AST_MINUS);
    neg->addChild(inner.release());
    return neg;
  }
  if ((type == AST_LOGICAL_AND || type == AST_LOGICAL_OR) && n.getNumChildren() > 0) {
    auto combined =
        std::make_unique<ASTNode>(type == AST_LOGICAL_AND ? AST_FUNCTION_MIN : AST_FUNCTION_MAX);
    for (unsigned i = 0; i < n.getNumChildren(); ++i) {
      auto arg = TriggerMargin(*n.getChild(i));
      if (!arg) return nullptr;
      combined->addChild(arg.release());
    }
    return combined;
  }
  return nullptr;
}

}  // namespace

Status SbmlBuilder::CompileRootFunction(const ASTNode& math, const std::string& ctx,
                                        EventDef* def) {
  // Relations inside function definitions count too: expand them in a copy first.
  std::unique_ptr<ASTNode> copy(math.deepCopy());
  SBMLTransforms::replaceFD(copy.get(), m_.getListOfFunctionDefinitions());
  const std::unique_ptr<ASTNode> margin = TriggerMargin(*copy);
  if (!margin) return Status::Ok();  // the root is the trigger's truth value as +1/-1
  auto root = CompileMath(margin.get(), ctx + " trigger", nullptr);
  if (!root.ok()) return root.status();
  def->root = std::move(root).value();
  def->root_is_difference = true;
  return Status::Ok();
}

// Where the right-hand side is discontinuous CVODES must stop and restart, or its step
// sequence carries one branch's polynomial across the jump (SBML Test Suite 00173: a
// factorial of a ceiling). Each relation a > b (>=, <, <=) gives the switching function a - b;
// each floor/ceiling argument x gives sin(pi x), zero at every integer.
void SbmlBuilder::CollectSwitches(const ASTNode* node,
                                  std::vector<std::unique_ptr<ASTNode>>* out) const {
  if (node == nullptr) return;
  const ASTNodeType_t type = node->getType();
  const bool relation = type == AST_RELATIONAL_GT || type == AST_RELATIONAL_GEQ ||
                        type == AST_RELATIONAL_LT || type == AST_RELATIONAL_LEQ;
  if (relation && node->getNumChildren() == 2) {
    auto diff = std::make_unique<ASTNode>(AST_MINUS);
    diff->addChild(node->getChild(0)->deepCopy());
    diff->addChild(node->getChild(1)->deepCopy());
    out->push_back(std::move(diff));
  } else if ((type == AST_FUNCTION_FLOOR || type == AST_FUNCTION_CEILING) &&
             node->getNumChildren() == 1) {
    auto scaled = std::make_unique<ASTNode>(AST_TIMES);
    scaled->addChild(new ASTNode(AST_CONSTANT_PI));
    scaled->addChild(node->getChild(0)->deepCopy());
    auto wave = std::make_unique<ASTNode>(AST_FUNCTION_SIN);
    wave->addChild(scaled.release());
    out->push_back(std::move(wave));
  }
  for (unsigned i = 0; i < node->getNumChildren(); ++i) CollectSwitches(node->getChild(i), out);
}

Status SbmlBuilder::CompileSwitches() {
  std::vector<std::unique_ptr<ASTNode>> found;
  // Function definitions are expanded into a copy first, so relations in their bodies are seen.
  auto collect = [&](const ASTNode* math) {
    if (math == nullptr) return;
    std::unique_ptr<ASTNode> copy(math->deepCopy());
    SBMLTransforms::replaceFD(copy.get(), m_.getListOfFunctionDefinitions());
    CollectSwitches(copy.get(), &found);
  };
  for (unsigned i = 0; i < m_.getNumRules(); ++i) {
    if (!m_.getRule(i)->isAlgebraic()) collect(m_.getRule(i)->getMath());
  }
  for (unsigned i = 0; i < m_.getNumReactions(); ++i) {
    const Reaction* r = m_.getReaction(i);
    if (r->isSetKineticLaw()) collect(r->getKineticLaw()->getMath());
  }
  // A compound trigger true only between two crossings inside one solver step (S1 > 0.18 &&
  // S1 < 0.19, SBML Test Suite 01511) has a margin negative at both ends of the step: its
  // relations become roots of their own, so the solver stops where each one turns.
  for (unsigned i = 0; i < m_.getNumEvents(); ++i) {
    const Trigger* trig = m_.getEvent(i)->getTrigger();
    if (trig == nullptr || !trig->isSetMath()) continue;
    const ASTNode* math = trig->getMath();
    const ASTNodeType_t type = math->getType();
    const bool single = type == AST_RELATIONAL_GT || type == AST_RELATIONAL_GEQ ||
                        type == AST_RELATIONAL_LT || type == AST_RELATIONAL_LEQ;
    if (!single) collect(math);
  }
  std::set<std::string> seen;
  for (const auto& node : found) {
    std::set<std::string> names;
    CollectNames(node.get(), &names);
    char* text = SBML_formulaToL3String(node.get());
    const std::string formula = text ? text : "";
    free(text);
    // Constant switching functions never cross zero; time and any named quantity may.
    const bool has_time = formula.find("time") != std::string::npos;
    if ((names.empty() && !has_time) || !seen.insert(formula).second) continue;
    if (in_.switches.size() >= kMaxSwitches) break;
    auto prog = CompileMath(node.get(), "discontinuity '" + formula + "'", nullptr);
    if (!prog.ok()) return prog.status();
    in_.switches.push_back(std::move(prog).value());
  }
  return Status::Ok();
}

void SbmlBuilder::ResolveDelayedDependencies() {
  if (in_.delayed.empty()) return;
  in_.set_by_time_initial_assignment.assign(in_.symbols.size(), 0);
  for (size_t k = 0; k < in_.initial_assignments.size(); ++k) {
    const Computation& c = in_.initial_assignments[k];
    const std::vector<int> slots = c.program.ReadSlots();
    if (slots.empty() || slots.front() != 0) continue;  // slot 0 is time
    in_.time_initial_assignments.push_back(static_cast<int>(k));
    in_.set_by_time_initial_assignment[c.symbol] = 1;
  }
  const int rate_base = in_.RateSlot(0);
  // What the derivatives read (for rateOf inside delay()).
  std::vector<int> derivative_slots;
  auto add_slots = [&](const sbml::Program& prog) {
    const std::vector<int> slots = prog.ReadSlots();
    derivative_slots.insert(derivative_slots.end(), slots.begin(), slots.end());
  };
  for (const auto& rule : in_.rate_rules) add_slots(rule.second);
  for (const Flux& f : in_.fluxes) {
    add_slots(f.stoich_program);
    for (int sym : {f.reaction, f.stoich_symbol, f.conversion}) {
      if (sym >= 0) derivative_slots.push_back(in_.Slot(sym));
    }
  }
  for (auto& d : in_.delayed) {
    std::vector<bool> needed(in_.symbols.size(), false);
    std::vector<int> slots = d.x.ReadSlots();
    d.reads_rates = std::any_of(slots.begin(), slots.end(), [&](int s) { return s >= rate_base; });
    if (d.reads_rates) slots.insert(slots.end(), derivative_slots.begin(), derivative_slots.end());
    for (int slot : slots) {
      if (slot > 0 && slot < rate_base) needed[slot - 1] = true;
    }
    d.computations.clear();
    for (size_t k = in_.computations.size(); k-- > 0;) {
      const Computation& c = in_.computations[k];
      if (!needed[c.symbol]) continue;
      d.computations.push_back(static_cast<int>(k));
      for (int dep : c.deps) needed[dep] = true;
    }
    std::reverse(d.computations.begin(), d.computations.end());
  }
}

Status SbmlBuilder::Build(ModelSpec* spec, SbmlInternals* out) {
  MEDTWIN_RETURN_IF_ERROR(AddSymbols());
  MEDTWIN_RETURN_IF_ERROR(ClassifyRules());
  MEDTWIN_RETURN_IF_ERROR(AddReactions());
  MEDTWIN_RETURN_IF_ERROR(ClassifyEventTargets());
  MEDTWIN_RETURN_IF_ERROR(CompileAll());
  MEDTWIN_RETURN_IF_ERROR(CompileEvents());
  MEDTWIN_RETURN_IF_ERROR(CompileSwitches());
  ResolveDelayedDependencies();
  MakeSpec(spec);
  for (const auto& c : in_.initial_assignments) in_.symbols[c.symbol].has_initial_assignment = true;
  *out = std::move(in_);
  return Status::Ok();
}

namespace {

Result<std::unique_ptr<SbmlModel>> LoadDocument(SBMLDocument* raw, const SbmlOptions& options,
                                                const std::string& source) {
  std::unique_ptr<SBMLDocument> doc(raw);
  if (doc->getNumErrors(LIBSBML_SEV_FATAL) + doc->getNumErrors(LIBSBML_SEV_ERROR) > 0) {
    return Status::Invalid(source + ": not valid SBML: " + ErrorList(*doc, LIBSBML_SEV_ERROR));
  }
  if (doc->getModel() == nullptr) return Status::Invalid(source + ": the document has no <model>");
  if (doc->isPackageEnabled("comp")) {
    // Hierarchical models: libSBML flattens submodels into one model, prefixing their ids with
    // "<submodel>__" (the naming the SBML Test Suite uses for their variables).
    // libSBML's comp flattening keeps process-wide callback lists: one flattening at a time.
    static std::mutex flatten_mutex;
    std::lock_guard<std::mutex> lock(flatten_mutex);
    ConversionProperties flatten;
    flatten.addOption("flatten comp", true);
    if (doc->convert(flatten) != LIBSBML_OPERATION_SUCCESS) {
      return Status::Unsupported(
          source + ": flattening the comp package failed: " + ErrorList(*doc, LIBSBML_SEV_ERROR));
    }
  }
  for (const char* pkg : {"comp", "fbc", "distrib", "spatial", "multi", "arrays"}) {
    if (doc->isPackageEnabled(pkg)) {
      return Status::Unsupported(source + ": the SBML package '" + pkg + "' is not supported");
    }
  }
  if (options.check_consistency) {
    doc->setConsistencyChecks(LIBSBML_CAT_UNITS_CONSISTENCY, false);
    doc->setConsistencyChecks(LIBSBML_CAT_MODELING_PRACTICE, false);
    if (doc->checkConsistency() > 0 && CountErrors(*doc) > 0) {
      return Status::Invalid(source +
                             ": SBML consistency errors: " + ErrorList(*doc, LIBSBML_SEV_ERROR));
    }
  }
  ConversionProperties props;
  props.addOption("promoteLocalParameters", true);
  if (doc->convert(props) != LIBSBML_OPERATION_SUCCESS) {
    return Status::Invalid(source + ": promoting local parameters failed");
  }
  const ::Model& m = *doc->getModel();
  ModelSpec spec;
  spec.name = m.isSetId() ? m.getId() : source;
  spec.title = m.isSetName() ? m.getName() : spec.name;
  spec.description = "Imported from SBML (" + source + ")";
  spec.citation = "see the SBML file's annotation";
  spec.time_unit = "model time units";
  SbmlInternals in;
  SbmlBuilder builder(m);
  Status st = builder.Build(&spec, &in);
  if (!st.ok()) return st.WithContext(source);
  MEDTWIN_RETURN_IF_ERROR(spec.Validate().WithContext(source));
  return std::unique_ptr<SbmlModel>(
      std::make_unique<SbmlModelImpl>(std::move(spec), std::move(in)));
}

}  // namespace

Result<std::unique_ptr<SbmlModel>> LoadSbmlFile(const std::string& path,
                                                const SbmlOptions& options) {
  SBMLReader reader;
  return LoadDocument(reader.readSBMLFromFile(path), options, path);
}

Result<std::unique_ptr<SbmlModel>> LoadSbmlString(const std::string& xml,
                                                  const SbmlOptions& options) {
  SBMLReader reader;
  return LoadDocument(reader.readSBMLFromString(xml), options, "SBML string");
}

}  // namespace medtwin
