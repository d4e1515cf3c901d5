// The dose search: candidate regimens as datasets, their exposure over the posterior draws, and
// the ranking by probability of target attainment.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

#include <nlopt.h>

#include "decide/dose_search.h"

namespace medtwin {
namespace dose_internal {

std::vector<double> WindowGrid(std::vector<double> breaks, double step_h) {
  std::sort(breaks.begin(), breaks.end());
  breaks.erase(std::unique(breaks.begin(), breaks.end(),
                           [](double a, double b) { return std::fabs(a - b) < 1e-9; }),
               breaks.end());
  std::vector<double> grid = {breaks.front()};
  for (size_t i = 1; i < breaks.size(); ++i) {
    const double a = breaks[i - 1], b = breaks[i];
    const int n = 2 * std::max(2, static_cast<int>(std::ceil((b - a) / (2 * step_h))));
    for (int j = 1; j <= n; ++j) grid.push_back(j == n ? b : a + (b - a) * j / n);
  }
  return grid;
}

namespace {

// A dose record of the new regimen with the covariates of `like`.
Record NewDose(const Record& like, int state, double time_h, double amount, double duration_h,
               size_t modifiers) {
  Record r;
  r.time_h = time_h;
  r.evid = Evid::kDose;
  r.amt = amount;
  r.state = state;
  r.rate = amount / duration_h;
  r.mdv = true;
  r.covariates = like.covariates;
  r.modifiers.assign(modifiers, std::numeric_limits<double>::quiet_NaN());
  return r;
}

double Preferred(const Target& t) {
  if (!std::isnan(t.preferred)) return t.preferred;
  if (std::isfinite(t.low) && std::isfinite(t.high) && t.low > 0) return std::sqrt(t.low * t.high);
  return std::numeric_limits<double>::quiet_NaN();
}

// Runs body(worker, k) for k in [begin, end) on `workers` threads (the calling one included),
// in contiguous blocks; the first failure in draw order is returned, so the outcome does not
// depend on the thread count.
template <typename W, typename F>
Status ForDraws(std::vector<std::unique_ptr<W>>& workers, int begin, int end, F body) {
  const int n = end - begin;
  const int t = std::max(1, std::min(static_cast<int>(workers.size()), n));
  std::vector<Status> status(t);
  auto block = [&](int i) {
    for (int k = begin + n * i / t; k < begin + n * (i + 1) / t; ++k) {
      status[i] = body(*workers[i], k);
      if (!status[i].ok()) return;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < t; ++i) threads.emplace_back(block, i);
  block(0);
  for (std::thread& th : threads) th.join();
  for (const Status& st : status) MEDTWIN_RETURN_IF_ERROR(st);
  return Status::Ok();
}

}  // namespace

SimOptions ScreenOptions(const SimOptions& user) {
  SimOptions loose = user;
  loose.method = OdeMethod::kExplicitRk;
  loose.rtol = kScreenRtol;
  loose.atol = user.atol * kScreenRtol / user.rtol;
  return loose;
}

std::vector<std::pair<double, double>> Pairs(const Schedule& s) {
  std::vector<std::pair<double, double>> out;
  for (double a : s.amounts) {
    if (!s.loading) {
      out.emplace_back(a, 0.0);
      continue;
    }
    for (double l : s.loadings) {
      if (l >= a) out.emplace_back(a, l);
    }
  }
  return out;
}

bool Better(const Ranked& a, const Ranked& b) {
  if (a.count != b.count) return a.count > b.count;
  if (std::fabs(a.result.preference - b.result.preference) > 1e-12) {
    return a.result.preference < b.result.preference;
  }
  const Regimen &x = a.result.regimen, &y = b.result.regimen;
  if (std::fabs(x.DailyDose() - y.DailyDose()) > 1e-9) return x.DailyDose() < y.DailyDose();
  if (x.duration_h != y.duration_h) return x.duration_h < y.duration_h;
  if (x.loading != y.loading) return x.loading < y.loading;
  return x.interval_h < y.interval_h;
}

// A thread's simulator and its counters (summed into the summary after each parallel loop).
struct Search::Worker {
  Worker(const Model& model, const SimOptions& options, const SimOptions* screen_options)
      : sim(model, options) {
    if (screen_options != nullptr) screen = std::make_unique<Simulator>(model, *screen_options);
  }
  Simulator sim;
  std::unique_ptr<Simulator> screen;  // at the screen's tolerance; null: no screen
  long simulations = 0;
  long no_steady_state = 0;
  long screened = 0, rerun = 0;
  std::vector<double> y, level;  // buffers of DrawMetrics, reused across candidates
};

Search::Search(const Model& model, const Dataset& data, size_t subject,
               const IndividualPosterior& post, const std::vector<Target>& targets,
               const DoseSearchSpace& space, const DoseOptions& options, std::vector<double> etas)
    : model_(model),
      data_(data),
      subject_(subject),
      post_(post),
      targets_(targets),
      space_(space),
      etas_(std::move(etas)),
      draws_(options.draws) {
  const SimOptions loose = ScreenOptions(options.sim);
  // rtol <= 1e-6 (up to rounding).
  screen_ = options.screen && !options.exhaustive &&
            options.sim.rtol <= kScreenRtol / kScreenMinGain * (1 + 1e-9);
  for (int i = 0; i < options.threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(model, options.sim, screen_ ? &loose : nullptr));
  }
}

Search::~Search() = default;

namespace {

// Moves the workers' counters into the summary.
template <typename W>
void Collect(std::vector<std::unique_ptr<W>>& workers, DoseSummary* summary) {
  for (auto& w : workers) {
    summary->simulations += w->simulations;
    summary->no_steady_state += w->no_steady_state;
    summary->screened += w->screened;
    summary->rerun += w->rerun;
    w->simulations = w->no_steady_state = w->screened = w->rerun = 0;
  }
}

}  // namespace

Result<std::vector<double>> Search::Levels(Worker& w, Simulator& sim, const Schedule& s,
                                           const Regimen& regimen, int k, bool from_past,
                                           SimSummary* run) {
  double w0 = 0, w1 = 0;
  auto ds = RegimenDataset(model_, data_, subject_, regimen, space_, &w0, &w1);
  if (!ds.ok()) return ds.status();
  OutputRequest req;
  req.observation_records = false;
  req.times_h = s.grid;
  const size_t n = post_.mode.size();
  const std::span<const double> eta(etas_.data() + static_cast<size_t>(k) * n, n);
  const size_t ns = static_cast<size_t>(model_.num_states());
  RunStart start{space_.start_h, {}, -1};
  const bool use_past = from_past && !past_.empty();
  if (use_past) start.state = std::span<const double>(past_.data() + k * ns, ns);
  ++w.simulations;
  auto out = sim.Run(*ds, 0, req, IndividualInput{post_.theta, eta}, use_past ? &start : nullptr);
  if (!out.ok()) {
    return out.status().WithContext(regimen.ToString() + ", posterior draw " + std::to_string(k));
  }
  if (run != nullptr) *run = out->summary;
  if (out->rows() != s.grid.size()) {
    return Status::Internal("dose search: " + std::to_string(out->rows()) + " rows for a grid of " +
                            std::to_string(s.grid.size()));
  }
  for (double v : out->observables) {
    if (!std::isfinite(v)) {
      return Status::Numerical(regimen.ToString() + ", posterior draw " + std::to_string(k) +
                               ": non-finite level");
    }
  }
  return std::move(out->observables);
}

// On a day (>= 1) every candidate shares the past doses before space.start_h: each draw's state
// at start_h is simulated once and the candidates' runs continue from it (Simulator RunStart),
// which skips the past (a third of each run for the benchmark's day 2 after one day of doses).
// Not for models reading their past (a continued run sees the state held constant before it).
Status Search::PastStates(DoseSummary* summary) {
  past_ready_ = true;
  if (space_.day == 0 || model_.reads_history()) return Status::Ok();
  Dataset past;
  past.modifier_columns = data_.modifier_columns;
  past.covariate_present = data_.covariate_present;
  Subject sub;
  sub.id = data_.subjects[subject_].id;
  double w0 = 0, w1 = 0;
  auto ds = RegimenDataset(model_, data_, subject_, {1.0, 24.0, 1.0, 0.0}, space_, &w0, &w1);
  if (!ds.ok()) return ds.status();
  for (const Record& r : ds->subjects[0].records) {
    if (r.time_h < space_.start_h) sub.records.push_back(r);
  }
  if (sub.records.empty()) return Status::Ok();
  past.subjects.push_back(std::move(sub));
  OutputRequest req;
  req.observation_records = false;
  req.times_h = {space_.start_h};
  const size_t n = post_.mode.size(), ns = static_cast<size_t>(model_.num_states());
  std::vector<double> states((draws_ + 1) * ns);
  Status st = ForDraws(workers_, 0, draws_ + 1, [&](Worker& w, int k) -> Status {
    const std::span<const double> eta(etas_.data() + static_cast<size_t>(k) * n, n);
    ++w.simulations;
    auto out = w.sim.Run(past, 0, req, IndividualInput{post_.theta, eta});
    if (!out.ok()) {
      return out.status().WithContext("past doses, posterior draw " + std::to_string(k));
    }
    std::copy(out->states.end() - ns, out->states.end(), states.begin() + k * ns);
    return Status::Ok();
  });
  Collect(workers_, summary);
  MEDTWIN_RETURN_IF_ERROR(st);
  past_ = std::move(states);
  return Status::Ok();
}

// For linear models the levels are affine in the maintenance and loading amounts: two or three
// runs per draw give every candidate of the schedule. The claim is checked first, on the mode
// with a third amount; if it fails (or a run there fails) the search simulates every candidate
// and the other draws' references are not simulated at all.
Status Search::Prepare(Schedule* sp, DoseSummary* summary) {
  const Schedule& s = *sp;
  const int rows = draws_ + 1;
  base_.assign(rows, {});
  per_amount_.assign(rows, {});
  per_loading_.assign(rows, {});
  a1_ = s.amounts.front();
  a2_ = s.amounts.size() > 1 ? s.amounts.back() : 2 * a1_;
  l1_ = s.loading ? s.loadings.front() : 0.0;
  l2_ = s.loading ? (s.loadings.size() > 1 ? s.loadings.back() : 2 * l1_) : 0.0;
  sp->linear = false;
  // A failed run at a reference amount the grid may not even hold (2 a1) only means no
  // superposition; the candidates' own runs report real failures.
  Status ref = ReferenceOf(*workers_[0], s, draws_);
  Collect(workers_, summary);
  if (!ref.ok()) return Status::Ok();
  const double am = 0.37 * a1_ + 0.63 * a2_, lm = s.loading ? 0.41 * l1_ + 0.59 * l2_ : 0.0;
  auto direct = Levels(*workers_[0], workers_[0]->sim, s, {am, s.interval_h, s.duration_h, lm},
                       draws_, false);
  Collect(workers_, summary);
  if (!direct.ok()) return Status::Ok();
  std::vector<double> combined;
  Combine(draws_, am, lm, &combined);
  double scale = 0, diff = 0;
  for (size_t i = 0; i < combined.size(); ++i) {
    scale = std::max(scale, std::fabs((*direct)[i]));
    diff = std::max(diff, std::fabs((*direct)[i] - combined[i]));
  }
  if (diff > 1e-7 * scale + 1e-12) return Status::Ok();
  Status st = ForDraws(workers_, 0, draws_, [&](Worker& w, int k) { return ReferenceOf(w, s, k); });
  Collect(workers_, summary);
  MEDTWIN_RETURN_IF_ERROR(st);
  sp->linear = true;
  return Status::Ok();
}

// Draw k's reference profile at (a1, l1) and its changes per unit maintenance / loading amount.
Status Search::ReferenceOf(Worker& w, const Schedule& s, int k) {
  auto y1 = Levels(w, w.sim, s, {a1_, s.interval_h, s.duration_h, l1_}, k, false);
  if (!y1.ok()) return y1.status();
  auto y2 = Levels(w, w.sim, s, {a2_, s.interval_h, s.duration_h, l1_}, k, false);
  if (!y2.ok()) return y2.status();
  per_amount_[k].resize(y1->size());
  for (size_t i = 0; i < y1->size(); ++i) per_amount_[k][i] = ((*y2)[i] - (*y1)[i]) / (a2_ - a1_);
  if (s.loading) {
    auto y3 = Levels(w, w.sim, s, {a1_, s.interval_h, s.duration_h, l2_}, k, false);
    if (!y3.ok()) return y3.status();
    per_loading_[k].resize(y1->size());
    for (size_t i = 0; i < y1->size(); ++i) {
      per_loading_[k][i] = ((*y3)[i] - (*y1)[i]) / (l2_ - l1_);
    }
  }
  base_[k] = std::move(y1).value();
  return Status::Ok();
}

void Search::Combine(int k, double a, double l, std::vector<double>* y) const {
  const std::vector<double>& b = base_[k];
  y->resize(b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    double v = b[i] + (a - a1_) * per_amount_[k][i];
    if (!per_loading_[k].empty()) v += (l - l1_) * per_loading_[k][i];
    (*y)[i] = v;
  }
}

// The metric of every target from levels y (rows x observables) on the schedule's grid.
void Search::Metrics(const Schedule& s, const std::vector<double>& y, std::vector<double>& level,
                     double* m) const {
  const int no = model_.num_observables();
  const double last_end = s.w1 - s.interval_h + s.duration_h;
  level.resize(s.grid.size());
  for (size_t j = 0; j < targets_.size(); ++j) {
    const Target& t = targets_[j];
    for (size_t i = 0; i < level.size(); ++i) level[i] = y[i * no + t.observable];
    m[j] = TargetMetric(t, s.grid, level, s.w0, s.w1, last_end);
  }
}

Status Search::DrawMetrics(Worker& w, const Schedule& s, const Regimen& regimen, int k,
                           Outcome* o) {
  if (s.linear) {
    const size_t nt = targets_.size();
    double* m = o->metric.data() + static_cast<size_t>(k) * nt;
    o->no_steady_state[k] = 0;
    Combine(k, regimen.amount, regimen.loading, &w.y);
    Metrics(s, w.y, w.level, m);
    return Status::Ok();
  }
  if (Screens(s, k) && ScreenMetrics(w, s, regimen, k, o)) return Status::Ok();
  return ExactMetrics(w, s, regimen, k, o);
}

Status Search::ExactMetrics(Worker& w, const Schedule& s, const Regimen& regimen, int k,
                            Outcome* o) {
  const size_t nt = targets_.size();
  double* m = o->metric.data() + static_cast<size_t>(k) * nt;
  o->no_steady_state[k] = 0;
  o->screened[k] = 0;
  auto y = Levels(w, w.sim, s, regimen, k, true);
  if (!y.ok() && IsNoSteadyState(y.status())) {
    // The level grows without bound: above any range, so every target is missed.
    ++w.no_steady_state;
    o->no_steady_state[k] = 1;
    std::fill(m, m + nt, kInf);
  } else {
    if (!y.ok()) return y.status();
    Metrics(s, *y, w.level, m);
  }
  std::copy(m, m + nt, o->lo.begin() + k * nt);
  std::copy(m, m + nt, o->hi.begin() + k * nt);
  return Status::Ok();
}

// On a day the runs hold no steady-state dose (the past, which may, is simulated once at the
// user's tolerance, or holds none): a steady state's cycles are judged converged at 100 x rtol,
// so the screen's error there would not be bounded by its tolerance.
bool Search::Screens(const Schedule& s, int k) const {
  if (!screen_ || !calibrated_ || s.linear || k >= draws_ || space_.day == 0) return false;
  if (!past_.empty()) return true;
  const auto& records = data_.subjects[subject_].records;
  return std::none_of(records.begin(), records.end(),
                      [&](const Record& r) { return r.time_h < space_.start_h && r.ss != 0; });
}

bool Search::ScreenMetrics(Worker& w, const Schedule& s, const Regimen& regimen, int k,
                           Outcome* o) {
  auto y = Levels(w, *w.screen, s, regimen, k, true);
  ++w.screened;
  // A failed screen run decides nothing: the run at the user's tolerance reports real failures.
  if (!y.ok()) {
    ++w.rerun;
    return false;
  }
  const size_t nt = targets_.size();
  const int no = model_.num_observables();
  const double last_end = s.w1 - s.interval_h + s.duration_h;
  std::vector<double>& level = w.level;
  level.resize(s.grid.size());
  double* m = o->metric.data() + static_cast<size_t>(k) * nt;
  double* lo = o->lo.data() + static_cast<size_t>(k) * nt;
  double* hi = o->hi.data() + static_cast<size_t>(k) * nt;
  for (size_t j = 0; j < nt; ++j) {
    const Target& t = targets_[j];
    double largest = 0;
    for (size_t i = 0; i < level.size(); ++i) {
      level[i] = (*y)[i * no + t.observable];
      largest = std::max(largest, std::fabs(level[i]));
    }
    // Every level within e of the user's tolerance's: AUC24 (Simpson weights positive, summing
    // to |W|) within 24 e, a trough or peak within e, and the time above c between the times
    // above c + e and above c - e (the interpolated level is monotone in the grid values).
    const double e = kScreenMargin * largest;
    m[j] = TargetMetric(t, s.grid, level, s.w0, s.w1, last_end);
    if (t.kind == TargetKind::kTimeAbove) {
      Target shifted = t;
      shifted.threshold = t.threshold + e;
      lo[j] = TargetMetric(shifted, s.grid, level, s.w0, s.w1, last_end);
      shifted.threshold = t.threshold - e;
      hi[j] = TargetMetric(shifted, s.grid, level, s.w0, s.w1, last_end);
    } else {
      const double d = t.kind == TargetKind::kAuc24 ? 24.0 * e : e;
      lo[j] = m[j] - d;
      hi[j] = m[j] + d;
    }
    // Undecided: a bound inside the range.
    if ((lo[j] < t.low && hi[j] >= t.low) || (lo[j] <= t.high && hi[j] > t.high)) {
      ++w.rerun;
      return false;
    }
  }
  o->no_steady_state[k] = 0;
  o->screened[k] = 1;
  return true;
}

namespace {

void Resize(int draws, size_t nt, Outcome* o) {
  o->metric.resize(static_cast<size_t>(draws + 1) * nt);
  o->lo.resize(o->metric.size());
  o->hi.resize(o->metric.size());
  o->no_steady_state.resize(draws + 1);
  o->screened.resize(draws + 1);
}

}  // namespace

// Whether the screen pays and holds: a screen run at the mode against a run at the user's
// tolerance. The screen is used only if it takes few enough steps (not a stiff model) and its
// levels there lie within a tenth of the margin of the user-tolerance ones (a model the explicit
// method follows less closely is not screened). A failed run means no screen (the mode's own
// run reports real failures).
void Search::Calibrate(const Schedule& s, const Regimen& regimen) {
  calibrated_ = true;
  Worker& w = *workers_[0];
  SimSummary exact, loose;
  auto exact_y = Levels(w, w.sim, s, regimen, draws_, true, &exact);
  auto loose_y = Levels(w, *w.screen, s, regimen, draws_, true, &loose);
  w.screened += 1;
  if (!exact_y.ok() || !loose_y.ok() || exact_y->size() != loose_y->size()) {
    screen_ = false;
    return;
  }
  double largest = 0, error = 0;
  for (size_t i = 0; i < exact_y->size(); ++i) {
    largest = std::max(largest, std::fabs((*exact_y)[i]));
    error = std::max(error, std::fabs((*exact_y)[i] - (*loose_y)[i]));
  }
  screen_ =
      loose.steps * kScreenMaxStepShare <= exact.steps && error <= 0.1 * kScreenMargin * largest;
}

Status Search::EvaluateMode(const Schedule& s, double a, double l, Outcome* o,
                            DoseSummary* summary) {
  if (!s.linear && !past_ready_) MEDTWIN_RETURN_IF_ERROR(PastStates(summary));
  if (screen_ && !calibrated_ && !s.linear && space_.day > 0) {
    Calibrate(s, {a, s.interval_h, s.duration_h, l});
  }
  Resize(draws_, targets_.size(), o);
  Status st = DrawMetrics(*workers_[0], s, {a, s.interval_h, s.duration_h, l}, draws_, o);
  Collect(workers_, summary);
  return st;
}

Status Search::EvaluateDraws(const Schedule& s, double a, double l, Outcome* o,
                             DoseSummary* summary, int begin, int end) {
  if (!s.linear && !past_ready_) MEDTWIN_RETURN_IF_ERROR(PastStates(summary));
  Resize(draws_, targets_.size(), o);
  if (end < 0) end = draws_;
  const Regimen regimen{a, s.interval_h, s.duration_h, l};
  Status st = s.linear ? Status::Ok() : ForDraws(workers_, begin, end, [&](Worker& w, int k) {
    return DrawMetrics(w, s, regimen, k, o);
  });
  if (s.linear) {
    for (int k = begin; k < end && st.ok(); ++k) st = DrawMetrics(*workers_[0], s, regimen, k, o);
  }
  Collect(workers_, summary);
  return st;
}

// The median Score takes is the (draws / 2)-th smallest metric. With every metric v_k in its
// range [lo_k, hi_k] (the screen's value too), that order statistic lies in [L, U], the
// (draws / 2)-th smallest lo and hi. A draw whose range ends below L (or starts above U) is below
// (above) it whatever its value; once every other draw holds its value at the user's tolerance,
// the values at or below any t in [L, U] are the same draws in both, and fewer than draws / 2 + 1
// values of either lie below L, so both give the same order statistic.
Status Search::SettleMedians(const Schedule& s, double a, double l, Outcome* o,
                             DoseSummary* summary) {
  const size_t nt = targets_.size();
  if (s.linear ||
      std::none_of(o->screened.begin(), o->screened.begin() + draws_, [](char c) { return c; })) {
    return Status::Ok();
  }
  std::vector<char> again(draws_, 0);
  std::vector<double> lo(draws_), hi(draws_);
  for (size_t j = 0; j < nt; ++j) {
    for (int k = 0; k < draws_; ++k) {
      lo[k] = o->lo[k * nt + j];
      hi[k] = o->hi[k * nt + j];
    }
    std::nth_element(lo.begin(), lo.begin() + draws_ / 2, lo.end());
    std::nth_element(hi.begin(), hi.begin() + draws_ / 2, hi.end());
    const double low = lo[draws_ / 2], high = hi[draws_ / 2];
    for (int k = 0; k < draws_; ++k) {
      again[k] |= o->screened[k] && o->hi[k * nt + j] >= low && o->lo[k * nt + j] <= high;
    }
  }
  std::vector<int> list;
  for (int k = 0; k < draws_; ++k) {
    if (again[k]) list.push_back(k);
  }
  const Regimen regimen{a, s.interval_h, s.duration_h, l};
  Status st = ForDraws(workers_, 0, static_cast<int>(list.size()), [&](Worker& w, int i) {
    ++w.rerun;
    return ExactMetrics(w, s, regimen, list[i], o);
  });
  Collect(workers_, summary);
  return st;
}

uint8_t Search::Side(const Outcome& o, int k) const {
  if (o.no_steady_state[k]) return kHigh;
  const size_t nt = targets_.size();
  uint8_t side = 0;
  for (size_t j = 0; j < nt; ++j) {
    const double v = o.metric[k * nt + j];
    if (v < targets_[j].low) side |= kLow;
    if (v > targets_[j].high) side |= kHigh;
  }
  return side;
}

void Search::Score(const Schedule& s, double a, double l, const Outcome& o, Ranked* r) const {
  const size_t nt = targets_.size();
  r->result.regimen = {a, s.interval_h, s.duration_h, l};
  std::vector<std::vector<double>> metric(nt, std::vector<double>(draws_));
  std::vector<int> met(nt, 0);
  r->count = 0;
  r->result.no_steady_state = 0;
  r->side.assign(draws_, 0);
  for (int k = 0; k < draws_; ++k) {
    const bool none = o.no_steady_state[k];
    r->result.no_steady_state += none;
    for (size_t j = 0; j < nt; ++j) {
      metric[j][k] = o.metric[k * nt + j];  // +inf without a steady state
      met[j] += !none && targets_[j].Met(metric[j][k]);
    }
    r->side[k] = Side(o, k);
    r->count += r->side[k] == 0;
  }
  r->result.pta = static_cast<double>(r->count) / draws_;
  r->result.target_pta.resize(nt);
  r->result.median.resize(nt);
  for (size_t j = 0; j < nt; ++j) {
    r->result.target_pta[j] = static_cast<double>(met[j]) / draws_;
    auto mid = metric[j].begin() + draws_ / 2;
    std::nth_element(metric[j].begin(), mid, metric[j].end());
    r->result.median[j] = *mid;
  }
  Point(s, a, l, o, r);
}

void Search::Point(const Schedule& s, double a, double l, const Outcome& o, Ranked* r) const {
  const size_t nt = targets_.size();
  r->result.regimen = {a, s.interval_h, s.duration_h, l};
  r->result.point.assign(o.metric.end() - nt, o.metric.end());
  r->result.preference = 0.0;
  for (size_t j = 0; j < nt; ++j) {
    const double p = Preferred(targets_[j]);
    if (!std::isnan(p)) {
      const double v = r->result.point[j];
      r->result.preference +=
          v > 0 && std::isfinite(v) ? std::pow(std::log(v) - std::log(p), 2) : 1e6;
    }
  }
}

Status Search::Evaluate(const Schedule& s, double a, double l, Ranked* r, DoseSummary* summary) {
  Outcome o;
  MEDTWIN_RETURN_IF_ERROR(EvaluateMode(s, a, l, &o, summary));
  MEDTWIN_RETURN_IF_ERROR(EvaluateDraws(s, a, l, &o, summary));
  MEDTWIN_RETURN_IF_ERROR(SettleMedians(s, a, l, &o, summary));
  Score(s, a, l, o, r);
  return Status::Ok();
}

// The refinement's objective, minimised: the ranking of Better as one number, -count +
// P / (1 + P) with P >= 0 the preference. The second term lies in [0, 1), so it never outweighs
// one draw: among amounts with the most draws in range, the one closest to the preferred values
// wins. The count is piecewise constant in the amount, hence DIRECT-L (a global, derivative-free
// bounded search that keeps splitting the best and the largest intervals) rather than a local
// method that would stall on a plateau.
struct RefineState {
  Search* search;
  const Schedule* schedule;
  double loading;
  DoseSummary* summary;
  nlopt_opt opt;
  Status status;
  Ranked best;
  bool have = false;
};

namespace {

double RefineObjective(unsigned /*n*/, const double* x, double* /*grad*/, void* data) {
  auto* st = static_cast<RefineState*>(data);
  Ranked r;
  ++st->summary->refine_evaluations;
  Status e = st->search->Evaluate(*st->schedule, x[0], st->loading, &r, st->summary);
  if (!e.ok()) {
    st->status = e;
    nlopt_force_stop(st->opt);
    return 0.0;
  }
  const double p = r.result.preference;
  const double value = -r.count + p / (1.0 + p);
  if (!st->have || Better(r, st->best)) {
    st->best = std::move(r);
    st->have = true;
  }
  return value;
}

}  // namespace

Status Search::Refine(Schedule* s, double lo, double hi, double loading, int evaluations,
                      Ranked* best, DoseSummary* summary) {
  // A linear schedule's reference profiles were replaced by later schedules' since its grid.
  if (s->linear) MEDTWIN_RETURN_IF_ERROR(Prepare(s, summary));
  RefineState st{this,         s,       loading, summary, nlopt_create(NLOPT_GN_DIRECT_L, 1),
                 Status::Ok(), Ranked{}};
  if (st.opt == nullptr) return Status::Internal("amount refinement: nlopt_create failed");
  nlopt_set_min_objective(st.opt, RefineObjective, &st);
  nlopt_set_lower_bounds1(st.opt, lo);
  nlopt_set_upper_bounds1(st.opt, hi);
  nlopt_set_maxeval(st.opt, evaluations);
  std::vector<double> x = {0.5 * (lo + hi)};
  double f = 0;
  const nlopt_result result = nlopt_optimize(st.opt, x.data(), &f);
  nlopt_destroy(st.opt);
  MEDTWIN_RETURN_IF_ERROR(st.status.WithContext("amount refinement"));
  if (result < 0 || !st.have) {
    return Status::Numerical("amount refinement of " + st.best.result.regimen.ToString() +
                             ": NLopt DIRECT-L failed (code " + std::to_string(result) + ")");
  }
  *best = std::move(st.best);
  return Status::Ok();
}

namespace {

std::vector<double> Amounts(const DoseSearchSpace& space) {
  if (!space.amounts.empty()) return space.amounts;
  std::vector<double> a;
  for (int i = 0; i <= space.amount_steps; ++i) {
    a.push_back(space.amount_min + (space.amount_max - space.amount_min) * i / space.amount_steps);
  }
  return a;
}

// Maintenance (and loading) amounts allowed by the rate limit for an infusion of duration_h.
std::vector<double> WithinRate(const std::vector<double>& amounts, double duration_h,
                               double max_rate_mg_per_h) {
  std::vector<double> out;
  for (double a : amounts) {
    if (a <= max_rate_mg_per_h * duration_h * (1 + 1e-12)) out.push_back(a);
  }
  return out;
}

// The schedules of the space, each with its window, output grid and the amounts the rate limit
// allows (the regimens it excludes are counted in summary->excluded_by_rate).
Result<std::vector<Schedule>> Schedules(const Model& model, const Dataset& data, size_t subject,
                                        const std::vector<Target>& targets,
                                        const DoseSearchSpace& space, DoseSummary* summary) {
  const std::vector<double> amounts = Amounts(space);
  std::vector<double> loadings = space.loading_amounts.empty() ? amounts : space.loading_amounts;
  std::sort(loadings.begin(), loadings.end());
  std::vector<Schedule> out;
  for (double tau : space.intervals_h) {
    for (double dur : space.durations_h) {
      for (bool loading : {false, true}) {
        if (loading && !space.loading) continue;
        Schedule s;
        s.interval_h = tau;
        s.duration_h = dur;
        s.loading = loading;
        s.amounts = amounts;
        s.loadings = loadings;
        const size_t all = Pairs(s).size();
        s.amounts = WithinRate(amounts, dur, space.max_rate_mg_per_h);
        s.loadings = WithinRate(loadings, dur, space.max_rate_mg_per_h);
        const size_t allowed = Pairs(s).size();
        summary->excluded_by_rate += all - allowed;
        if (allowed == 0) continue;
        auto ds = RegimenDataset(model, data, subject, {amounts.front(), tau, dur, 0.0}, space,
                                 &s.w0, &s.w1);
        if (!ds.ok()) return ds.status();
        std::vector<double> breaks = {s.w1};
        for (double d = s.w0; d < s.w1 - 1e-9; d += tau) {
          breaks.push_back(d);
          breaks.push_back(d + dur);
        }
        for (const Target& t : targets) {
          const double at = s.w1 - tau + dur + t.peak_offset_h;
          if (t.kind == TargetKind::kPeak && t.peak_offset_h >= 0 && at < s.w1) {
            breaks.push_back(at);
          }
        }
        s.grid = WindowGrid(breaks, kGridStepH);
        out.push_back(std::move(s));
      }
    }
  }
  return out;
}

// The schedules whose best grid candidate is refined: the refine_top best schedules (ranked by
// their best grid candidate), one per dosing interval first. Schedules that differ only in the
// infusion duration or the loading dose usually share their best amount's neighbourhood (AUC24
// does not depend on the duration), so refining the runner-up interval is worth more than the
// same interval again; the remaining places go to the next best schedules of any interval.
std::vector<const Ranked*> RefineChoice(const std::vector<Ranked>& sorted, int refine_top) {
  std::vector<const Ranked*> firsts;  // best grid candidate of each schedule, best first
  auto same = [](const Regimen& x, const Regimen& y) {
    return x.interval_h == y.interval_h && x.duration_h == y.duration_h &&
           (x.loading > 0) == (y.loading > 0);
  };
  for (const Ranked& r : sorted) {
    if (std::none_of(firsts.begin(), firsts.end(),
                     [&](const Ranked* f) { return same(f->result.regimen, r.result.regimen); })) {
      firsts.push_back(&r);
    }
  }
  std::vector<const Ranked*> chosen;
  for (int pass = 0; pass < 2; ++pass) {
    for (const Ranked* f : firsts) {
      if (static_cast<int>(chosen.size()) >= refine_top) return chosen;
      if (std::find(chosen.begin(), chosen.end(), f) != chosen.end()) continue;
      const bool interval_taken = std::any_of(chosen.begin(), chosen.end(), [&](const Ranked* c) {
        return c->result.regimen.interval_h == f->result.regimen.interval_h;
      });
      if (pass == 0 && interval_taken) continue;
      chosen.push_back(f);
    }
  }
  return chosen;
}

// Refines the maintenance amount of the best grid candidate of each schedule RefineChoice picks
// within one grid step either side (the range, the rate limit and a loading dose, which is at
// least the maintenance amount, bound it). A refined amount joins the ranking when it ranks
// above its grid candidate, which stays in the ranking too.
Status RefineAmounts(Search& search, std::vector<Schedule>& schedules, const DoseSearchSpace& space,
                     const DoseOptions& options, std::vector<Ranked>* ranked,
                     DoseSummary* summary) {
  std::sort(ranked->begin(), ranked->end(), Better);
  const double step = (space.amount_max - space.amount_min) / space.amount_steps;
  std::vector<Ranked> refined;
  for (const Ranked* chosen : RefineChoice(*ranked, options.refine_top)) {
    const Ranked& grid = *chosen;
    const Regimen& g = grid.result.regimen;
    Schedule* s = nullptr;
    for (Schedule& c : schedules) {
      if (c.interval_h == g.interval_h && c.duration_h == g.duration_h &&
          c.loading == (g.loading > 0)) {
        s = &c;
      }
    }
    if (s == nullptr) continue;
    const double lo = std::max(space.amount_min, g.amount - step);
    double hi =
        std::min({space.amount_max, g.amount + step, space.max_rate_mg_per_h * g.duration_h});
    if (g.loading > 0) hi = std::min(hi, g.loading);
    if (!(hi > lo)) continue;
    Ranked best;
    MEDTWIN_RETURN_IF_ERROR(
        search.Refine(s, lo, hi, g.loading, options.refine_evaluations, &best, summary));
    if (Better(best, grid)) {
      best.result.refined = true;
      refined.push_back(std::move(best));
      ++summary->refined;
    }
  }
  ranked->insert(ranked->end(), refined.begin(), refined.end());
  return Status::Ok();
}

std::string Pct(double f) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f %%", 100.0 * f);
  return b;
}

}  // namespace
}  // namespace dose_internal

