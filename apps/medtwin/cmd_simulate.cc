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
  CommonArgs common;
  std::string format = "csv", out;
  bool all_records = false, summary = false;
};

// A state's column: its name, or "<name>_state" where an observable has the same name (SBML
// species are observables in their own units and states in amounts).
std::string StateColumn(const ModelSpec& s, int i) {
  const std::string& name = s.states[i].name;
  return s.ObservableIndex(name) >= 0 && s.observables[s.ObservableIndex(name)].name == name
             ? name + "_state"
             : name;
}

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
  for (int i = 0; i < m.num_states(); ++i) os << ',' << StateColumn(s, i);
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
  for (int i = 0; i < m.num_states(); ++i) j["units"][StateColumn(s, i)] = s.states[i].unit;
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
      subj[StateColumn(s, j2)] = col;
    }
    j["subjects"].push_back(subj);
  }
  os << j.dump(1) << '\n';
}

int Run(const SimulateArgs& a) {
  if (a.format != "csv" && a.format != "json") {
    return Fail(Status::Invalid("--format '" + a.format + "': expected csv or json"));
  }
  auto in = PrepareInputs(a.common);
  if (!in.ok()) return Fail(in.status());
  in->request.dose_records = a.all_records;
  if (a.all_records) in->request.observation_records = true;
  Simulator sim(*in->model, in->sim);
  std::vector<SimOutput> outs;
  for (size_t k = 0; k < in->data.subjects.size(); ++k) {
    auto out = sim.Run(in->data, k, in->request, {in->theta, {}});
    if (!out.ok()) return Fail(out.status());
    if (a.summary) {
      std::cerr << "ID " << in->data.subjects[k].id << ": " << out->summary.Brief() << "\n";
    }
    outs.push_back(std::move(out).value());
  }
  const Model& m = *in->model;
  return Fail(WriteOutput(a.out, [&](std::ostream& os) {
    if (a.format == "json") {
      WriteJson(os, m, in->data, outs);
    } else {
      WriteCsv(os, m, in->data, outs);
    }
  }));
}

}  // namespace

void SetupSimulate(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("simulate", "Simulate a model over a NONMEM-style dataset");
  auto a = std::make_shared<SimulateArgs>();
  a->common.Add(cmd, "NONMEM-style CSV dataset");
  cmd->add_option("--format", a->format, "csv or json")->capture_default_str();
  cmd->add_option("--out", a->out, "output file (default: stdout)");
  cmd->add_flag("--all-records", a->all_records, "also output dose/reset rows (as NONMEM tables)");
  cmd->add_flag("--summary", a->summary, "print solver statistics per ID to stderr");
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace medtwin::cli
