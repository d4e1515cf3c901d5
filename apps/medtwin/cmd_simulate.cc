// `medtwin simulate MODEL --data FILE.csv ...`: one row per output time per ID with ID, TIME,
// every observable and every state.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "medtwin/dataset.h"

namespace medtwin::cli {
namespace {

struct SimulateArgs {
  std::string model, data, times, format = "csv", out;
  std::vector<std::string> params;
  bool all_records = false, summary = false;
  SolverFlags solver;
};

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

void WriteCsv(std::ostream& os, const Model& m, const Dataset& data,
              const std::vector<SimOutput>& outs) {
  const ModelSpec& s = m.spec();
  os << "ID,TIME";
  for (const auto& o : s.observables) os << ',' << o.name;
  for (const auto& st : s.states) os << ',' << st.name;
  os << '\n';
  const int n = m.num_states(), no = m.num_observables();
  for (size_t k = 0; k < outs.size(); ++k) {
    const SimOutput& out = outs[k];
    for (size_t r = 0; r < out.rows(); ++r) {
      os << data.subjects[k].id << ',' << Num(out.time_h[r]);
      for (int j = 0; j < no; ++j) os << ',' << Num(out.observables[r * no + j]);
      for (int j = 0; j < n; ++j) os << ',' << Num(out.states[r * n + j]);
      os << '\n';
    }
  }
}

void WriteJson(std::ostream& os, const Model& m, const Dataset& data,
               const std::vector<SimOutput>& outs) {
  using nlohmann::json;
  const ModelSpec& s = m.spec();
  json j{{"model", s.name}, {"time_unit", s.time_unit}};
  for (const auto& o : s.observables) j["units"][o.name] = o.unit;
  for (const auto& st : s.states) j["units"][st.name] = st.unit;
  const int n = m.num_states(), no = m.num_observables();
  for (size_t k = 0; k < outs.size(); ++k) {
    const SimOutput& out = outs[k];
    json subj{{"id", data.subjects[k].id}, {"time", out.time_h}, {"summary", out.summary.Brief()}};
    for (int j2 = 0; j2 < no; ++j2) {
      std::vector<double> col;
      for (size_t r = 0; r < out.rows(); ++r) col.push_back(out.observables[r * no + j2]);
      subj[s.observables[j2].name] = col;
    }
    for (int j2 = 0; j2 < n; ++j2) {
      std::vector<double> col;
      for (size_t r = 0; r < out.rows(); ++r) col.push_back(out.states[r * n + j2]);
      subj[s.states[j2].name] = col;
    }
    j["subjects"].push_back(subj);
  }
  os << j.dump(1) << '\n';
}

int Run(const SimulateArgs& a) {
  auto model = MakeModel(a.model);
  if (!model.ok()) return Fail(model.status());
  auto theta = ThetaWithOverrides(**model, a.params);
  if (!theta.ok()) return Fail(theta.status());
  auto options = a.solver.ToOptions();
  if (!options.ok()) return Fail(options.status());
  OutputRequest request;
  request.dose_records = a.all_records;
  if (!a.times.empty()) {
    auto grid = ParseTimeGrid(a.times);
    if (!grid.ok()) return Fail(grid.status());
    request.times_h = *grid;
    request.observation_records = a.all_records;
  }
  if (a.format != "csv" && a.format != "json") {
    return Fail(Status::Invalid("--format '" + a.format + "': expected csv or json"));
  }
  auto data = ReadDatasetFile(a.data, **model);
  if (!data.ok()) return Fail(data.status());
  Simulator sim(**model, *options);
  std::vector<SimOutput> outs;
  for (size_t k = 0; k < data->subjects.size(); ++k) {
    auto out = sim.Run(*data, k, request, {*theta, {}});
    if (!out.ok()) return Fail(out.status());
    if (a.summary)
      std::cerr << "ID " << data->subjects[k].id << ": " << out->summary.Brief() << "\n";
    outs.push_back(std::move(out).value());
  }
  auto sink = OpenSink(a.out);
  if (!sink.ok()) return Fail(sink.status());
  if (a.format == "json") {
    WriteJson(*sink->os, **model, *data, outs);
  } else {
    WriteCsv(*sink->os, **model, *data, outs);
  }
  sink->os->flush();
  if (!*sink->os) return Fail(Status::Invalid("--out " + a.out + ": write failed"));
  return 0;
}

}  // namespace

void SetupSimulate(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("simulate", "Simulate a model over a NONMEM-style dataset");
  auto a = std::make_shared<SimulateArgs>();
  cmd->add_option("MODEL", a->model, "model name (see `medtwin models`), e.g. pk2cmt")->required();
  cmd->add_option("--data", a->data, "NONMEM-style CSV dataset")->required();
  cmd->add_option("--param", a->params, "override a typical value: NAME=VALUE (repeatable)");
  cmd->add_option("--times", a->times,
                  "output grid START:STEP:END in h (default: the dataset's observation rows)");
  cmd->add_option("--format", a->format, "csv or json")->capture_default_str();
  cmd->add_option("--out", a->out, "output file (default: stdout)");
  cmd->add_flag("--all-records", a->all_records, "also output dose/reset rows (as NONMEM tables)");
  cmd->add_flag("--summary", a->summary, "print solver statistics per ID to stderr");
  a->solver.Add(cmd);
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace medtwin::cli