Result<Dataset> RegimenDataset(const Model& model, const Dataset& data, size_t subject_index,
                               const Regimen& regimen, const DoseSearchSpace& space,
                               double* window_start_h, double* window_end_h) {
  if (subject_index >= data.subjects.size()) {
    return Status::Invalid("subject index " + std::to_string(subject_index) + " out of range");
  }
  const Subject& subject = data.subjects[subject_index];
  if (subject.records.empty()) return Status::Invalid("subject " + subject.id + ": no records");
  const Record& last = subject.records.back();
  const double start = space.start_h, tau = regimen.interval_h;
  const int per_window = static_cast<int>(std::ceil(24.0 / tau - 1e-9));
  const int state = model.spec().default_dose_state;
  const size_t nmod = data.modifier_columns.size();
  Dataset out;
  out.modifier_columns = data.modifier_columns;
  out.covariate_present = data.covariate_present;
  Subject s;
  s.id = subject.id;
  if (space.day == 0) {
    Record ss =
        dose_internal::NewDose(last, state, start, regimen.amount, regimen.duration_h, nmod);
    ss.ss = 1;
    ss.ii_h = tau;
    ss.addl = per_window - 1;
    s.records.push_back(ss);
    *window_start_h = start;
  } else {
    // Past doses before the start; an ADDL series keeps only its doses before the start.
    for (const Record& r : subject.records) {
      if (r.time_h >= start || r.evid == Evid::kObservation) continue;
      Record c = r;
      if (c.IsDose() && c.addl > 0 && c.ii_h > 0) {
        const int before = static_cast<int>(std::ceil((start - c.time_h) / c.ii_h - 1e-9)) - 1;
        c.addl = std::min(c.addl, std::max(0, before));
      }
      s.records.push_back(std::move(c));
    }
    double first = start;
    if (regimen.loading > 0) {
      s.records.push_back(
          dose_internal::NewDose(last, state, start, regimen.loading, regimen.duration_h, nmod));
      first = start + tau;
    }
    const double from = start + 24.0 * (space.day - 1);
    const int skip = std::max(0, static_cast<int>(std::ceil((from - first) / tau - 1e-9)));
    *window_start_h = first + skip * tau;
    Record m = dose_internal::NewDose(last, state, first, regimen.amount, regimen.duration_h, nmod);
    m.ii_h = tau;
    m.addl = skip + per_window - 1;
    s.records.push_back(m);
  }
  *window_end_h = *window_start_h + per_window * tau;
  out.subjects.push_back(std::move(s));
  return out;
}

