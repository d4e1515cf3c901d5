// `medtwin forecast --fit fit.json --data REGIMEN.csv`: per ID and output time, percentiles of
// each observable under the regimen (past and future doses), from the fitted posterior.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "fit_file.h"
#include "svg_plot.h"

namespace medtwin::cli {
namespace {

struct ForecastArgs {
  std::string fit, data, percentiles = "5,50,95", interval = "observation", times, plot, out,
                         format = "csv";
  int draws = 1000;
  uint64_t seed = 1;
  SolverFlags solver;
};

std::string Num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

// Doses of a subject as (time, amount), ADDL expanded.
std::vector<std::pair<double, double>> Doses(const Subject& s) {
  std::vector<std::pair<double, double>> out;
  for (const Record& r : s.records) {
    if (!r.IsDose()) continue;
    for (int k = 0; k <= r.addl; ++k) out.emplace_back(r.time_h + k * r.ii_h, r.amt);
  }
  return out;
}

}  // namespace

// Shared with `medtwin dose`: a panel per ID for the first observable, the band between the
// outermost requested percentiles on a 400-point grid over the regimen.
Result<PlotPanel> ForecastPanel(const Model& m, const Dataset& data, size_t s,
                                const IndividualPosterior& post, ForecastOptions o) {
  const Subject& subject = data.subjects[s];
  double tmax = 0;
  for (const Record& r : subject.records) tmax = std::max(tmax, r.time_h);
  for (const auto& d : Doses(subject)) tmax = std::max(tmax, d.first);
  if (!(tmax > 0)) tmax = 24;
  o.request = OutputRequest();
  o.request.observation_records = false;
  for (int i = 0; i <= 400; ++i) o.request.times_h.push_back(tmax * i / 400.0);
  const std::vector<double> q = o.percentiles;
  o.percentiles = {q.front(), 50.0, q.back()};
  if (q.front() >= 50.0 || q.back() <= 50.0) {
    return Status::Invalid("--plot needs percentiles below and above 50 (e.g. 5,50,95)");
  }
  auto fc = ForecastSubject(m, data, s, post, o);
  if (!fc.ok()) return fc.status();
  const ModelSpec& spec = m.spec();
  const int no = m.num_observables();
  PlotPanel p;
  p.title = "ID " + subject.id + " - " + spec.observables[0].name;
  p.time_unit = spec.time_unit;
  p.value_unit = spec.observables[0].name + " (" + spec.observables[0].unit + ")";
  p.dose_unit = spec.states[spec.default_dose_state].unit;
  p.band_label = Num(q.back() - q.front()) + " % " +
                 (o.interval == IntervalKind::kObservation ? "prediction interval (levels)"
                                                           : "interval (parameters)");
  for (size_t r = 0; r < fc->time.size(); ++r) {
    p.time.push_back(fc->time[r]);
    p.lower.push_back(fc->At(r, 0, 0, no));
    p.median.push_back(fc->At(r, 0, 1, no));
    p.upper.push_back(fc->At(r, 0, 2, no));
  }
  for (const Record& r : subject.records) {
    if (r.evid == Evid::kObservation && !r.mdv && r.observable == 0) {
      p.levels.push_back({r.time_h, r.dv, r.censored});
    }
  }
  p.doses = Doses(subject);
  return p;
}

namespace {

int Run(const ForecastArgs& a) {
  auto fit = ReadFitFile(a.fit);
  if (!fit.ok()) return Fail(fit.status());
  const Model& m = *fit->model;
  ForecastOptions o;
  auto q = ParseNumberList(a.percentiles, "--percentiles");
  if (!q.ok()) return Fail(q.status());
  o.percentiles = *q;
  if (a.interval != "observation" && a.interval != "parameter") {
    return Fail(
        Status::Invalid("--interval must be observation or parameter, got '" + a.interval + "'"));
  }
  o.interval = a.interval == "observation" ? IntervalKind::kObservation : IntervalKind::kParameter;
  o.draws = a.draws;
  o.seed = a.seed;
  auto sim = a.solver.ToOptions();
  if (!sim.ok()) return Fail(sim.status());
  o.sim = *sim;
  if (!a.times.empty()) {
    auto grid = ParseTimeGrid(a.times);
    if (!grid.ok()) return Fail(grid.status());
    o.request.times_h = *grid;
    o.request.observation_records = false;
  }
  if (Status st = o.Validate(); !st.ok()) return Fail(st);
  if (a.format != "csv" && a.format != "json") {
    return Fail(Status::Invalid("--format '" + a.format + "': expected csv or json"));
  }
  auto data = ReadDatasetFile(a.data, m);
  if (!data.ok()) return Fail(data.status());
  const ModelSpec& spec = m.spec();
  const int no = m.num_observables();
  std::vector<SubjectForecast> forecasts;
  std::vector<PlotPanel> panels;
  for (size_t s = 0; s < data->subjects.size(); ++s) {
    const std::string& id = data->subjects[s].id;
    auto it = fit->posteriors.find(id);
    if (it == fit->posteriors.end()) {
      return Fail(Status::NotFound("ID " + id + " of --data has no fit in " + a.fit));
    }
    auto fc = ForecastSubject(m, *data, s, it->second, o);
    if (!fc.ok()) return Fail(fc.status());
    forecasts.push_back(std::move(fc).value());
    if (!a.plot.empty()) {
      auto panel = ForecastPanel(m, *data, s, it->second, o);
      if (!panel.ok()) return Fail(panel.status());
      panels.push_back(std::move(panel).value());
    }
  }
  if (!a.plot.empty()) {
    Status st = WriteOutput(a.plot, [&](std::ostream& os) { WriteSvg(os, panels); });
    if (!st.ok()) return Fail(st.WithContext("--plot"));
  }
  if (a.format == "json") {
    // Per ID: the times and, per observable, one array per percentile keyed like the CSV's
    // columns (P5, P50, ...).
    nlohmann::json j{{"model", spec.name},
                     {"time_unit", spec.time_unit},
                     {"interval", a.interval},
                     {"percentiles", o.percentiles},
                     {"subjects", nlohmann::json::array()}};
    for (const SubjectForecast& fc : forecasts) {
      nlohmann::json obs = nlohmann::json::object();
      for (int k = 0; k < no; ++k) {
        nlohmann::json cols{{"unit", spec.observables[k].unit}};
        for (int q = 0; q < fc.num_percentiles; ++q) {
          std::vector<double> column;
          for (size_t r = 0; r < fc.time.size(); ++r) column.push_back(fc.At(r, k, q, no));
          cols[PercentileLabel(o.percentiles[q])] = column;
        }
        obs[spec.observables[k].name] = cols;
      }
      j["subjects"].push_back({{"id", fc.id}, {"time", fc.time}, {"observables", obs}});
    }
    return Fail(WriteOutput(a.out, [&](std::ostream& os) { os << j.dump(1) << '\n'; }));
  }
  return Fail(WriteOutput(a.out, [&](std::ostream& os) {
    os << "ID,TIME";
    for (const auto& ob : spec.observables) {
      for (double p : o.percentiles) os << ',' << ob.name << '_' << PercentileLabel(p);
    }
    os << '\n';
    for (const SubjectForecast& fc : forecasts) {
      for (size_t r = 0; r < fc.time.size(); ++r) {
        os << fc.id << ',' << Num(fc.time[r]);
        for (int k = 0; k < no; ++k) {
          for (int j = 0; j < fc.num_percentiles; ++j) os << ',' << Num(fc.At(r, k, j, no));
        }
        os << '\n';
      }
    }
  }));
}

}  // namespace

void SetupForecast(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "forecast", "Predict each fitted ID under a regimen, with prediction intervals");
  auto a = std::make_shared<ForecastArgs>();
  cmd->add_option("--fit", a->fit, "fit.json written by `medtwin fit`")->required();
  cmd->add_option("--data", a->data,
                  "NONMEM-style CSV: the whole regimen (past and future doses), the output "
                  "rows, and the covariates")
      ->required();
  cmd->add_option("--percentiles", a->percentiles, "percentiles to report, increasing")
      ->capture_default_str();
  cmd->add_option("--interval", a->interval, "observation (residual error included) or parameter")
      ->capture_default_str();
  cmd->add_option("--draws", a->draws, "posterior draws simulated")->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed")->capture_default_str();
  cmd->add_option("--times", a->times,
                  "output grid START:STEP:END in the model's time unit (default: the dataset's "
                  "observation rows)");
  cmd->add_option("--format", a->format,
                  "csv (ID, TIME, a column per observable and percentile: CP_P5, ...) or json")
      ->capture_default_str();
  cmd->add_option("--plot", a->plot, "write an SVG chart here");
  cmd->add_option("--out", a->out, "write the CSV here (default: stdout)");
  a->solver.Add(cmd);
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace medtwin::cli
