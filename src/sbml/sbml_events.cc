// SBML events (L3V2 section 4.12; L2V4 section 4.14) on top of the simulator's root finding.
//
// Each event has one root function: lhs - rhs when the trigger is a single relation (so CVODES
// locates the crossing precisely), otherwise +1/-1 from the trigger's truth value. Triggers fire
// on a false -> true transition. A fired event executes at once or after its delay; with
// useValuesFromTriggerTime its assignment values are computed when it fires. Events due at the
// same instant execute one at a time, highest priority first (declaration order breaks ties), and
// triggers are re-evaluated after each execution, so events may cascade; non-persistent events
// whose trigger turned false are dropped.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "sbml/sbml_internal.h"

namespace medtwin {
namespace {

// Executions allowed at one instant before the model is declared to fire endlessly.
constexpr int kMaxExecutionsPerInstant = 10000;
// |lhs - rhs| below which a relational trigger is still "at" the root CVODES located (its time
// tolerance is ~1e-14 relative, so the residual is far smaller for any reasonable rate).
constexpr double kRootBand = 1e-10;

class SbmlEventState final : public EventState {
 public:
  explicit SbmlEventState(const SbmlModelImpl& model)
      : model_(model), in_(model.internals()), previous_(in_.events.size(), 0) {}

  Status Initialize(double t0, double* x, const double* p, bool* changed) override {
    for (size_t i = 0; i < in_.events.size(); ++i) previous_[i] = in_.events[i].initial_value;
    return Update(t0, x, p, nullptr, changed);
  }

  Status Update(double t, double* x, const double* p, const int* roots, bool* changed) override;

  double NextScheduledTime() const override {
    double next = kInf;
    for (const auto& e : pending_) {
      if (e.time > last_t_) next = std::min(next, e.time);
    }
    return next;
  }

 private:
  struct Pending {
    double time;
    int event;
    long seq;
    bool has_values;
    std::vector<double> values;
  };

  // At a located root the state sits on the crossing only up to the root finder's tolerance,
  // so the trigger may evaluate to either side: the direction CVODES reports decides, for the
  // whole instant, unless an executed event has since moved the state off the root.
  bool Trigger(int i, const double* v, const int* roots) const {
    const EventDef& e = in_.events[i];
    const bool value = e.trigger.Eval(v, &model_) != 0.0;
    if (roots == nullptr || roots[i] == 0) return value;
    const bool off_root =
        e.root_is_difference ? std::fabs(e.root.Eval(v, &model_)) > kRootBand : state_moved_;
    return off_root ? value : roots[i] > 0;
  }
  Status Detect(double t, const double* v, const int* roots);
  std::vector<double> Values(int i, const double* v) const;
  void Apply(int i, const std::vector<double>& values, const double* v, double* x) const;
  int NextDue(double t, const double* v);

