// The dose search: candidate regimens as datasets, their exposure over the posterior draws, and
// the ranking by probability of target attainment.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include <nlopt.h>

#include "medtwin/decide.h"

namespace medtwin {
namespace {

std::string Pct(double f) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f %%", 100.0 * f);
  return b;
}

// Grid spacing inside a window (h): fine enough that Simpson's rule integrates the levels of
// the PK library to better than 1e-5 relative (distribution half-lives of an hour or more).
constexpr double kGridStepH = 0.25;

// Sorted, distinct breakpoints, each segment between two of them cut into an even number of
// equal steps of about `step_h`, so Simpson pairs never straddle a breakpoint (a kink of the
// level at an infusion's start or end).
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

// One dosing schedule (interval, duration, with or without a loading dose): its window, output
// grid and the reference profiles the candidates are combined from.
struct Schedule {
  double interval_h = 0, duration_h = 0;
  bool loading = false;
  double w0 = 0, w1 = 0;
  std::vector<double> grid;
  std::vector<double> amounts, loadings;  // candidate maintenance / loading amounts
};

// Candidates' amounts for a schedule: loading doses at least the maintenance amount.
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

struct Ranked {
  CandidateResult result;
  int count = 0;  // draws meeting every target
};

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

double Preferred(const Target& t) {
  if (!std::isnan(t.preferred)) return t.preferred;
  if (std::isfinite(t.low) && std::isfinite(t.high) && t.low > 0) return std::sqrt(t.low * t.high);
  return std::numeric_limits<double>::quiet_NaN();
}

// Evaluates every candidate of the schedules over the draws (the last row of `etas` is the
// posterior mode, not counted in the PTA).
class Search {
 public:
  Search(const Model& model, const Dataset& data, size_t subject, const IndividualPosterior& post,
         const std::vector<Target>& targets, const DoseSearchSpace& space,
         const DoseOptions& options, std::vector<double> etas)
      : model_(model),
        data_(data),
        subject_(subject),
        post_(post),
        targets_(targets),
        space_(space),
        etas_(std::move(etas)),
        draws_(options.draws),
        sim_(model, options.sim) {}

  // Every candidate of the schedule's grid, appended to `out`.
  Status Run(const Schedule& s, std::vector<Ranked>* out, DoseSummary* summary);
  // The best maintenance amount in [lo, hi] for loading `loading` (0: none) by NLopt DIRECT-L,
  // `evaluations` amounts; `best` is the best amount evaluated, by the ranking of Better.
  Status Refine(const Schedule& s, double lo, double hi, double loading, int evaluations,
                Ranked* best, DoseSummary* summary);

 private:
  friend double RefineObjective(unsigned n, const double* x, double* grad, void* data);
  // Levels (rows x observables) of `regimen` on the schedule's grid for draw k.
  Result<std::vector<double>> Levels(const Schedule& s, const Regimen& regimen, int k);
  Status Reference(const Schedule& s, DoseSummary* summary);
  Status ReferenceOf(const Schedule& s, int k, DoseSummary* summary);
  // The candidate (a, l) over every draw and the mode, scored into r.
  Status Evaluate(const Schedule& s, double a, double l, Ranked* r, DoseSummary* summary);
  void Combine(int k, double a, double l, std::vector<double>* y) const;
  void Score(const Schedule& s, const std::vector<std::vector<double>>& y, Ranked* r) const;

