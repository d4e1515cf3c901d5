// `medtwin population MODEL --data REGIMEN.csv --n N --seed S ...`: percentiles per time of
// virtual subjects drawn from the model's between-subject variability.
#include <cstdio>
#include <iostream>
#include <thread>

#include "cli_common.h"
#include "medtwin/dataset.h"
#include "medtwin/population.h"

namespace medtwin::cli {
namespace {

struct PopulationArgs {
  CommonArgs common;
  std::string out, percentiles = "5,50,95";
  int n = 1000, threads = 1;
  uint64_t seed = 1;
  bool all = false, residual = false, summary = false;
};

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.8g", v);
  return buf;
}

std::string PctName(double p) {
  std::string s = Num(p);
  for (char& c : s) c = c == '.' ? '_' : c;
  return "P" + s;
}

void WritePercentiles(std::ostream& os, const ModelSpec& s, const PopulationResult& r,
                      const std::vector<double>& pcts) {
  os << "ID,TIME";
  for (const auto& o : s.observables) {
    for (double p : pcts) os << ',' << o.name << '_' << PctName(p);
  }
  os << '\n';
  const size_t no = s.observables.size(), np = pcts.size();
  for (const auto& arm : r.arms) {
    for (size_t row = 0; row < arm.time_h.size(); ++row) {
      os << arm.id << ',' << Num(arm.time_h[row]);
      for (size_t k = 0; k < no * np; ++k) os << ',' << Num(arm.percentiles[row * no * np + k]);
      os << '\n';
    }
  }
}

void WriteAll(std::ostream& os, const ModelSpec& s, const PopulationResult& r, int n) {
  os << "ID,SUBJECT,TIME";
  for (const auto& v : s.variability.parameters) os << ",ETA_" << v;
  for (const auto& o : s.observables) os << ',' << o.name;
  os << '\n';
  const size_t no = s.observables.size(), ne = s.variability.parameters.size();
  for (const auto& arm : r.arms) {
    const size_t rows = arm.time_h.size();
    for (int k = 0; k < n; ++k) {
      for (size_t row = 0; row < rows; ++row) {
        os << arm.id << ',' << k + 1 << ',' << Num(arm.time_h[row]);
        for (size_t j = 0; j < ne; ++j) os << ',' << Num(arm.eta[k * ne + j]);
        for (size_t j = 0; j < no; ++j) os << ',' << Num(arm.all[(k * rows + row) * no + j]);
        os << '\n';
      }
    }
  }
}

int Run(const PopulationArgs& a) {
  PopulationOptions opt;
  opt.n_subjects = a.n;
  opt.seed = a.seed;
  opt.threads = a.threads;
  opt.keep_all = a.all;
  opt.residual_error = a.residual;
  auto pcts = ParseNumberList(a.percentiles, "--percentiles");
  if (!pcts.ok()) return Fail(pcts.status());
  opt.percentiles = *pcts;
  if (Status st = opt.Validate(); !st.ok()) return Fail(st);
  auto in = PrepareInputs(a.common);
  if (!in.ok()) return Fail(in.status());
  opt.sim = in->sim;
  auto result = RunPopulation(*in->model, in->data, in->request, in->theta, opt);
  if (!result.ok()) return Fail(result.status());
  if (a.summary) std::cerr << result->summary.Brief() << "\n";
  const ModelSpec& spec = in->model->spec();
  return Fail(WriteOutput(a.out, [&](std::ostream& os) {
    if (a.all) {
      WriteAll(os, spec, *result, a.n);
    } else {
      WritePercentiles(os, spec, *result, opt.percentiles);
    }
  }));
}

}  // namespace

void SetupPopulation(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "population", "Simulate virtual subjects from the model's variability; print percentiles");
  auto a = std::make_shared<PopulationArgs>();
  a->common.Add(cmd, "regimen dataset; each ID is an arm");
  cmd->add_option("--n", a->n, "virtual subjects per arm")->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed (same seed, same numbers, any --threads)")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "worker threads")->capture_default_str();
  cmd->add_option("--percentiles", a->percentiles, "comma-separated, in [0, 100]")
      ->capture_default_str();
  cmd->add_option("--out", a->out, "output file (default: stdout)");
  cmd->add_flag("--all", a->all, "print every virtual subject (with its random effects)");
  cmd->add_flag("--residual", a->residual, "add residual error to the predictions");
  cmd->add_flag("--summary", a->summary, "print timing and solver statistics to stderr");
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace medtwin::cli
