// `medtwin assimilate MODEL --data FILE.csv --method enkf|ensrf|ukf|pf|map`: one CSV row per
// observation with the one-step-ahead prediction made before it was seen and the filtered
// parameters after it.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli_common.h"
#include "medtwin/assimilate.h"

namespace medtwin::cli {
namespace {

struct AssimilateArgs {
  CommonArgs common;
  std::string method = "enkf", out;
  int members = 64;
  uint64_t seed = 1;
  double inflation = 1.0;
  double gate = 0.0;
  bool plotting_positions = false;
  std::vector<std::string> correlated;  // OBSERVABLE:FRACTION:TAU[:ORDER[:DAMPING]]
  // Model error: "SD" for every state (random effect) or "NAME=SD,..."; empty: none.
  std::string initial_state_sd, state_noise, eta_noise;
};

// --correlated-error OBSERVABLE:FRACTION:TAU[:ORDER[:DAMPING]]
// (AssimilationOptions::correlated_errors).
Result<CorrelatedError> ParseCorrelated(const std::string& spec) {
  const std::string flag = "--correlated-error " + spec;
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t colon = spec.find(':', start);
    parts.push_back(spec.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 3 || parts.size() > 5 || parts[0].empty()) {
    return Status::Invalid(
        flag +
        ": expected OBSERVABLE:FRACTION:TAU[:ORDER[:DAMPING]] (e.g. CGM:0.95:42, "
        "or CGM:0.95:17:2:0.5 for a second-order error)");
  }
  const char* names[] = {"", "FRACTION", "TAU", "ORDER", "DAMPING"};
  std::vector<double> v;
  for (size_t k = 1; k < parts.size(); ++k) {
    auto x = ParseNumberList(parts[k], flag + " " + names[k]);
    if (!x.ok()) return x.status();
    if (x->size() != 1) return Status::Invalid(flag + ": " + names[k] + " is a single number");
    v.push_back(x->front());
  }
  CorrelatedError c{parts[0], v[0], v[1]};
  if (v.size() > 2) {
    if (v[2] != 1.0 && v[2] != 2.0) {
      return Status::Invalid(flag + ": ORDER is 1 (Ornstein-Uhlenbeck) or 2 (second-order)");
    }
    c.order = static_cast<int>(v[2]);
  }
  if (v.size() > 3) c.damping = v[3];
  return c;
}

std::string Num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

int Run(const AssimilateArgs& a) {
  auto method = FilterMethodFromString(a.method);
  if (!method.ok()) return Fail(method.status().WithContext("--method"));
  auto in = PrepareInputs(a.common);
  if (!in.ok()) return Fail(in.status());
  const Model& m = *in->model;
  const ModelSpec& spec = m.spec();
  AssimilationOptions o;
  o.method = *method;
  o.members = a.members;
  o.seed = a.seed;
  o.inflation = a.inflation;
  o.gate_z = a.gate;
  o.plotting_positions = a.plotting_positions;
  for (const std::string& spec : a.correlated) {
    auto c = ParseCorrelated(spec);
    if (!c.ok()) return Fail(c.status());
    o.correlated_errors.push_back(*c);
  }
  std::vector<std::string> states;
  for (const StateSpec& s : spec.states) states.push_back(s.name);
  auto named = [](const char* flag, const std::string& text, const std::vector<std::string>& names,
                  std::vector<double>* list) {
    if (text.empty()) return Status::Ok();
    auto values = NamedValues(names, text, flag);
    if (!values.ok()) return values.status();
    *list = std::move(values).value();
    return Status::Ok();
  };
  Status st = named("--initial-state-sd", a.initial_state_sd, states, &o.initial_state_sd);
  if (st.ok()) st = named("--state-noise", a.state_noise, states, &o.state_noise_sd);
  if (st.ok()) st = named("--eta-noise", a.eta_noise, spec.variability.parameters, &o.eta_noise_sd);
  if (!st.ok()) return Fail(st);
  o.theta = in->theta;
  o.sim = in->sim;
  std::vector<std::vector<AssimilationStep>> all;
  for (size_t s = 0; s < in->data.subjects.size(); ++s) {
    auto steps = AssimilateSubject(m, in->data, s, o);
    if (!steps.ok()) return Fail(steps.status());
    all.push_back(std::move(steps).value());
  }
  return Fail(WriteOutput(a.out, [&](std::ostream& os) {
    os << "ID,TIME,OBS,DV,PRED,PRED_LO,PRED_HI";
    for (const std::string& name : spec.variability.parameters) os << ',' << name;
    os << '\n';
    for (size_t s = 0; s < all.size(); ++s) {
      for (const AssimilationStep& st : all[s]) {
        os << in->data.subjects[s].id << ',' << Num(st.time) << ','
           << spec.observables[st.observable].name << ',' << Num(st.dv) << ',' << Num(st.pred)
           << ',' << Num(st.pred_lo) << ',' << Num(st.pred_hi);
        for (double p : st.parameters) os << ',' << Num(p);
        os << '\n';
      }
    }
  }));
}

}  // namespace

void SetupAssimilate(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "assimilate", "Update each ID's state and parameters observation by observation");
  auto a = std::make_shared<AssimilateArgs>();
  a->common.Add(cmd, "NONMEM-style CSV: doses and observations (DV; DVID)", /*with_times=*/false,
                "--ode-method");
  cmd->add_option(
         "--method", a->method,
         "enkf (ensemble Kalman filter), ensrf (square-root ensemble filter), ukf (unscented "
         "Kalman filter), pf (particle filter) or map (refit the MAP at each observation)")
      ->capture_default_str();
  cmd->add_option("--members", a->members, "ensemble members (map: prediction draws)")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed")->capture_default_str();
  cmd->add_option("--inflation", a->inflation, "multiplicative inflation of forecast anomalies")
      ->capture_default_str();
  cmd->add_option("--gate", a->gate,
                  "skip observations whose normal score |z| under the prediction exceeds this "
                  "(0: use all)")
      ->capture_default_str();
  cmd->add_option("--correlated-error", a->correlated,
                  "OBSERVABLE:FRACTION:TAU[:ORDER[:DAMPING]], repeatable: that share of the "
                  "observable's residual variance is a correlated error carried by the filter: "
                  "ORDER 1 (default) an Ornstein-Uhlenbeck process of correlation time TAU (model "
                  "time unit), ORDER 2 a smooth second-order Gauss-Markov process of natural time "
                  "TAU and damping ratio DAMPING (default 1: critically damped) (e.g. CGM:0.95:42 "
                  "for the Dexcom sensor model; not with map; docs/assimilation.md)");
  cmd->add_option("--initial-state-sd", a->initial_state_sd,
                  "spread of the members' initial state: SD of a log-normal factor, one number "
                  "for every state or STATE=SD,... (docs/assimilation.md, Model error)");
  cmd->add_option("--state-noise", a->state_noise,
                  "process noise: SD of a random walk of the log state per sqrt(model time "
                  "unit), one number for every state or STATE=SD,...");
  cmd->add_option("--eta-noise", a->eta_noise,
                  "parameter drift: SD of a random walk of each random effect per sqrt(model "
                  "time unit), one number for all or NAME=SD,...");
  cmd->add_flag("--plotting-positions", a->plotting_positions,
                "PRED, PRED_LO, PRED_HI at plotting positions k/(m+1) of the m predictive draws, "
                "so that the interval covers 90 % for any m (default: sample quantiles, which "
                "cover 0.9 (m-1)/(m+1))");
  cmd->add_option("--out", a->out, "write the CSV here (default: stdout)");
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace medtwin::cli
