// What-if: the exposure of chosen regimens over one posterior (CompareRegimens).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>

#include "decide/dose_search.h"
#include "decide/posterior_runs.h"
#include "medtwin/decide.h"

namespace medtwin {
namespace {

// The level just before a bolus given at a segment's end is read this long before it (h): the
// simulator reports an output time equal to a dose time after the dose.
constexpr double kBeforeBolusH = 1e-6;

std::string Num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

struct DoseEvent {
  double start_h, end_h;  // end = start for a bolus; unknown (modelled) durations: start
  double amount;
  bool bolus;
};

// The subject's doses, ADDL expanded.
std::vector<DoseEvent> Doses(const Subject& subject) {
  std::vector<DoseEvent> out;
  for (const Record& r : subject.records) {
    if (!r.IsDose()) continue;
    for (int k = 0; k <= r.addl; ++k) {
      const double t = r.time_h + k * r.ii_h;
      const double end = r.rate > 0 ? t + r.amt / r.rate : t;
      out.push_back({t, end, r.amt, r.rate == 0});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const DoseEvent& a, const DoseEvent& b) { return a.start_h < b.start_h; });
  return out;
}

// The window cut into segments at every dose start and infusion end inside it (and at the
// times a peak(h) target reads), each with its own Simpson grid; a segment ending at a bolus
// ends kBeforeBolusH before it.
struct Window {
  std::vector<double> times;                      // every output time, increasing
  std::vector<std::pair<size_t, size_t>> pieces;  // [first, last] indices of each segment
  std::vector<size_t> peak_index;                 // per target: its peak(h) time's index
  size_t Index(double t) const {
    return static_cast<size_t>(std::lower_bound(times.begin(), times.end(), t - 1e-9) -
                               times.begin());
  }
};

Result<Window> MakeGrid(const std::vector<DoseEvent>& doses, const std::vector<Target>& targets,
                        const WhatIfOptions& o) {
  const double w0 = o.window_start_h, w1 = o.window_end_h;
  std::vector<double> breaks = {w0, w1};
  std::set<double> bolus;
  for (const DoseEvent& d : doses) {
    for (double t : {d.start_h, d.end_h}) {
      if (t > w0 && t < w1) breaks.push_back(t);
    }
    if (d.bolus && d.start_h > w0 && d.start_h <= w1) bolus.insert(d.start_h);
  }
  std::vector<double> peak_at(targets.size(), -1.0);
  for (size_t j = 0; j < targets.size(); ++j) {
    const Target& t = targets[j];
    if (t.kind != TargetKind::kPeak || t.peak_offset_h < 0) continue;
    const DoseEvent* last = nullptr;
    for (const DoseEvent& d : doses) {
      if (d.start_h < w1) last = &d;
    }
    const double at = last ? last->end_h + t.peak_offset_h : -1.0;
    if (!last || at < w0 || at > w1) {
      return Status::Invalid("target " + t.ToString() + ": " + Num(t.peak_offset_h) +
                             " h after the end of the last dose before " + Num(w1) +
                             " h is outside the window " + Num(w0) + "-" + Num(w1) + " h");
    }
    peak_at[j] = at;
    breaks.push_back(at);
  }
  std::sort(breaks.begin(), breaks.end());
  breaks.erase(std::unique(breaks.begin(), breaks.end(),
                           [](double a, double b) { return std::fabs(a - b) < 1e-9; }),
               breaks.end());
  Window g;
  for (size_t i = 0; i + 1 < breaks.size(); ++i) {
    const double a = breaks[i];
    const double b = bolus.count(breaks[i + 1]) ? breaks[i + 1] - kBeforeBolusH : breaks[i + 1];
    if (!(b > a + 1e-9)) continue;  // a break just before a bolus
    const std::vector<double> piece = dose_internal::WindowGrid({a, b}, dose_internal::kGridStepH);
    size_t first = g.times.size();
    if (!g.times.empty() && std::fabs(g.times.back() - a) < 1e-9) {
      --first;  // shares the previous segment's end (no bolus there)
      g.times.insert(g.times.end(), piece.begin() + 1, piece.end());
    } else {
      g.times.insert(g.times.end(), piece.begin(), piece.end());
    }
    g.pieces.emplace_back(first, g.times.size() - 1);
  }
  g.peak_index.assign(targets.size(), 0);
  for (size_t j = 0; j < targets.size(); ++j) {
    if (peak_at[j] >= 0) g.peak_index[j] = g.Index(peak_at[j]);
  }
  return g;
}

// The metric of `target` from the levels y on the grid's times.
double Metric(const Target& target, size_t j, const Window& g, const std::vector<double>& y,
              const WhatIfOptions& o) {
  const double width = o.window_end_h - o.window_start_h;
  switch (target.kind) {
    case TargetKind::kTrough:  // the lowest level: regimens of different intervals compare
      return *std::min_element(y.begin(), y.end());
    case TargetKind::kPeak:
      return target.peak_offset_h >= 0 ? y[g.peak_index[j]] : *std::max_element(y.begin(), y.end());
    case TargetKind::kAuc24:
    case TargetKind::kTimeAbove: {
      // Per segment: TargetMetric over the segment's own span, scaled back to W.
      double sum = 0;
      for (const auto& [first, last] : g.pieces) {
        const std::vector<double> t(g.times.begin() + first, g.times.begin() + last + 1);
        const std::vector<double> v(y.begin() + first, y.begin() + last + 1);
        const double span = t.back() - t.front();
        const double m = TargetMetric(target, t, v, t.front(), t.back(), t.back());
        sum += target.kind == TargetKind::kAuc24 ? m * span / 24.0 : m * span;
      }
      return target.kind == TargetKind::kAuc24 ? 24.0 * sum / width : sum / width;
    }
  }
  return 0.0;
}

Status CheckTarget(const Target& t, int num_observables) {
  if (!t.HasRange() && t.low < 0 && t.high > 0) {  // a summary only
    Target ranged = t;
    ranged.high = 1.0;  // Validate's other checks, with a finite bound
    ranged.low = 0.0;
    if (Status st = ranged.Validate(); !st.ok()) return st;
  } else if (Status st = t.Validate(); !st.ok()) {
    return st;
  }
  if (t.observable >= num_observables) {
    return Status::Invalid("target " + t.ToString() + ": the model has " +
                           std::to_string(num_observables) + " observables");
  }
  return Status::Ok();
}

}  // namespace

Status WhatIfOptions::Validate() const {
  MEDTWIN_RETURN_IF_ERROR(sim.Validate());
  if (!(window_start_h >= 0) || !(window_end_h > window_start_h) || std::isinf(window_end_h)) {
    return Status::Invalid("window: needs 0 <= start < end (h), got " + Num(window_start_h) + ".." +
                           Num(window_end_h));
  }
  if (draws <= 0) return Status::Invalid("draws must be > 0");
  if (percentiles.empty()) return Status::Invalid("percentiles: none given");
  for (size_t i = 0; i < percentiles.size(); ++i) {
    if (!(percentiles[i] >= 0 && percentiles[i] <= 100) ||
        (i > 0 && !(percentiles[i] > percentiles[i - 1]))) {
      return Status::Invalid("percentiles must lie in [0, 100] and increase (got " +
                             Num(percentiles[i]) + ")");
    }
  }
  return Status::Ok();
}

Result<std::vector<RegimenExposure>> CompareRegimens(const Model& model, const std::string& id,
                                                     const std::vector<WhatIfRegimen>& regimens,
                                                     const IndividualPosterior& posterior,
                                                     const std::vector<Target>& targets,
                                                     const WhatIfOptions& options) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  const ModelSpec& spec = model.spec();
  if (spec.time_unit != "h") {
    return Status::Unsupported("what-if metrics are read in hours; " + spec.name + " is timed in " +
                               spec.time_unit);
  }
  if (regimens.empty()) return Status::Invalid("regimens: none given");
  if (targets.empty()) return Status::Invalid("targets: none given");
  const int no = model.num_observables();
  for (const Target& t : targets) MEDTWIN_RETURN_IF_ERROR(CheckTarget(t, no));
  std::set<std::string> names;
  for (const WhatIfRegimen& r : regimens) {
    if (r.name.empty() || r.data == nullptr) {
      return Status::Invalid("regimens: each needs a name and a dataset");
    }
    if (!names.insert(r.name).second) {
      return Status::Invalid("regimens: the name '" + r.name + "' is given twice");
    }
  }
  const std::string who = "ID " + id;
  if (posterior.error.size() != static_cast<size_t>(no)) {
    return Status::Invalid(who + ": expected a residual error model per observable");
  }
  auto etas = PosteriorDraws(posterior, options.draws, options.seed);
  if (!etas.ok()) return etas.status().WithContext(who);
  const size_t nt = targets.size(), nq = options.percentiles.size();
  std::vector<RegimenExposure> out;
  for (const WhatIfRegimen& r : regimens) {
    const std::string where = who + ", regimen '" + r.name + "'";
    const auto& subjects = r.data->subjects;
    const auto it = std::find_if(subjects.begin(), subjects.end(),
                                 [&](const Subject& s) { return s.id == id; });
    if (it == subjects.end()) return Status::NotFound("regimen '" + r.name + "' has no " + who);
    const size_t s = static_cast<size_t>(it - subjects.begin());
    const std::vector<DoseEvent> doses = Doses(*it);
    auto grid = MakeGrid(doses, targets, options);
    if (!grid.ok()) return grid.status().WithContext(where);
    RegimenExposure e;
    e.name = r.name;
    for (const DoseEvent& d : doses) {
      if (d.start_h >= options.window_start_h && d.start_h < options.window_end_h) {
        e.dose_in_window += d.amount;
      }
    }
    OutputRequest request;
    request.observation_records = false;
    request.times_h = grid->times;
    std::vector<std::vector<double>> metric(nt, std::vector<double>(options.draws));
    std::vector<int> met(nt, 0);
    int all_met = 0;
    std::vector<double> level(grid->times.size());
    MEDTWIN_RETURN_IF_ERROR(decide_internal::ForEachDraw(
        model, *r.data, s, posterior, *etas, options.draws, options.sim, request, where,
        [&](int k, const SimOutput& run) {
          if (run.rows() != grid->times.size()) {
            return Status::Internal(where + ": " + std::to_string(run.rows()) +
                                    " rows for a grid of " + std::to_string(grid->times.size()));
          }
          bool every = true;
          for (size_t j = 0; j < nt; ++j) {
            const int ob = targets[j].observable;
            for (size_t i = 0; i < level.size(); ++i) level[i] = run.observables[i * no + ob];
            const double m = Metric(targets[j], j, *grid, level, options);
            if (!std::isfinite(m)) {
              return Status::Numerical(where + ", posterior draw " + std::to_string(k) + ": " +
                                       targets[j].ToString() + " is not finite");
            }
            metric[j][k] = m;
            const bool ok = targets[j].Met(m);
            met[j] += ok;
            every = every && ok;
          }
          all_met += every;
          return Status::Ok();
        }));
    const double m = options.draws;
    e.pta = all_met / m;
    for (size_t j = 0; j < nt; ++j) {
      e.target_pta.push_back(met[j] / m);
      std::sort(metric[j].begin(), metric[j].end());
      for (size_t q = 0; q < nq; ++q) {
        e.quantiles.push_back(decide_internal::Percentile(metric[j], options.percentiles[q]));
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace medtwin
