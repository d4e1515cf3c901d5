// `medtwin whatif --fit fit.json --regimen NAME=FILE.csv ... --window 48..72`: per fitted ID,
// the exposure of each chosen regimen over the same posterior draws, side by side.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli_common.h"
#include "fit_file.h"
#include "svg_plot.h"

namespace medtwin::cli {
namespace {

struct WhatIfArgs {
  std::string fit, window, format = "table", plot, out;
  std::vector<std::string> regimens, targets, metrics;
  int draws = 500;
  uint64_t seed = 1;
  SolverFlags solver;
};

// `text` left-aligned (right-aligned with right = true) in `width` columns.
std::string Pad(const std::string& text, size_t width, bool right = false) {
  if (text.size() >= width) return text;
  const std::string fill(width - text.size(), ' ');
  return right ? fill + text : text + fill;
}

struct NamedData {
  std::string name, path;
  Dataset data;
};

// "NAME=FILE" or "FILE" (named by its stem).
Result<std::vector<NamedData>> ReadRegimens(const std::vector<std::string>& specs, const Model& m) {
  if (specs.empty()) return Status::Invalid("--regimen: give at least one, NAME=FILE.csv");
  if (specs.size() > 50) return Status::Invalid("--regimen: at most 50");
  std::vector<NamedData> out;
  for (const std::string& spec : specs) {
    NamedData r;
    const size_t eq = spec.find('=');
    r.path = eq == std::string::npos ? spec : spec.substr(eq + 1);
    r.name =
        eq == std::string::npos ? std::filesystem::path(spec).stem().string() : spec.substr(0, eq);
    if (r.name.empty() || r.path.empty()) {
      return Status::Invalid("--regimen '" + spec + "': expected NAME=FILE.csv or FILE.csv");
    }
    auto data = ReadDatasetFile(r.path, m);
    if (!data.ok()) return data.status().WithContext("--regimen " + r.name);
    r.data = std::move(data).value();
    out.push_back(std::move(r));
  }
  return out;
}

// "START..END" in hours.
Status ParseWindow(const std::string& text, WhatIfOptions* o) {
  const size_t dots = text.find("..");
  const std::string expected = "--window '" + text + "': expected START..END in hours, e.g. 48..72";
  if (dots == std::string::npos) return Status::Invalid(expected);
  auto lo = ParseNumberList(text.substr(0, dots), "--window START");
  auto hi = ParseNumberList(text.substr(dots + 2), "--window END");
  if (!lo.ok() || !hi.ok() || lo->size() != 1 || hi->size() != 1) {
    return Status::Invalid(expected);
  }
  o->window_start_h = (*lo)[0];
  o->window_end_h = (*hi)[0];
  return Status::Ok();
}

void PrintTable(std::ostream& os, const std::string& id, const std::vector<Target>& targets,
                const std::vector<RegimenExposure>& r, const WhatIfOptions& o,
                const std::string& unit) {
  bool any_target = false;
  for (const Target& t : targets) any_target = any_target || t.HasRange();
  const std::string band =
      Fmt("%g", o.percentiles.front()) + "-" + Fmt("%g", o.percentiles.back()) + " %";
  os << "ID " << id << ": " << r.size() << " regimens, " << o.draws << " posterior draws, window "
     << Fmt("%g", o.window_start_h) << "-" << Fmt("%g", o.window_end_h) << " h\n";
  os << "  regimen               " << Pad("dose in W (" + unit + ")", 14, true);
  if (any_target) os << "      PTA";
  for (const Target& t : targets) {
    os << "  | " << t.ToString() << ": " << (t.HasRange() ? "PTA, " : "") << "median [" << band
       << "]";
  }
  os << '\n';
  for (const RegimenExposure& e : r) {
    os << "  " << Pad(e.name, 20) << "  " << Fmt("%14.6g", e.dose_in_window);
    if (any_target) os << "  " << Fmt("%6.1f%%", 100 * e.pta);
    const size_t nq = o.percentiles.size();
    for (size_t j = 0; j < targets.size(); ++j) {
      os << "  | ";
      if (targets[j].HasRange()) os << Fmt("%.1f%%", 100 * e.target_pta[j]) << ", ";
      os << Fmt("%.4g", e.quantiles[j * nq + 1]) << " [" << Fmt("%.4g", e.quantiles[j * nq]) << ", "
         << Fmt("%.4g", e.quantiles[j * nq + 2]) << "]";
    }
    os << '\n';
  }
}

void PrintCsv(std::ostream& os, const std::string& id, const std::vector<Target>& targets,
              const std::vector<RegimenExposure>& r, const WhatIfOptions& o) {
  bool any_target = false;
  for (const Target& t : targets) any_target = any_target || t.HasRange();
  for (const RegimenExposure& e : r) {
    for (size_t j = 0; j < targets.size(); ++j) {
      os << id << ',' << e.name << ',' << Fmt("%.10g", e.dose_in_window) << ','
         << (any_target ? Fmt("%.10g", e.pta) : ".") << ',' << targets[j].ToString() << ','
         << (targets[j].HasRange() ? Fmt("%.10g", e.target_pta[j]) : ".");
      for (size_t q = 0; q < o.percentiles.size(); ++q) {
        os << ',' << Fmt("%.10g", e.quantiles[j * o.percentiles.size() + q]);
      }
      os << '\n';
    }
  }
}

int Run(const WhatIfArgs& a) {
  auto fit = ReadFitFile(a.fit);
  if (!fit.ok()) return Fail(fit.status());
  const Model& m = *fit->model;
  if (a.format != "table" && a.format != "csv") {
    return Fail(Status::Invalid("--format must be table or csv, got '" + a.format + "'"));
  }
  WhatIfOptions o;
  if (a.window.empty()) return Fail(Status::Invalid("--window: required, START..END in hours"));
  if (Status st = ParseWindow(a.window, &o); !st.ok()) return Fail(st);
  o.draws = a.draws;
  o.seed = a.seed;
  auto sim = a.solver.ToOptions();
  if (!sim.ok()) return Fail(sim.status());
  o.sim = *sim;
  if (Status st = o.Validate(); !st.ok()) return Fail(st.WithContext("--window or --draws"));
  auto parsed_targets = ParseTargets(a.targets);
  if (!parsed_targets.ok()) return Fail(parsed_targets.status());
  std::vector<Target> targets = std::move(parsed_targets).value();
  std::vector<std::string> metrics = a.metrics;
  if (metrics.empty() && targets.empty()) metrics = {"auc24", "trough", "peak"};
  for (const std::string& t : metrics) {
    auto parsed = MetricFromString(t);
    if (!parsed.ok()) return Fail(parsed.status().WithContext("--metric"));
    targets.push_back(*parsed);
  }
  auto regimens = ReadRegimens(a.regimens, m);
  if (!regimens.ok()) return Fail(regimens.status());
  std::vector<WhatIfRegimen> named;
  for (const NamedData& r : *regimens) named.push_back({r.name, &r.data});
  const ModelSpec& spec = m.spec();
  const std::string unit = spec.states[spec.default_dose_state].unit;
  std::vector<PlotPanel> panels;
  std::ostringstream text;
  if (a.format == "csv") {
    text << "ID,REGIMEN,DOSE_IN_WINDOW,PTA,METRIC,METRIC_PTA";
    for (double q : o.percentiles) text << ',' << PercentileLabel(q);
    text << '\n';
  }
  for (const Subject& subject : regimens->front().data.subjects) {
    auto it = fit->posteriors.find(subject.id);
    if (it == fit->posteriors.end()) {
      return Fail(Status::NotFound("ID " + subject.id + " of --regimen " + regimens->front().name +
                                   " has no fit in " + a.fit));
    }
    auto r = CompareRegimens(m, subject.id, named, it->second, targets, o);
    if (!r.ok()) return Fail(r.status());
    if (a.format == "csv") {
      PrintCsv(text, subject.id, targets, *r, o);
    } else {
      PrintTable(text, subject.id, targets, *r, o, unit);
    }
    if (a.plot.empty()) continue;
    for (const NamedData& reg : *regimens) {
      size_t s = 0;
      while (reg.data.subjects[s].id != subject.id) ++s;  // CompareRegimens found it
      ForecastOptions fo;
      fo.draws = std::min(a.draws, 200);
      fo.seed = a.seed;
      fo.sim = o.sim;
      fo.interval = IntervalKind::kParameter;
      auto p = ForecastPanel(m, reg.data, s, it->second, fo);
      if (!p.ok()) return Fail(p.status().WithContext("--plot, regimen " + reg.name));
      p->title += " - " + reg.name + " (window " + Fmt("%g", o.window_start_h) + "-" +
                  Fmt("%g", o.window_end_h) + " h)";
      panels.push_back(std::move(p).value());
    }
  }
  if (!a.plot.empty()) {
    Status st = WriteOutput(a.plot, [&](std::ostream& os) { WriteSvg(os, panels); });
    if (!st.ok()) return Fail(st.WithContext("--plot"));
  }
  return Fail(WriteOutput(a.out, [&](std::ostream& os) { os << text.str(); }));
}

}  // namespace

void SetupWhatIf(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "whatif", "Compare chosen regimens for each fitted ID over the same posterior draws");
  auto a = std::make_shared<WhatIfArgs>();
  cmd->add_option("--fit", a->fit, "fit.json written by `medtwin fit`")->required();
  cmd->add_option("--regimen", a->regimens,
                  "NAME=FILE.csv (or FILE.csv, named by its stem): a whole regimen, past and "
                  "future doses, in the NONMEM-style format; repeatable")
      ->required();
  cmd->add_option("--window", a->window,
                  "START..END (h): the window every regimen is judged on, e.g. 48..72")
      ->required();
  cmd->add_option("--target", a->targets,
                  "auc24=400..600, trough<=20, peak(1)=20..40, time_above(10)>=0.6: the share "
                  "of draws meeting it (PTA); repeatable");
  cmd->add_option("--metric", a->metrics,
                  "auc24, trough, peak, peak(1), time_above(10): summarised without a range; "
                  "repeatable (default without --target: auc24, trough, peak)");
  cmd->add_option("--draws", a->draws, "posterior draws")->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed")->capture_default_str();
  cmd->add_option("--format", a->format, "table or csv")->capture_default_str();
  cmd->add_option("--plot", a->plot, "write an SVG chart (a panel per ID and regimen) here");
  cmd->add_option("--out", a->out, "write the table here (default: stdout)");
  a->solver.Add(cmd);
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace medtwin::cli