Result<DoseSummary> OptimizeDose(const Model& model, const Dataset& data, size_t subject_index,
                                 const IndividualPosterior& posterior,
                                 const std::vector<Target>& targets, const DoseSearchSpace& space,
                                 const DoseOptions& options) {
  using namespace dose_internal;  // NOLINT: this file's own internals
  const auto t0 = std::chrono::steady_clock::now();
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  MEDTWIN_RETURN_IF_ERROR(space.Validate());
  if (targets.empty()) return Status::Invalid("no target given");
  for (const Target& t : targets) {
    MEDTWIN_RETURN_IF_ERROR(t.Validate());
    if (t.observable >= model.num_observables()) {
      return Status::Invalid("target " + t.ToString() + ": the model has no observable " +
                             std::to_string(t.observable));
    }
  }
  if (subject_index >= data.subjects.size()) {
    return Status::Invalid("subject index " + std::to_string(subject_index) + " out of range");
  }
  const std::string who = "subject " + data.subjects[subject_index].id;
  auto draws = PosteriorDraws(posterior, options.draws, options.seed);
  if (!draws.ok()) return draws.status().WithContext(who);
  std::vector<double> etas = std::move(draws).value();
  etas.insert(etas.end(), posterior.mode.begin(), posterior.mode.end());
  DoseSummary summary;
  summary.superposition = true;
  auto schedules = Schedules(model, data, subject_index, targets, space, &summary);
  if (!schedules.ok()) return schedules.status().WithContext(who);
  Search search(model, data, subject_index, posterior, targets, space, options, std::move(etas));
  std::vector<Ranked> ranked;
  std::vector<Schedule*> nonlinear;
  for (Schedule& s : *schedules) {
    MEDTWIN_RETURN_IF_ERROR(search.Prepare(&s, &summary).WithContext(who));
    summary.superposition = summary.superposition && s.linear;
    if (!s.linear) {
      nonlinear.push_back(&s);
      continue;
    }
    for (const auto& [a, l] : Pairs(s)) {
      Ranked r;
      MEDTWIN_RETURN_IF_ERROR(search.Evaluate(s, a, l, &r, &summary).WithContext(who));
      ranked.push_back(std::move(r));
      ++summary.candidates;
    }
  }
  const bool refine = space.amounts.empty() && options.refine_top > 0;
  MEDTWIN_RETURN_IF_ERROR(
      BoundedSearch(search, nonlinear, options, refine, &ranked, &summary).WithContext(who));
  if (refine) {
    MEDTWIN_RETURN_IF_ERROR(
        RefineAmounts(search, *schedules, space, options, &ranked, &summary).WithContext(who));
  }
  std::sort(ranked.begin(), ranked.end(), Better);
  if (ranked.empty()) return Status::Invalid(who + ": no candidate regimen to evaluate");
  const CandidateResult& best = ranked.front().result;
  if (best.pta < options.min_pta || ranked.front().count == 0) {
    std::string per;
    for (size_t j = 0; j < targets.size(); ++j) {
      per += (j ? ", " : "") + targets[j].ToString() + " " + Pct(best.target_pta[j]);
    }
    if (best.no_steady_state > 0) {
      per += "; no steady state in " + std::to_string(best.no_steady_state) + " draws";
    }
    return Status::NotFound(who + ": no allowed regimen reaches the targets in at least " +
                            Pct(options.min_pta) + " of " + std::to_string(options.draws) +
                            " posterior draws; the best, " + best.regimen.ToString() +
                            ", reaches them jointly in " + Pct(best.pta) + " (" + per + ")");
  }
  for (size_t i = 0; i < ranked.size() && static_cast<int>(i) < options.top; ++i) {
    summary.best.push_back(ranked[i].result);
  }
  double w0 = 0, w1 = 0;
  auto ds = RegimenDataset(model, data, subject_index, best.regimen, space, &w0, &w1);
  if (!ds.ok()) return ds.status();
  summary.window_start_h = w0;
  summary.window_end_h = w1;
  summary.wall_time_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

}  // namespace medtwin
