// The bounded search over the candidates of nonlinear schedules (OptimizeDose).
//
// Exhaustive evaluation simulates every candidate in every draw (e.g. 96 regimens x 200 draws,
// 19,200 ODE solves). But within one schedule (interval, duration, loading or not) a larger dose
// gives higher levels: a draw whose metric of some target lies below its range at amounts
// (a, l) lies below it at every (a', l') <= (a, l), and one above its range (or without a steady
// state) at (a, l) lies above it at every (a', l') >= (a, l). So the draws each evaluation misses,
// and on which side, bound the joint PTA of the schedule's other candidates from above: the
// count of draws not yet known to miss. Together with the exact preference of every candidate
// (one run at the mode each) that bound gives each unevaluated candidate its best possible rank;
// candidates are evaluated best bound first until none could still rank among the `top` best,
// which leaves the reported ranking, PTAs and medians exactly those of the exhaustive search.
//
// Monotonicity holds for models whose states rise with the dose (cooperative right-hand sides:
// every state's rate non-decreasing in the other states, as in linear compartment models and
// pk1cmt_mm's absorption into a saturable elimination; Kamke's comparison theorem, H. L. Smith,
// Monotone Dynamical Systems, AMS 1995, ch. 3), with observables rising with the states. It is
// not assumed blindly: a schedule whose metrics at the mode are not non-decreasing across its
// candidates, or where an evaluated draw contradicts what earlier evaluations implied, is searched
// exhaustively.
#include <algorithm>
#include <cmath>

#include "decide/dose_search.h"

