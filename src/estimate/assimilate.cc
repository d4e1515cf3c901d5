#include "medtwin/assimilate.h"

#include <Eigen/Dense>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "estimate/assimilate_internal.h"

namespace medtwin {
namespace {

using assimilate_internal::FilterBase;
using assimilate_internal::Line;
using assimilate_internal::LoadSim;
using assimilate_internal::ModelErrorOptions;
using assimilate_internal::StreamText;

// Validates options against the model; the Cholesky factor of omega.
Result<Eigen::MatrixXd> PriorFactor(const Model& model, const AssimilationOptions& options) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  const ModelSpec& spec = model.spec();
  const int q = static_cast<int>(spec.variability.parameters.size());
  if (q == 0) {
    return Status::Invalid("model '" + spec.name + "' has no between-subject variability");
  }
  if (!options.theta.empty() && options.theta.size() != spec.parameters.size()) {
    return Status::Invalid("theta: expected " + std::to_string(spec.parameters.size()) +
                           " typical values, got " + std::to_string(options.theta.size()));
  }
  for (size_t j = 0; j < options.correlated_errors.size(); ++j) {
    const CorrelatedError& c = options.correlated_errors[j];
    const std::string field = "correlated_errors[" + std::to_string(j) + "]";
    const int k = spec.ObservableIndex(c.observable);
    if (k < 0) {
      return Status::Invalid(field + ".observable: model '" + spec.name + "' has no observable '" +
                             c.observable + "'");
    }
    const ResidualError& e = spec.observables[k].error;
    if (!(e.additive_sd > 0.0 || e.proportional_sd > 0.0 || e.exponential_sd > 0.0)) {
      return Status::Invalid(field + ".observable: '" + c.observable +
                             "' has no residual error to split");
    }
    if (options.method == FilterMethod::kMap) {
      return Status::Unsupported(field +
                                 ": the map filter refits with white residual error; "
                                 "use enkf, ensrf, ukf or pf");
    }
  }
  for (const auto& [field, list] : ModelErrorOptions(options)) {
    const size_t want = list == &options.eta_noise_sd ? static_cast<size_t>(q) : spec.states.size();
    if (list->empty()) continue;
    if (options.method == FilterMethod::kMap) {
      return Status::Invalid(std::string(field) + ": method map carries no state to perturb");
    }
    if (list->size() != want) {
      return Status::Invalid(std::string(field) + ": expected " + std::to_string(want) +
                             (list == &options.eta_noise_sd ? " values (one per random effect"
                                                            : " values (one per state") +
                             " of model '" + spec.name + "'), got " + std::to_string(list->size()));
    }
  }
  const Eigen::Map<const Eigen::MatrixXd> omega(spec.variability.omega.data(), q, q);
  Eigen::LLT<Eigen::MatrixXd> llt(omega);
  if (llt.info() != Eigen::Success) {
    return Status::Invalid("model '" + spec.name + "': omega is not positive definite");
  }
  return Eigen::MatrixXd(llt.matrixL());
}

Result<std::unique_ptr<FilterBase>> MakeBase(const Model& model,
                                             const AssimilationOptions& options) {
  auto l = PriorFactor(model, options);
  if (!l.ok()) return l.status();
  std::unique_ptr<FilterBase> f;
  switch (options.method) {
    case FilterMethod::kUkf:
      f = assimilate_internal::MakeUnscentedFilter(model, options);
      break;
    case FilterMethod::kMap:
      f = assimilate_internal::MakeMapRefitFilter(model, options);
      break;
    default:
      f = assimilate_internal::MakeEnsembleFilter(model, options, *l);
  }
  MEDTWIN_RETURN_IF_ERROR(f->Init());
  return f;
}

}  // namespace

const char* ToString(FilterMethod m) {
  switch (m) {
    case FilterMethod::kEnkf:
      return "enkf";
    case FilterMethod::kEnsrf:
      return "ensrf";
    case FilterMethod::kPf:
      return "pf";
    case FilterMethod::kUkf:
      return "ukf";
    default:
      return "map";
  }
}