  const Model& model_;
  const Dataset& data_;
  size_t subject_;
  const IndividualPosterior& post_;
  const std::vector<Target>& targets_;
  const DoseSearchSpace& space_;
  std::vector<double> etas_;
  int draws_;
  Simulator sim_;
  bool linear_ = false;
  double a1_ = 0, a2_ = 0, l1_ = 0, l2_ = 0;
  // Per draw: the reference profile at (a1, l1) and the changes per unit amount.
  std::vector<std::vector<double>> base_, per_amount_, per_loading_;
  std::vector<std::vector<double>> y_;  // levels of the candidate being scored, per draw
};

Result<std::vector<double>> Search::Levels(const Schedule& s, const Regimen& regimen, int k) {
  double w0 = 0, w1 = 0;
  auto ds = RegimenDataset(model_, data_, subject_, regimen, space_, &w0, &w1);
  if (!ds.ok()) return ds.status();
  OutputRequest req;
  req.observation_records = false;
  req.times_h = s.grid;
  const size_t n = post_.mode.size();
  const std::span<const double> eta(etas_.data() + static_cast<size_t>(k) * n, n);
  auto out = sim_.Run(*ds, 0, req, IndividualInput{post_.theta, eta});
  if (!out.ok()) {
    return out.status().WithContext(regimen.ToString() + ", posterior draw " + std::to_string(k));
  }
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

// For linear models the levels are affine in the maintenance and loading amounts: two or three
// runs per draw give every candidate of the schedule. The claim is checked first, on the mode
// with a third amount; if it fails (or a run there fails) the search simulates every candidate
// and the other draws' references are not simulated at all.
Status Search::Reference(const Schedule& s, DoseSummary* summary) {
  const int rows = draws_ + 1;
  base_.assign(rows, {});
  per_amount_.assign(rows, {});
  per_loading_.assign(rows, {});
  a1_ = s.amounts.front();
  a2_ = s.amounts.size() > 1 ? s.amounts.back() : 2 * a1_;
  l1_ = s.loading ? s.loadings.front() : 0.0;
  l2_ = s.loading ? (s.loadings.size() > 1 ? s.loadings.back() : 2 * l1_) : 0.0;
  linear_ = false;
  // A failed run at a reference amount the grid may not even hold (2 a1) only means no
  // superposition; the candidates' own runs report real failures.
  if (!ReferenceOf(s, draws_, summary).ok()) return Status::Ok();
  const double am = 0.37 * a1_ + 0.63 * a2_, lm = s.loading ? 0.41 * l1_ + 0.59 * l2_ : 0.0;
  auto direct = Levels(s, {am, s.interval_h, s.duration_h, lm}, draws_);
  ++summary->simulations;
  if (!direct.ok()) return Status::Ok();
  std::vector<double> combined;
  Combine(draws_, am, lm, &combined);
  double scale = 0, diff = 0;
  for (size_t i = 0; i < combined.size(); ++i) {
    scale = std::max(scale, std::fabs((*direct)[i]));
    diff = std::max(diff, std::fabs((*direct)[i] - combined[i]));
  }
  if (diff > 1e-7 * scale + 1e-12) return Status::Ok();
  for (int k = 0; k < draws_; ++k) MEDTWIN_RETURN_IF_ERROR(ReferenceOf(s, k, summary));
  linear_ = true;
  return Status::Ok();
}

// Draw k's reference profile at (a1, l1) and its changes per unit maintenance / loading amount.
Status Search::ReferenceOf(const Schedule& s, int k, DoseSummary* summary) {
  auto y1 = Levels(s, {a1_, s.interval_h, s.duration_h, l1_}, k);
  if (!y1.ok()) return y1.status();
  auto y2 = Levels(s, {a2_, s.interval_h, s.duration_h, l1_}, k);
  summary->simulations += 2;
  if (!y2.ok()) return y2.status();
  per_amount_[k].resize(y1->size());
  for (size_t i = 0; i < y1->size(); ++i) per_amount_[k][i] = ((*y2)[i] - (*y1)[i]) / (a2_ - a1_);
  if (s.loading) {
    auto y3 = Levels(s, {a1_, s.interval_h, s.duration_h, l2_}, k);
    ++summary->simulations;
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

// y[k]: the levels (rows x observables) for draw k, the mode last.
void Search::Score(const Schedule& s, const std::vector<std::vector<double>>& y, Ranked* r) const {
  const int no = model_.num_observables();
  const size_t nt = targets_.size();
  const double last_end = s.w1 - s.interval_h + s.duration_h;
  std::vector<double> level(s.grid.size());
  std::vector<std::vector<double>> metric(nt, std::vector<double>(draws_));
  std::vector<int> met(nt, 0);
  r->count = 0;
  r->result.point.assign(nt, 0.0);
  r->result.preference = 0.0;
  for (int k = 0; k <= draws_; ++k) {
    bool all = true;
    for (size_t j = 0; j < nt; ++j) {
      const Target& t = targets_[j];
      for (size_t i = 0; i < level.size(); ++i) level[i] = y[k][i * no + t.observable];
      const double v = TargetMetric(t, s.grid, level, s.w0, s.w1, last_end);
      if (k == draws_) {
        r->result.point[j] = v;
        continue;
      }
      metric[j][k] = v;
      if (t.Met(v)) {
        ++met[j];
      } else {
        all = false;
      }
    }
    if (k < draws_ && all) ++r->count;
  }
  r->result.pta = static_cast<double>(r->count) / draws_;
  r->result.target_pta.resize(nt);
  r->result.median.resize(nt);
  for (size_t j = 0; j < nt; ++j) {
    r->result.target_pta[j] = static_cast<double>(met[j]) / draws_;
    auto mid = metric[j].begin() + draws_ / 2;
    std::nth_element(metric[j].begin(), mid, metric[j].end());
    r->result.median[j] = *mid;
    const double p = Preferred(targets_[j]);
    if (!std::isnan(p)) {
      const double v = r->result.point[j];
      r->result.preference += v > 0 ? std::pow(std::log(v) - std::log(p), 2) : 1e6;
    }
  }
}

Status Search::Evaluate(const Schedule& s, double a, double l, Ranked* r, DoseSummary* summary) {
  r->result.regimen = {a, s.interval_h, s.duration_h, l};
  y_.resize(draws_ + 1);
  for (int k = 0; k <= draws_; ++k) {
    if (linear_) {
      Combine(k, a, l, &y_[k]);
    } else {
      auto levels = Levels(s, r->result.regimen, k);
      ++summary->simulations;
      if (!levels.ok()) return levels.status();
      y_[k] = std::move(levels).value();
    }
  }
  Score(s, y_, r);
  return Status::Ok();
}

Status Search::Run(const Schedule& s, std::vector<Ranked>* out, DoseSummary* summary) {
  MEDTWIN_RETURN_IF_ERROR(Reference(s, summary));
  summary->superposition = summary->superposition && linear_;
  for (const auto& [a, l] : Pairs(s)) {
    Ranked r;
    MEDTWIN_RETURN_IF_ERROR(Evaluate(s, a, l, &r, summary));
    out->push_back(std::move(r));
    ++summary->candidates;
  }
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

Status Search::Refine(const Schedule& s, double lo, double hi, double loading, int evaluations,
                      Ranked* best, DoseSummary* summary) {
  MEDTWIN_RETURN_IF_ERROR(Reference(s, summary));
  RefineState st{this,         &s,      loading, summary, nlopt_create(NLOPT_GN_DIRECT_L, 1),
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

// Refines the maintenance amount of the best grid candidate of each of the refine_top best
// schedules within one grid step either side (the range, the rate limit and a loading dose,
// which is at least the maintenance amount, bound it). A refined amount joins the ranking when
// it ranks above its grid candidate, which stays in the ranking too.
Status RefineAmounts(Search& search, const std::vector<Schedule>& schedules,
                     const DoseSearchSpace& space, const DoseOptions& options,
                     std::vector<Ranked>* ranked, DoseSummary* summary) {
  std::sort(ranked->begin(), ranked->end(), Better);
  const double step = (space.amount_max - space.amount_min) / space.amount_steps;
  std::vector<const Schedule*> done;
  std::vector<Ranked> refined;
  for (const Ranked& grid : *ranked) {
    if (static_cast<int>(done.size()) >= options.refine_top) break;
    const Regimen& g = grid.result.regimen;
    const Schedule* s = nullptr;
    for (const Schedule& c : schedules) {
      if (c.interval_h == g.interval_h && c.duration_h == g.duration_h &&
          c.loading == (g.loading > 0)) {
        s = &c;
      }
    }
    if (s == nullptr || std::find(done.begin(), done.end(), s) != done.end()) continue;
    done.push_back(s);
    const double lo = std::max(space.amount_min, g.amount - step);
    double hi =
        std::min({space.amount_max, g.amount + step, space.max_rate_mg_per_h * g.duration_h});
    if (g.loading > 0) hi = std::min(hi, g.loading);
    if (!(hi > lo)) continue;
    Ranked best;
    MEDTWIN_RETURN_IF_ERROR(
        search.Refine(*s, lo, hi, g.loading, options.refine_evaluations, &best, summary));
    if (Better(best, grid)) {
      best.result.refined = true;
      refined.push_back(std::move(best));
      ++summary->refined;
    }
  }
  ranked->insert(ranked->end(), refined.begin(), refined.end());
  return Status::Ok();
}

}  // namespace

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
    Record ss = NewDose(last, state, start, regimen.amount, regimen.duration_h, nmod);
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
      s.records.push_back(NewDose(last, state, start, regimen.loading, regimen.duration_h, nmod));
      first = start + tau;
    }
    const double from = start + 24.0 * (space.day - 1);
    const int skip = std::max(0, static_cast<int>(std::ceil((from - first) / tau - 1e-9)));
    *window_start_h = first + skip * tau;
    Record m = NewDose(last, state, first, regimen.amount, regimen.duration_h, nmod);
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
  for (const Schedule& s : *schedules) {
    MEDTWIN_RETURN_IF_ERROR(search.Run(s, &ranked, &summary).WithContext(who));
  }
  if (space.amounts.empty()) {
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
