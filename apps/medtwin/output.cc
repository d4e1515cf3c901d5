#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>

#include "cli_common.h"
#include "medtwin/parameter_table.h"
#include "medtwin/sbml.h"

namespace medtwin::cli {

int ExitCode(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kUnsupported:
    case StatusCode::kConflict:
      return 2;
    case StatusCode::kNumerical:
      return 3;
    case StatusCode::kInternal:
    case StatusCode::kUnavailable:
      return 1;
  }
  return 1;
}

int Fail(const Status& status) {
  if (status.ok()) return 0;
  std::cerr << "medtwin: " << status.ToString() << "\n";
  return ExitCode(status);
}

namespace {

Result<double> ParseNumber(const std::string& text, const std::string& what) {
  double v = 0.0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end || !std::isfinite(v)) {
    return Status::Invalid(what + ": '" + text + "' is not a finite number");
  }
  return v;
}

}  // namespace

Result<std::vector<double>> ThetaWithOverrides(const Model& model,
                                               const std::vector<std::string>& overrides) {
  return ApplyOverrides(model, model.spec().TypicalValues(), overrides);
}

Result<std::vector<double>> ApplyOverrides(const Model& model, std::vector<double> theta,
                                           const std::vector<std::string>& overrides) {
  const ModelSpec& spec = model.spec();
  for (const std::string& o : overrides) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos) {
      return Status::Invalid("--param '" + o + "': expected NAME=VALUE");
    }
    const std::string name = o.substr(0, eq);
    const int idx = spec.ParameterIndex(name);
    if (idx < 0) {
      std::string known;
      for (const auto& p : spec.parameters) known += (known.empty() ? "" : ", ") + p.name;
      return Status::NotFound("--param " + name + ": model '" + spec.name +
                              "' has no such parameter (it has " + known + ")");
    }
    Result<double> v = ParseNumber(o.substr(eq + 1), "--param " + name);
    if (!v.ok()) return v.status();
    const ParameterSpec& ps = spec.parameters[idx];
    if (*v < ps.lower || *v > ps.upper) {
      return Status::Invalid("--param " + name + "=" + o.substr(eq + 1) + ": outside [" +
                             std::to_string(ps.lower) + ", " + std::to_string(ps.upper) + "] " +
                             ps.unit);
    }
    theta[idx] = *v;
  }
  return theta;
}

std::string Fmt(const char* format, double v) {
  char b[48];
  std::snprintf(b, sizeof b, format, v);
  return b;
}