Result<FilterMethod> FilterMethodFromString(const std::string& s) {
  for (FilterMethod m : {FilterMethod::kEnkf, FilterMethod::kEnsrf, FilterMethod::kUkf,
                         FilterMethod::kPf, FilterMethod::kMap}) {
    if (s == ToString(m)) return m;
  }
  return Status::Unsupported("filter method '" + s +
                             "' is not available (available: enkf, ensrf, ukf, pf, map)");
}

Status AssimilationOptions::Validate() const {
  MEDTWIN_RETURN_IF_ERROR(sim.Validate());
  if (members < 2) return Status::Invalid("members must be >= 2");
  if (!(inflation >= 1.0)) return Status::Invalid("inflation must be >= 1");
  if (!(gate_z >= 0.0)) return Status::Invalid("gate_z must be >= 0 (0: no gate)");
  if (!(pf_eta_shrinkage > 0.0 && pf_eta_shrinkage <= 1.0)) {
    return Status::Invalid("pf_eta_shrinkage must be in (0, 1] (1: no jitter of eta)");
  }
  if (!(pf_state_shrinkage > 0.0 && pf_state_shrinkage <= 1.0)) {
    return Status::Invalid("pf_state_shrinkage must be in (0, 1] (1: no jitter of the state)");
  }
  for (size_t j = 0; j < correlated_errors.size(); ++j) {
    const CorrelatedError& c = correlated_errors[j];
    const std::string field = "correlated_errors[" + std::to_string(j) + "]";
    if (!(c.fraction > 0.0 && c.fraction < 1.0)) {
      return Status::Invalid(field + ".fraction = " + StreamText(c.fraction) +
                             ": must be in (0, 1) (the white part keeps a positive SD)");
    }
    if (!(c.tau > 0.0 && std::isfinite(c.tau))) {
      return Status::Invalid(field + ".tau = " + StreamText(c.tau) +
                             ": must be a finite correlation time > 0 (model time unit)");
    }
    if (c.order != 1 && c.order != 2) {
      return Status::Invalid(field + ".order = " + std::to_string(c.order) +
                             ": must be 1 (Ornstein-Uhlenbeck) or 2 (second-order Gauss-Markov)");
    }
    if (c.order == 2 && !(c.damping > 0.0 && std::isfinite(c.damping))) {
      return Status::Invalid(field + ".damping = " + StreamText(c.damping) +
                             ": must be a finite damping ratio > 0 (1: critically damped)");
    }
    if (c.order == 1 && c.damping != 1.0) {
      return Status::Invalid(
          field + ".damping = " + StreamText(c.damping) +
          ": applies to order 2 only (order 1 is an Ornstein-Uhlenbeck process)");
    }
    for (size_t i = 0; i < j; ++i) {
      if (correlated_errors[i].observable == c.observable) {
        return Status::Invalid(field + ".observable: '" + c.observable +
                               "' already has a correlated error (correlated_errors[" +
                               std::to_string(i) + "])");
      }
    }
  }
  for (const auto& [field, list] : ModelErrorOptions(*this)) {
    for (size_t j = 0; j < list->size(); ++j) {
      if (!((*list)[j] >= 0.0 && std::isfinite((*list)[j]))) {
        return Status::Invalid(std::string(field) + "[" + std::to_string(j) + "] is " +
                               std::to_string((*list)[j]) + "; it must be finite and >= 0");
      }
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<SequentialFilter>> SequentialFilter::Make(
    const Model& model, const AssimilationOptions& options) {
  auto f = MakeBase(model, options);
  if (!f.ok()) return f.status();
  return std::unique_ptr<SequentialFilter>(std::move(f).value());
}

Result<std::unique_ptr<SequentialFilter>> SequentialFilter::Restore(const Model& model,
                                                                    std::string_view snapshot) {
  nlohmann::json j = nlohmann::json::parse(snapshot, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Invalid("filter snapshot: not a JSON object");
  }
  try {
    if (j.value("format", "") != "medtwin-filter/1") {
      return Status::Invalid("filter snapshot: format is not medtwin-filter/1");
    }
    if (j.at("model").get<std::string>() != model.spec().name) {
      return Status::Invalid("filter snapshot: made for model '" +
                             j.at("model").get<std::string>() + "', not '" + model.spec().name +
                             "'");
    }
    AssimilationOptions o;
    auto method = FilterMethodFromString(j.at("method").get<std::string>());
    if (!method.ok()) return method.status().WithContext("filter snapshot");
    o.method = *method;
    o.members = j.at("members").get<int>();
    o.seed = j.at("seed").get<uint64_t>();
    o.inflation = j.at("inflation").get<double>();
    o.gate_z = j.at("gate_z").get<double>();
    o.pf_eta_shrinkage = j.value("pf_eta_shrinkage", AssimilationOptions{}.pf_eta_shrinkage);
    o.pf_state_shrinkage = j.value("pf_state_shrinkage", AssimilationOptions{}.pf_state_shrinkage);
    o.plotting_positions = j.value("plotting_positions", false);
    for (const nlohmann::json& c : j.value("correlated_errors", nlohmann::json::array())) {
      o.correlated_errors.push_back({c.at("observable").get<std::string>(),
                                     c.at("fraction").get<double>(), c.at("tau").get<double>(),
                                     c.value("order", 1), c.value("damping", 1.0)});
    }
    for (const auto& [key, list] : ModelErrorOptions(o)) {
      *list = j.value(key, std::vector<double>{});
    }
    o.theta = j.at("theta").get<std::vector<double>>();
    auto sim = LoadSim(j.at("sim"));
    if (!sim.ok()) return sim.status().WithContext("filter snapshot");
    o.sim = *sim;
    auto f = MakeBase(model, o);
    if (!f.ok()) return f.status().WithContext("filter snapshot");
    MEDTWIN_RETURN_IF_ERROR((*f)->Load(j).WithContext("filter snapshot"));
    return std::unique_ptr<SequentialFilter>(std::move(f).value());
  } catch (const nlohmann::json::exception& e) {
    return Status::Invalid(std::string("filter snapshot: ") + e.what());
  }
}

Result<std::vector<int>> AssimilationRecords(const Dataset& data, size_t subject_index) {
  if (subject_index >= data.subjects.size()) {
    return Status::Invalid("subject index " + std::to_string(subject_index) + " out of range");
  }
  const Subject& subject = data.subjects[subject_index];
  std::vector<int> obs;
  for (size_t r = 0; r < subject.records.size(); ++r) {
    const Record& rec = subject.records[r];
    if (rec.evid != Evid::kObservation || rec.mdv) continue;
    if (rec.censored) {
      return Status::Unsupported(Line(subject, static_cast<int>(r)) +
                                 ": a level below the quantification limit (CENS=1) cannot be "
                                 "assimilated by the Kalman update; use medtwin fit");
    }
    obs.push_back(static_cast<int>(r));
  }
  if (obs.empty())
    return Status::Invalid("subject " + subject.id + " has no observations to assimilate");
  return obs;
}

Result<std::vector<AssimilationStep>> AssimilateSubject(const Model& model, const Dataset& data,
                                                        size_t subject_index,
                                                        const AssimilationOptions& options) {
  auto filter = SequentialFilter::Make(model, options);
  if (!filter.ok()) return filter.status();
  auto obs = AssimilationRecords(data, subject_index);
  if (!obs.ok()) return obs.status();
  std::vector<AssimilationStep> steps;
  for (int r : *obs) {
    auto step = (*filter)->Assimilate(data, subject_index, r);
    if (!step.ok()) return step.status();
    steps.push_back(std::move(step).value());
  }
  return steps;
}

}  // namespace medtwin
