// Internals of the dose search (OptimizeDose), shared by dose_search.cc (candidates, their
// evaluation over the draws, refinement) and dose_bound.cc (the bounded search over nonlinear
// schedules). Not a public API.
#ifndef MEDTWIN_DECIDE_DOSE_SEARCH_H_
#define MEDTWIN_DECIDE_DOSE_SEARCH_H_

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "medtwin/decide.h"

namespace medtwin {
namespace dose_internal {

// Grid spacing inside a window (h): fine enough that Simpson's rule integrates the levels of
// the PK library to better than 1e-5 relative (distribution half-lives of an hour or more).
inline constexpr double kGridStepH = 0.25;

// Sorted, distinct breakpoints, each segment between two of them cut into an even number of
// equal steps of about `step_h`, so Simpson pairs never straddle a breakpoint (a kink of the
// level at an infusion's start or end).
std::vector<double> WindowGrid(std::vector<double> breaks, double step_h);

// One dosing schedule (interval, duration, with or without a loading dose): its window, output
// grid and candidate amounts.
struct Schedule {
  double interval_h = 0, duration_h = 0;
  bool loading = false;
  double w0 = 0, w1 = 0;
  std::vector<double> grid;
  std::vector<double> amounts, loadings;  // candidate maintenance / loading amounts
  bool linear = false;  // profiles combined by superposition (set by Search::Prepare)
};

// The screen (Search, below). Its runs use the explicit Dormand-Prince 5(4) pair (ARKODE ERKStep)
// at rtol 1e-5, atol scaled by the same factor from the user's: on pk1cmt_mm (BM_DoseNonlinearMm)
// a run takes 186 steps and 0.19 ms against BDF's 1,099 steps and 0.92 ms at rtol 1e-8 (BDF
// itself at rtol 1e-6 still takes 567: after each restart at an infusion start or end its step
// size and order build up again, which a one-step method does not need). Used only when the
// user's rtol is at least kScreenMinGain times finer, and when a screen run at the first
// nonlinear candidate's mode takes at most 1 / kScreenMaxStepShare of the steps of the user's
// method (a stiff model would make the explicit method crawl) and its levels there lie within
// kScreenMargin / 10 of the user's (relative to the largest).
constexpr double kScreenRtol = 1e-5;
constexpr double kScreenMinGain = 10.0;
constexpr long kScreenMaxStepShare = 4;
// Largest difference between a screen run's levels and the user's tolerance's, relative to the
// largest level in W, that the screen assumes: about 100 times the largest measured, 1.1e-6
// (pk1cmt_mm, BDF rtol 1e-8 / atol 1e-10 against the screen, 96 regimens x 50 draws of
// BM_DoseNonlinearMm's patient on day 2; test DoseSearch.ScreenMarginCoversTheUserTolerance).
constexpr double kScreenMargin = 1e-4;
// The screen's solver options for the user's.
SimOptions ScreenOptions(const SimOptions& user);

// Candidates' amounts for a schedule: loading doses at least the maintenance amount.
std::vector<std::pair<double, double>> Pairs(const Schedule& s);

// Per draw k (the posterior mode last, k = draws), the metric of every target; +inf, and every
// target missed, where the regimen reaches no steady state in that draw.
struct Outcome {
  std::vector<double> metric;  // (draws + 1) x targets
  std::vector<char> no_steady_state;
  // Draws decided by the screen run (Search, below): `metric` is the screen's, [lo, hi] holds
  // the metric at the user's tolerance, and no target bound lies inside it. Rows of nonlinear
  // schedules simulated at the user's tolerance have lo = hi = metric (linear schedules: unset,
  // never screened).
  std::vector<double> lo, hi;  // (draws + 1) x targets
  std::vector<char> screened;  // per draw
};

// Side of a draw's miss, per draw: kLow some target below its range, kHigh some target above it
// (or no steady state). Both may be set.
constexpr uint8_t kLow = 1, kHigh = 2;
// Not simulated (a candidate whose evaluation stopped early): implies nothing.
constexpr uint8_t kUnknown = 4;

struct Ranked {
  CandidateResult result;
  int count = 0;              // draws meeting every target
  std::vector<uint8_t> side;  // per draw: kLow | kHigh, 0 when every target is met
};

// The ranking: joint PTA (count), preference, daily dose, infusion duration, loading, interval.
bool Better(const Ranked& a, const Ranked& b);

// Evaluates candidates over the draws (the last row of `etas` is the posterior mode, not counted
// in the PTA). Owns one Simulator per thread of options.threads.
//
// The screen (nonlinear schedules on a day, DoseOptions::screen): a draw is first simulated by an
// explicit method at a loose tolerance (kScreenRtol); its levels then lie within kScreenMargin x
// their largest value in W of the levels at the user's tolerance (measured, see dose_search.cc),
// which bounds each metric to a range [lo, hi]. A draw whose ranges lie on one side of every target
// bound is decided by the screen (its side, and whether each target is met, are those of the user's
// tolerance); the others are simulated again at the user's tolerance. Before a candidate is
// scored, the draws whose range could hold the median are simulated again too (SettleMedians),
// so the reported medians are the user's tolerance's.
class Search {
 public:
  Search(const Model& model, const Dataset& data, size_t subject, const IndividualPosterior& post,
         const std::vector<Target>& targets, const DoseSearchSpace& space,
         const DoseOptions& options, std::vector<double> etas);
  ~Search();