Result<std::vector<double>> ParseTimeGrid(const std::string& spec) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= spec.size(); ++i) {
    if (i == spec.size() || spec[i] == ':') {
      parts.push_back(spec.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() != 3) return Status::Invalid("--times '" + spec + "': expected START:STEP:END");
  double v[3];
  const char* names[3] = {"START", "STEP", "END"};
  for (int i = 0; i < 3; ++i) {
    Result<double> r = ParseNumber(parts[i], std::string("--times ") + names[i]);
    if (!r.ok()) return r.status();
    v[i] = *r;
  }
  if (v[0] < 0.0) return Status::Invalid("--times: START must be >= 0 h");
  if (!(v[1] > 0.0)) return Status::Invalid("--times: STEP must be > 0 h");
  if (v[2] < v[0]) return Status::Invalid("--times: END must be >= START");
  const double n = std::floor((v[2] - v[0]) / v[1] + 1e-9) + 1;
  if (n > 10'000'000) return Status::Invalid("--times: more than 10,000,000 output times");
  std::vector<double> grid;
  for (long i = 0; i < static_cast<long>(n); ++i) grid.push_back(v[0] + i * v[1]);
  return grid;
}

Result<std::vector<double>> ParseNumberList(const std::string& spec, const std::string& option) {
  std::vector<double> out;
  size_t start = 0;
  for (size_t i = 0; i <= spec.size(); ++i) {
    if (i == spec.size() || spec[i] == ',') {
      Result<double> r = ParseNumber(spec.substr(start, i - start), option);
      if (!r.ok()) return r.status();
      out.push_back(*r);
      start = i + 1;
    }
  }
  return out;
}

void SolverFlags::Add(CLI::App* app, const std::string& method_flag) {
  app->add_option(method_flag, method,
                  "ODE method: bdf or adams (CVODES), erk (ARKODE explicit Runge-Kutta, non-stiff)")
      ->capture_default_str();
  app->add_option("--path", path, "auto, ode or closed-form")->capture_default_str();
  app->add_option("--covariates", covariates, "covariates between records: nocb or locf")
      ->capture_default_str();
  app->add_option("--rtol", rtol, "relative tolerance")->capture_default_str();
  app->add_option("--atol", atol, "absolute tolerance (state units)")->capture_default_str();
}

Result<SimOptions> SolverFlags::ToOptions() const {
  SimOptions o;
  auto m = OdeMethodFromString(method);
  if (!m.ok()) return m.status();
  auto p = SimPathFromString(path);
  if (!p.ok()) return p.status();
  auto c = CovariateRuleFromString(covariates);
  if (!c.ok()) return c.status();
  o.method = *m;
  o.path = *p;
  o.covariates = *c;
  o.rtol = rtol;
  o.atol = atol;
  MEDTWIN_RETURN_IF_ERROR(o.Validate());
  return o;
}

void CommonArgs::Add(CLI::App* app, const std::string& data_help, bool with_times,
                     const std::string& method_flag) {
  app->add_option("MODEL", model, "model name (see `medtwin models`), e.g. pk2cmt")->required();
  app->add_option("--data", data, data_help)->required();
  app->add_option("--param", params, "override a typical value: NAME=VALUE (repeatable)");
  app->add_option("--params-file", params_file,
                  "CSV of named parameter sets (first column: set name; other columns: "
                  "parameters), e.g. a virtual-patient table");
  app->add_option("--params-set", params_set, "the row of --params-file to use, e.g. adult#001");
  if (with_times) {
    app->add_option("--times", times,
                    "output grid START:STEP:END in the model's time unit (default: the dataset's "
                    "observation rows)");
  }
  solver.Add(app, method_flag);
}

Result<std::unique_ptr<Model>> LoadModel(const std::string& name) {
  const bool is_file = name.size() > 4 && (name.ends_with(".xml") || name.ends_with(".sbml"));
  if (!is_file) return MakeModel(name);
  auto sbml = LoadSbmlFile(name);
  if (!sbml.ok()) return sbml.status();
  return std::unique_ptr<Model>(std::move(sbml).value());
}

namespace {

// Typical values, or the parameter set --params-set of the table --params-file.
Result<std::vector<double>> BaseTheta(const Model& model, const CommonArgs& args) {
  if (args.params_file.empty() != args.params_set.empty()) {
    return Status::Invalid(args.params_file.empty() ? "--params-set needs --params-file"
                                                    : "--params-file needs --params-set");
  }
  if (args.params_file.empty()) return ThetaWithOverrides(model, {});
  auto table = ParameterTable::ReadFile(args.params_file);
  if (!table.ok()) return table.status().WithContext("--params-file");
  return table->ParametersFor(model.spec(), args.params_set);
}

}  // namespace

Result<RunInputs> PrepareInputs(const CommonArgs& args) {
  RunInputs in;
  auto model = LoadModel(args.model);
  if (!model.ok()) return model.status();
  in.model = std::move(model).value();
  auto base = BaseTheta(*in.model, args);
  if (!base.ok()) return base.status();
  auto theta = ApplyOverrides(*in.model, std::move(base).value(), args.params);
  if (!theta.ok()) return theta.status();
  in.theta = std::move(theta).value();
  auto sim = args.solver.ToOptions();
  if (!sim.ok()) return sim.status();
  in.sim = *sim;
  if (!args.times.empty()) {
    auto grid = ParseTimeGrid(args.times);
    if (!grid.ok()) return grid.status();
    in.request.times_h = std::move(grid).value();
    in.request.observation_records = false;
  }
  auto data = ReadDatasetFile(args.data, *in.model);
  if (!data.ok()) return data.status();
  in.data = std::move(data).value();
  return in;
}

Status WriteOutput(const std::string& path, const std::function<void(std::ostream&)>& write) {
  if (path.empty() || path == "-") {
    write(std::cout);
    std::cout.flush();
    return std::cout ? Status::Ok() : Status::Invalid("writing to stdout failed");
  }
  std::ofstream f(path);
  if (!f) return Status::Invalid("--out " + path + ": cannot open for writing");
  write(f);
  f.flush();
  return f ? Status::Ok() : Status::Invalid("--out " + path + ": write failed");
}

}  // namespace medtwin::cli