  const SbmlModelImpl& model_;
  const SbmlInternals& in_;
  std::vector<char> previous_;
  std::vector<Pending> pending_;
  long seq_ = 0;
  double last_t_ = -kInf;
  bool state_moved_ = false;  // an event executed during the current Update
  std::mt19937_64 rng_{20261125};
};

std::vector<double> SbmlEventState::Values(int i, const double* v) const {
  std::vector<double> out;
  for (const auto& [sym, prog] : in_.events[i].assignments) out.push_back(prog.Eval(v, &model_));
  return out;
}

// Fires events whose trigger went false -> true; drops non-persistent ones whose trigger fell.
Status SbmlEventState::Detect(double t, const double* v, const int* roots) {
  for (size_t i = 0; i < in_.events.size(); ++i) {
    const EventDef& e = in_.events[i];
    const bool now = Trigger(static_cast<int>(i), v, roots);
    if (now && !previous_[i]) {
      double delay = 0.0;
      if (!e.delay.empty()) {
        delay = e.delay.Eval(v, &model_);
        if (!(delay >= 0.0)) {
          return Status::Invalid("event '" + e.id + "': delay evaluates to " +
                                 std::to_string(delay) + ", expected >= 0");
        }
      }
      Pending pend{t + delay, static_cast<int>(i), seq_++, e.use_values_from_trigger_time, {}};
      if (pend.has_values) pend.values = Values(static_cast<int>(i), v);
      pending_.push_back(std::move(pend));
    }
    if (!now && !e.persistent) {
      std::erase_if(pending_, [&](const Pending& p) { return p.event == static_cast<int>(i); });
    }
    previous_[i] = now;
  }
  return Status::Ok();
}

// The pending execution due at t with the highest priority. Ties between events that declare
// a priority are broken at random, as SBML L3V2 (section 4.12.9) requires; events without a
// priority run in the order they fired. The generator is seeded per run: repeatable results.
int SbmlEventState::NextDue(double t, const double* v) {
  std::vector<int> best;
  double best_priority = -kInf;
  for (size_t k = 0; k < pending_.size(); ++k) {
    if (pending_[k].time > t) continue;
    const EventDef& e = in_.events[pending_[k].event];
    const double prio = e.priority.empty() ? -kInf : e.priority.Eval(v, &model_);
    if (best.empty() || prio > best_priority) {
      best.assign(1, static_cast<int>(k));
      best_priority = prio;
    } else if (prio == best_priority) {
      best.push_back(static_cast<int>(k));
    }
  }
  if (best.empty()) return -1;
  if (best.size() > 1 && best_priority > -kInf) {
    std::uniform_int_distribution<size_t> pick(0, best.size() - 1);
    return best[pick(rng_)];
  }
  return *std::min_element(best.begin(), best.end(),
                           [&](int a, int b) { return pending_[a].seq < pending_[b].seq; });
}

// Assignments act on math values and are simultaneous: a species held as an amount is set to
// value * its compartment's size before the event (v holds the pre-event values), so an event
// that also resizes the compartment changes the concentration (SBML Test Suite 01779). A species
// held as a concentration (it has a rate rule) keeps its amount when the event resizes its
// compartment: concentration * old size / new size (01506).
void SbmlEventState::Apply(int i, const std::vector<double>& values, const double* v,
                           double* x) const {
  const auto& assignments = in_.events[i].assignments;
  std::vector<int> resized;
  for (size_t a = 0; a < assignments.size(); ++a) {
    const Symbol& s = in_.symbols[assignments[a].first];
    double value = values[a];
    if (s.kind == Kind::kSpecies && s.state_is_amount && !s.only_substance) {
      value *= v[in_.Slot(s.compartment)];
    }
    if (s.kind == Kind::kCompartment) resized.push_back(assignments[a].first);
    x[s.state] = value;
  }
  if (resized.empty()) return;
  for (size_t k = 0; k < in_.symbols.size(); ++k) {
    const Symbol& s = in_.symbols[k];
    if (s.kind != Kind::kSpecies || s.role != Role::kState || s.state_is_amount ||
        s.only_substance ||
        std::find(resized.begin(), resized.end(), s.compartment) == resized.end()) {
      continue;
    }
    const double old_size = v[in_.Slot(s.compartment)];
    x[s.state] *= old_size / x[in_.symbols[s.compartment].state];
  }
}

Status SbmlEventState::Update(double t, double* x, const double* p, const int* roots,
                              bool* changed) {
  // A switching function crossed zero: the right-hand side jumps here, so the integrator must
  // restart rather than carry its history across (the state itself does not change).
  *changed = false;
  for (size_t k = in_.events.size();
       roots != nullptr && k < in_.events.size() + in_.switches.size(); ++k) {
    if (roots[k] != 0) *changed = true;
  }
  state_moved_ = false;
  double* v = model_.Scratch();
  model_.Fill(t, x, p, v);
  MEDTWIN_RETURN_IF_ERROR(Detect(t, v, roots));
  for (int executed = 0;; ++executed) {
    const int k = NextDue(t, v);
    if (k < 0) break;
    if (executed >= kMaxExecutionsPerInstant) {
      return Status::Numerical("event '" + in_.events[pending_[k].event].id +
                               "' fires endlessly: " + std::to_string(kMaxExecutionsPerInstant) +
                               " executions at one instant");
    }
    Pending due = std::move(pending_[k]);
    pending_.erase(pending_.begin() + k);
    const std::vector<double> values = due.has_values ? due.values : Values(due.event, v);
    Apply(due.event, values, v, x);
    *changed = true;
    state_moved_ = true;
    model_.Fill(t, x, p, v);
    MEDTWIN_RETURN_IF_ERROR(Detect(t, v, roots));
  }
  last_t_ = t;
  return Status::Ok();
}

}  // namespace

void SbmlModelImpl::Roots(double t, const double* x, const double* p, double* g) const {
  double* v = Scratch();
  Fill(t, x, p, v);
  const size_t ne = in_.events.size();
  for (size_t i = 0; i < ne; ++i) {
    const EventDef& e = in_.events[i];
    g[i] =
        e.root_is_difference ? e.root.Eval(v, this) : (e.trigger.Eval(v, this) != 0.0 ? 1.0 : -1.0);
  }
  for (size_t k = 0; k < in_.switches.size(); ++k) g[ne + k] = in_.switches[k].Eval(v, this);
}

std::unique_ptr<EventState> SbmlModelImpl::NewEventState() const {
  if (in_.events.empty() && in_.switches.empty()) return nullptr;
  return std::make_unique<SbmlEventState>(*this);
}

}  // namespace medtwin