  int draws() const { return draws_; }
  size_t num_targets() const { return targets_.size(); }

  // Decides whether the schedule's profiles are affine in the amounts (checked at the mode with
  // a third amount) and, if so, simulates its reference profiles for every draw: sets s->linear.
  Status Prepare(Schedule* s, DoseSummary* summary);
  // Row `draws` (the mode) of `o` for candidate (a, l).
  Status EvaluateMode(const Schedule& s, double a, double l, Outcome* o, DoseSummary* summary);
  // Rows begin..end-1 of `o` (end < 0: every draw).
  Status EvaluateDraws(const Schedule& s, double a, double l, Outcome* o, DoseSummary* summary,
                       int begin = 0, int end = -1);
  // Draw k's side of its miss (kLow | kHigh; 0: every target met) from row k of `o`.
  uint8_t Side(const Outcome& o, int k) const;
  // The candidate's PTA, per-target PTA, point, median, preference and per-draw sides.
  void Score(const Schedule& s, double a, double l, const Outcome& o, Ranked* r) const;
  // The regimen, point prediction (the mode's row of `o`) and preference of candidate (a, l).
  void Point(const Schedule& s, double a, double l, const Outcome& o, Ranked* r) const;
  // Simulates again at the user's tolerance the screened draws of `o` whose metric range could
  // hold a target's median (the (draws / 2)-th smallest value), so the median Score reads from
  // `o` is the one every draw simulated at the user's tolerance would give.
  Status SettleMedians(const Schedule& s, double a, double l, Outcome* o, DoseSummary* summary);
  // Both evaluations and the score.
  Status Evaluate(const Schedule& s, double a, double l, Ranked* r, DoseSummary* summary);
  // The best maintenance amount in [lo, hi] for loading `loading` (0: none) by NLopt DIRECT-L,
  // `evaluations` amounts; `best` is the best amount evaluated, by the ranking of Better.
  Status Refine(Schedule* s, double lo, double hi, double loading, int evaluations, Ranked* best,
                DoseSummary* summary);

 private:
  struct Worker;
  // Levels (rows x observables) of `regimen` on the schedule's grid for draw k; a nonlinear
  // schedule continues from the draw's state at the start (the shared past, simulated once).
  Result<std::vector<double>> Levels(Worker& w, Simulator& sim, const Schedule& s,
                                     const Regimen& regimen, int k, bool from_past,
                                     SimSummary* run = nullptr);
  // Metrics of draw k into o (row k), from the screen when it decides the draw, else at the
  // user's tolerance; counts runs into w's counters.
  Status DrawMetrics(Worker& w, const Schedule& s, const Regimen& regimen, int k, Outcome* o);
  // Draw k at the user's tolerance.
  Status ExactMetrics(Worker& w, const Schedule& s, const Regimen& regimen, int k, Outcome* o);
  // Draw k by the screen: true if it decides the draw (row k of o then set).
  bool ScreenMetrics(Worker& w, const Schedule& s, const Regimen& regimen, int k, Outcome* o);
  // Whether draw k of a run of schedule s is screened.
  bool Screens(const Schedule& s, int k) const;
  // Decides once whether the screen pays (screen_), from candidate `regimen` at the mode.
  void Calibrate(const Schedule& s, const Regimen& regimen);
  Status PastStates(DoseSummary* summary);
  Status ReferenceOf(Worker& w, const Schedule& s, int k);
  void Combine(int k, double a, double l, std::vector<double>* y) const;
  void Metrics(const Schedule& s, const std::vector<double>& y, std::vector<double>& level,
               double* m) const;

  const Model& model_;
  const Dataset& data_;
  size_t subject_;
  const IndividualPosterior& post_;
  const std::vector<Target>& targets_;
  const DoseSearchSpace& space_;
  std::vector<double> etas_;
  int draws_;
  bool screen_ = false;      // options allow the screen and it pays (see Calibrate)
  bool calibrated_ = false;  // Calibrate has run
  std::vector<std::unique_ptr<Worker>> workers_;
  // The state of each draw (and the mode) at space.start_h from the past doses alone; empty:
  // not computed yet, or every run starts from the beginning (steady state, no past, or a model
  // that reads its past).
  bool past_ready_ = false;
  std::vector<double> past_;
  double a1_ = 0, a2_ = 0, l1_ = 0, l2_ = 0;
  // Per draw: the reference profile at (a1, l1) and the changes per unit amount.
  std::vector<std::vector<double>> base_, per_amount_, per_loading_;
};

// The grid candidates of the nonlinear schedules `pending` points to, evaluated over every draw
// only while they could still rank among the options.top best (or, with `per_schedule`, be the
// best of their schedule), appended to `ranked` (which already holds the linear schedules'
// candidates). See dose_bound.cc.
Status BoundedSearch(Search& search, const std::vector<Schedule*>& pending,
                     const DoseOptions& options, bool per_schedule, std::vector<Ranked>* ranked,
                     DoseSummary* summary);

}  // namespace dose_internal
}  // namespace medtwin

#endif  // MEDTWIN_DECIDE_DOSE_SEARCH_H_