namespace medtwin {
namespace dose_internal {
namespace {

struct Candidate {
  size_t schedule = 0;  // index into `pending`
  double a = 0, l = 0;
  Outcome outcome;  // the mode's row from the start, the draws' once evaluated
  Ranked bound;     // regimen, point and preference exact; count: upper bound on the PTA count
  std::vector<uint8_t> forced;  // per draw: sides implied by the evaluated candidates
  std::vector<uint8_t> side;    // per draw, once evaluated
  bool done = false;            // simulated in every draw, or given up (below)
  bool abandoned = false;       // evaluation stopped once it could no longer rank: pruned
};

// Draws per batch of an evaluation; between batches the bound is checked (a fixed size, so the
// run count does not depend on the thread count).
constexpr int kBatch = 25;

bool Below(const Candidate& c, const Candidate& e) { return c.a <= e.a && c.l <= e.l; }

// The metrics at the mode do not decrease from any candidate to a larger one (1e-6 relative:
// above the solver's and the quadrature's noise, below any dose effect that matters).
bool MonotoneAtMode(const std::vector<Candidate>& cands, size_t schedule, size_t nt) {
  for (const Candidate& c : cands) {
    if (c.schedule != schedule) continue;
    const double* mc = c.outcome.metric.data() + c.outcome.metric.size() - nt;
    for (const Candidate& e : cands) {
      if (e.schedule != schedule || &e == &c || !Below(c, e)) continue;
      const double* me = e.outcome.metric.data() + e.outcome.metric.size() - nt;
      for (size_t j = 0; j < nt; ++j) {
        if (std::isinf(me[j]) && me[j] > 0) continue;
        if (mc[j] > me[j] + 1e-6 * std::max(std::fabs(mc[j]), std::fabs(me[j])) + 1e-12) {
          return false;
        }
      }
    }
  }
  return true;
}

// What evaluated candidate e implies for c, per draw.
uint8_t Implied(const Candidate& c, const Candidate& e, size_t k) {
  uint8_t f = 0;
  if (e.side[k] & kUnknown) return f;
  if (Below(c, e) && (e.side[k] & kLow)) f |= kLow;
  if (Below(e, c) && (e.side[k] & kHigh)) f |= kHigh;
  return f;
}

// Propagates e's sides to every candidate of its schedule: tightens the bounds of the others
// and checks the evaluated ones (e included) against them. False: monotonicity is contradicted.
bool Propagate(std::vector<Candidate>& cands, const Candidate& e, int draws) {
  bool consistent = true;
  for (Candidate& c : cands) {
    if (c.schedule != e.schedule) continue;
    int missed = 0;
    for (int k = 0; k < draws; ++k) {
      c.forced[k] |= Implied(c, e, k);
      missed += c.forced[k] != 0;
      if (c.done && !(c.side[k] & kUnknown) && (c.forced[k] & ~c.side[k])) consistent = false;
    }
    if (!c.done) c.bound.count = draws - missed;
  }
  return consistent;
}

// Inserts r into the sorted list `top`, kept at most `size` long.
void Keep(std::vector<Ranked>& top, const Ranked& r, size_t size) {
  Ranked key = r;
  key.side.clear();
  top.insert(std::upper_bound(top.begin(), top.end(), key, Better), std::move(key));
  if (top.size() > size) top.pop_back();
}

}  // namespace

Status BoundedSearch(Search& search, const std::vector<Schedule*>& pending,
                     const DoseOptions& options, bool per_schedule, std::vector<Ranked>* ranked,
                     DoseSummary* summary) {
  const int draws = search.draws();
  const size_t nt = search.num_targets();
  std::vector<Candidate> cands;
  for (size_t i = 0; i < pending.size(); ++i) {
    for (const auto& [a, l] : Pairs(*pending[i])) {
      Candidate c;
      c.schedule = i;
      c.a = a;
      c.l = l;
      MEDTWIN_RETURN_IF_ERROR(search.EvaluateMode(*pending[i], a, l, &c.outcome, summary));
      search.Point(*pending[i], a, l, c.outcome, &c.bound);
      c.bound.count = draws;
      c.forced.assign(draws, 0);
      cands.push_back(std::move(c));
      ++summary->candidates;
    }
  }
  std::vector<char> exhaustive(pending.size(), options.exhaustive);
  for (size_t i = 0; i < pending.size(); ++i) {
    if (!MonotoneAtMode(cands, i, nt)) exhaustive[i] = 1;
  }
  const size_t top_size = static_cast<size_t>(options.top);
  std::vector<Ranked> top;
  for (const Ranked& r : *ranked) Keep(top, r, top_size);
  std::vector<std::vector<Ranked>> best(pending.size());  // per schedule, its best so far
  auto needed = [&](const Candidate& c) {
    return exhaustive[c.schedule] || top.size() < top_size || Better(c.bound, top.back()) ||
           (per_schedule && (best[c.schedule].empty() || Better(c.bound, best[c.schedule][0])));
  };
  while (true) {
    Candidate* next = nullptr;
    for (Candidate& c : cands) {
      if (!c.done && needed(c) && (next == nullptr || Better(c.bound, next->bound))) next = &c;
    }
    if (next == nullptr) break;
    const Schedule& s = *pending[next->schedule];
    // Batches of draws; after each, the bound counts the draws met so far and those not yet
    // simulated that no evaluation has ruled out, and the evaluation stops once that could no
    // longer rank (the draws simulated still tighten the schedule's other bounds).
    next->side.assign(draws, kUnknown);
    int met = 0;
    for (int k0 = 0; k0 < draws && !next->abandoned; k0 += kBatch) {
      const int k1 = std::min(draws, k0 + kBatch);
      MEDTWIN_RETURN_IF_ERROR(
          search.EvaluateDraws(s, next->a, next->l, &next->outcome, summary, k0, k1));
      int open = 0;
      for (int k = 0; k < draws; ++k) {
        if (k >= k0 && k < k1) {
          next->side[k] = search.Side(next->outcome, k);
          met += next->side[k] == 0;
        }
        open += k >= k1 && next->forced[k] == 0;
      }
      next->bound.count = met + open;
      next->abandoned = k1 < draws && !needed(*next);
    }
    next->done = true;
    if (!Propagate(cands, *next, draws)) exhaustive[next->schedule] = 1;
    if (next->abandoned) {
      // A contradiction found on the way makes the schedule exhaustive: finish this candidate.
      if (!exhaustive[next->schedule]) continue;
      next->abandoned = false;
      MEDTWIN_RETURN_IF_ERROR(search.EvaluateDraws(s, next->a, next->l, &next->outcome, summary));
    }
    // An abandoned candidate cannot be reported: its median is not needed.
    if (!next->abandoned) {
      MEDTWIN_RETURN_IF_ERROR(search.SettleMedians(s, next->a, next->l, &next->outcome, summary));
    }
    Ranked r;
    search.Score(s, next->a, next->l, next->outcome, &r);
    next->side = r.side;
    next->outcome = Outcome{};
    Keep(top, r, top_size);
    Keep(best[next->schedule], r, 1);
    ranked->push_back(std::move(r));
  }
  for (const Candidate& c : cands) summary->pruned += !c.done || c.abandoned;
  return Status::Ok();
}

}  // namespace dose_internal
}  // namespace medtwin
