// `medtwin dose --fit fit.json --data FILE.csv --target 'auc24=400..600'`: per ID, the regimens
// with the highest probability of target attainment over the fitted posterior.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "fit_file.h"
#include "svg_plot.h"

namespace medtwin::cli {
namespace {

struct DoseArgs {
  std::string fit, data, intervals = "8,12,24", amounts = "250:250:4000", durations = "1",
                         loading_amounts, plot, out;
  std::vector<std::string> targets;
  bool loading = false;
  double start = -1, min_pta = 0.1, max_rate = kInf;
  int day = 0, draws = 500, top = 5, refine = 3, threads = 1;
  bool exhaustive = false;
  uint64_t seed = 1;
  SolverFlags solver;
};

// "250:250:4000" (a grid), "500..4000" (a continuous range) or "500,750,1000" (a set).
Status ParseAmounts(const std::string& text, const std::string& flag, DoseSearchSpace* space,
                    std::vector<double>* out) {
  const size_t dots = text.find("..");
  if (dots != std::string::npos) {
    auto lo = ParseNumberList(text.substr(0, dots), flag + " MIN");
    if (!lo.ok()) return lo.status();
    auto hi = ParseNumberList(text.substr(dots + 2), flag + " MAX");
    if (!hi.ok()) return hi.status();
    if (lo->size() != 1 || hi->size() != 1 || !((*lo)[0] > 0 && (*hi)[0] > (*lo)[0])) {
      return Status::Invalid(flag + " '" + text + "': a range needs 0 < MIN < MAX");
    }
    if (out != &space->amounts) {
      return Status::Invalid(flag + " '" + text + "': give a set or START:STEP:END");
    }
    space->amount_min = (*lo)[0];
    space->amount_max = (*hi)[0];
    return Status::Ok();
  }
  std::vector<double> parts;
  if (text.find(':') != std::string::npos) {
    std::string spec = text;
    for (char& c : spec) c = c == ':' ? ',' : c;
    auto v = ParseNumberList(spec, flag);
    if (!v.ok()) return v.status();
    if (v->size() != 3 || !((*v)[0] > 0 && (*v)[1] > 0 && (*v)[2] >= (*v)[0])) {
      return Status::Invalid(flag + " '" + text +
                             "': expected START:STEP:END with START > 0, STEP > 0, END >= START");
    }
    if (((*v)[2] - (*v)[0]) / (*v)[1] > 100000) {
      return Status::Invalid(flag + " '" + text + "': more than 100,000 amounts");
    }
    for (double a = (*v)[0]; a <= (*v)[2] + 1e-9 * (*v)[2]; a += (*v)[1]) out->push_back(a);
    return Status::Ok();
  }
  auto v = ParseNumberList(text, flag);
  if (!v.ok()) return v.status();
  *out = *v;
  return Status::Ok();
}

Result<DoseSearchSpace> ToSpace(const DoseArgs& a, const Dataset& data) {
  DoseSearchSpace s;
  MEDTWIN_RETURN_IF_ERROR(ParseAmounts(a.amounts, "--amounts", &s, &s.amounts));
  if (!a.loading_amounts.empty()) {
    MEDTWIN_RETURN_IF_ERROR(
        ParseAmounts(a.loading_amounts, "--loading-amounts", &s, &s.loading_amounts));
  }
  auto iv = ParseNumberList(a.intervals, "--interval");
  if (!iv.ok()) return iv.status();
  s.intervals_h = *iv;
  auto du = ParseNumberList(a.durations, "--durations");
  if (!du.ok()) return du.status();
  s.durations_h = *du;
  s.loading = a.loading;
  s.day = a.day;
  s.max_rate_mg_per_h = a.max_rate;
  s.start_h = a.start;
  if (a.start < 0) {  // default: after the last record of any subject
    s.start_h = 0;
    for (const Subject& sub : data.subjects) {
      for (const Record& r : sub.records) s.start_h = std::max(s.start_h, r.time_h);
    }
  }
  if (Status st = s.Validate(); !st.ok()) {
    // The library names the field; the user knows the flag.
    static const std::pair<const char*, const char*> kFlags[] = {
        {"amounts", "--amounts"},
        {"loading amounts", "--loading-amounts"},
        {"intervals", "--interval"},
        {"infusion duration", "--durations"},
        {"durations", "--durations"},
        {"start", "--start"},
        {"day", "--day"},
        {"loading", "--loading"},
        {"max_rate", "--max-rate"}};
    for (const auto& [field, flag] : kFlags) {
      if (st.message().rfind(field, 0) == 0) return Status::Invalid(flag + (": " + st.message()));
    }
    return st;
  }
  return s;
}

void Print(std::ostream& os, const std::string& id, const std::vector<Target>& targets,
           const DoseSearchSpace& space, const DoseSummary& r, int draws) {
  os << "ID " << id << ": " << r.candidates << " regimens, " << draws << " posterior draws, "
     << (space.day == 0 ? "at steady state" : "on day " + std::to_string(space.day)) << ", window "
     << Fmt("%g", r.window_start_h) << "-" << Fmt("%g", r.window_end_h) << " h\n";
  os << "  recommended: " << r.best.front().regimen.ToString() << "\n";
  if (r.excluded_by_rate > 0) {
    os << "  " << r.excluded_by_rate << " regimens not evaluated: faster than --max-rate "
       << Fmt("%g", space.max_rate_mg_per_h) << " mg/h\n";
  }
  if (r.no_steady_state > 0) {
    os << "  no steady state in " << r.no_steady_state
       << " simulations (regimen x draw): the level grows without bound there, counted as "
          "missing every target\n";
  }
  if (r.refine_evaluations > 0) {
    os << "  amount refinement: " << r.refine_evaluations << " amounts evaluated, " << r.refined
       << " schedules improved on the grid (marked *)\n";
  }
  os << "  rank  regimen                                 mg/day    PTA";
  for (const Target& t : targets) os << "  | " << t.ToString() << ": PTA, point, median";
  os << "\n";
  for (size_t i = 0; i < r.best.size(); ++i) {
    const CandidateResult& c = r.best[i];
    char line[160];
    const std::string regimen = c.regimen.ToString() + (c.refined ? " *" : "");
    std::snprintf(line, sizeof line, "  %-4zu  %-38s %7.0f %6.1f%%", i + 1, regimen.c_str(),
                  c.regimen.DailyDose(), 100 * c.pta);
    os << line;
    for (size_t j = 0; j < targets.size(); ++j) {
      os << "  | " << Fmt("%.1f%%", 100 * c.target_pta[j]) << ", " << Fmt("%.4g", c.point[j])
         << ", " << Fmt("%.4g", c.median[j]);
    }
    if (c.no_steady_state > 0) os << "  | no steady state in " << c.no_steady_state << " draws";
    os << "\n";
  }
}

// The chart of the recommended regimen: the subject's levels, the new doses, the 5-95 % band,
// and the range of the first level target (trough or peak) in the observable's unit.
Result<PlotPanel> Chart(const Model& m, const Dataset& data, size_t s,
                        const IndividualPosterior& post, const std::vector<Target>& targets,
                        const DoseSearchSpace& space, const DoseSummary& r, const DoseArgs& a) {
  double w0 = 0, w1 = 0;
  auto ds = RegimenDataset(m, data, s, r.best.front().regimen, space, &w0, &w1);
  if (!ds.ok()) return ds.status();
  Subject& sub = ds->subjects[0];
  if (space.day > 0) {
    for (const Record& rec : data.subjects[s].records) {
      if (rec.evid == Evid::kObservation && rec.time_h < space.start_h) sub.records.push_back(rec);
    }
    std::stable_sort(sub.records.begin(), sub.records.end(),
                     [](const Record& x, const Record& y) { return x.time_h < y.time_h; });
  }
  Record end;
  end.time_h = w1;
  end.evid = Evid::kOther;
  end.mdv = true;
  end.covariates = sub.records.back().covariates;
  end.modifiers.assign(ds->modifier_columns.size(), std::nan(""));
  sub.records.push_back(end);
  ForecastOptions o;
  o.draws = a.draws;
  o.seed = a.seed;
  o.interval = IntervalKind::kParameter;
  auto p = ForecastPanel(m, *ds, 0, post, o);
  if (!p.ok()) return p.status();
  p->band_label = "90 % interval (parameters), " + r.best.front().regimen.ToString();
  for (const Target& t : targets) {
    if (t.kind == TargetKind::kTrough || t.kind == TargetKind::kPeak) {
      p->target =
          std::make_pair(std::isinf(t.low) ? 0.0 : t.low, std::isinf(t.high) ? t.low * 2 : t.high);
      break;
    }
  }
  for (size_t j = 0; j < targets.size(); ++j) {
    p->title +=
        "; " + targets[j].ToString() + " (predicted " + Fmt("%.4g", r.best.front().point[j]) + ")";
  }
  return p;
}

int Run(const DoseArgs& a) {
  auto fit = ReadFitFile(a.fit);
  if (!fit.ok()) return Fail(fit.status());
  const Model& m = *fit->model;
  if (a.targets.empty()) return Fail(Status::Invalid("--target: give at least one"));
  auto parsed_targets = ParseTargets(a.targets);
  if (!parsed_targets.ok()) return Fail(parsed_targets.status());
  const std::vector<Target>& targets = *parsed_targets;
  DoseOptions o;
  o.draws = a.draws;
  o.seed = a.seed;
  o.min_pta = a.min_pta;
  o.top = a.top;
  o.refine_top = a.refine;
  o.exhaustive = a.exhaustive;
  if (a.threads < 1) {
    return Fail(
        Status::Invalid("--threads: threads must be >= 1 (got " + std::to_string(a.threads) + ")"));
  }
  o.threads = a.threads;
  auto sim = a.solver.ToOptions();
  if (!sim.ok()) return Fail(sim.status());
  o.sim = *sim;
  if (Status st = o.Validate(); !st.ok()) {
    return Fail(st.WithContext("--draws, --min-pta, --top or --refine"));
  }
  auto data = ReadDatasetFile(a.data, m);
  if (!data.ok()) return Fail(data.status());
  auto space = ToSpace(a, *data);
  if (!space.ok()) return Fail(space.status());
  std::vector<PlotPanel> panels;
  std::vector<std::pair<std::string, DoseSummary>> results;
  for (size_t s = 0; s < data->subjects.size(); ++s) {
    const std::string& id = data->subjects[s].id;
    auto it = fit->posteriors.find(id);
    if (it == fit->posteriors.end()) {
      return Fail(Status::NotFound("ID " + id + " of --data has no fit in " + a.fit));
    }
    auto r = OptimizeDose(m, *data, s, it->second, targets, *space, o);
    if (!r.ok()) return Fail(r.status());
    if (!a.plot.empty()) {
      auto p = Chart(m, *data, s, it->second, targets, *space, *r, a);
      if (!p.ok()) return Fail(p.status().WithContext("--plot"));
      panels.push_back(std::move(p).value());
    }
    results.emplace_back(id, std::move(r).value());
  }
  if (!a.plot.empty()) {
    Status st = WriteOutput(a.plot, [&](std::ostream& os) { WriteSvg(os, panels); });
    if (!st.ok()) return Fail(st.WithContext("--plot"));
  }
  return Fail(WriteOutput(a.out, [&](std::ostream& os) {
    for (const auto& [id, r] : results) Print(os, id, targets, *space, r, a.draws);
  }));
}

}  // namespace

void SetupDose(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "dose", "Regimens with the highest probability of target attainment for each fitted ID");
  auto a = std::make_shared<DoseArgs>();
  cmd->add_option("--fit", a->fit, "fit.json written by `medtwin fit`")->required();
  cmd->add_option("--data", a->data,
                  "NONMEM-style CSV: each ID's past doses and covariates (doses at or after "
                  "--start are replaced by the new regimen)")
      ->required();
  cmd->add_option("--target", a->targets,
                  "auc24=400..600, trough<=20, trough=10..15, peak(1)=20..40, "
                  "time_above(10)>=0.6; @VALUE marks a preferred value; repeatable");
  cmd->add_option("--interval", a->intervals, "allowed dosing intervals (h)")
      ->capture_default_str();
  cmd->add_option("--amounts", a->amounts,
                  "maintenance amounts (mg): START:STEP:END, a set 500,1000, or a continuous "
                  "range MIN..MAX (a 201-point grid, then the best amounts refined, see --refine)")
      ->capture_default_str();
  cmd->add_option("--durations", a->durations, "allowed infusion durations (h)")
      ->capture_default_str();
  cmd->add_option("--max-rate", a->max_rate,
                  "highest infusion rate (mg/h, > 0): regimens whose maintenance or loading dose "
                  "would run faster over its duration are not evaluated (durations are not "
                  "lengthened: allow longer --durations). Default: no limit");
  cmd->add_option("--refine", a->refine,
                  "with a range MIN..MAX: refine the amount of the best grid regimen of this many "
                  "schedules (interval, duration, loading) by a bounded 1-D search; 0: grid only")
      ->capture_default_str();
  cmd->add_flag("--loading", a->loading, "also search a loading dose (needs --day)");
  cmd->add_option("--loading-amounts", a->loading_amounts,
                  "loading amounts (default: the maintenance amounts)");
  cmd->add_option("--start", a->start,
                  "time of the first new dose (default: the last record's time)");
  cmd->add_option("--day", a->day, "evaluate on day N after --start (0: at steady state)")
      ->capture_default_str();
  cmd->add_option("--draws", a->draws, "posterior draws")->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed")->capture_default_str();
  cmd->add_option("--min-pta", a->min_pta,
                  "fail when no regimen reaches the targets in this fraction of draws")
      ->capture_default_str();
  cmd->add_option("--top", a->top, "candidates listed per ID")->capture_default_str();
  cmd->add_option("--threads", a->threads,
                  "threads simulating the posterior draws (>= 1); the answer does not depend on it")
      ->capture_default_str();
  cmd->add_flag("--exhaustive", a->exhaustive,
                "nonlinear models: simulate every regimen in every draw at the solver tolerance "
                "(no bounded search, no screen; same answer, slower)");
  cmd->add_option("--plot", a->plot, "write an SVG chart of the recommended regimen here");
  cmd->add_option("--out", a->out, "write the table here (default: stdout)");
  a->solver.Add(cmd);
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace medtwin::cli
