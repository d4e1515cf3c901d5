#include "medtwin/twin.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

namespace medtwin {
namespace {

// The shortest decimal that reads back as the same double (the record must restore exactly).
std::string Num(double v) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

bool Finite(double v) { return std::isfinite(v); }

}  // namespace

Status TwinOptions::Validate() const {
  if (patient_id.empty()) return Status::Invalid("patient_id: empty");
  for (char c : patient_id) {
    if (c == ',' || c == '"' || c == '\n' || c == '\r') {
      return Status::Invalid("patient_id: may not contain commas, quotes or line breaks");
    }
  }
  MEDTWIN_RETURN_IF_ERROR(filter.Validate());
  return monitor.Validate();
}

Twin::Twin(const Model& model, TwinOptions options)
    : model_(model),
      options_(std::move(options)),
      monitor_(options_.monitor, model.num_observables()) {}

Twin::~Twin() = default;

std::string Twin::Header() const {
  std::string h = "ID,TIME,EVID,AMT,CMT,RATE,DV,MDV,DVID";
  for (const CovariateSpec& c : model_.spec().covariates) h += "," + c.name;
  return h;
}

std::string Twin::CovariateFields() const {
  std::string s;
  for (double v : covariates_) s += "," + (std::isnan(v) ? std::string(".") : Num(v));
  return s;
}

double Twin::last_time() const {
  const auto& r = record_.subjects[0].records;
  return r.empty() ? 0.0 : r.back().time_h;
}

Result<std::unique_ptr<Twin>> Twin::Create(const Model& model, const TwinOptions& options) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Twin> twin(new Twin(model, options));
  // Twins learn covariates as they are measured: a value applies from its record on (LOCF);
  // NONMEM's NOCB would change the past the filter has already simulated.
  twin->options_.filter.sim.covariates = CovariateRule::kLocf;
  const ModelSpec& spec = model.spec();
  twin->covariates_.resize(spec.covariates.size());
  std::vector<bool> given(spec.covariates.size(), false);
  for (const auto& [name, value] : options.covariates) {
    const int k = spec.CovariateIndex(name);
    if (k < 0) {
      return Status::Invalid("covariate '" + name + "' is not one of model '" + spec.name + "'s");
    }
    if (!Finite(value)) return Status::Invalid("covariate " + name + ": not a finite number");
    twin->covariates_[k] = value;
    given[k] = true;
  }
  for (size_t k = 0; k < spec.covariates.size(); ++k) {
    if (given[k]) continue;
    if (spec.covariates[k].required) {
      return Status::NotFound("covariate " + spec.covariates[k].name + " (" +
                              spec.covariates[k].unit + ") is required by model '" + spec.name +
                              "'");
    }
    twin->covariates_[k] = spec.covariates[k].reference;
  }
  // The record's columns: every covariate, no dose-modifier columns (as Header() says).
  twin->record_.covariate_present.assign(spec.covariates.size(), true);
  twin->record_.subjects.assign(1, Subject{options.patient_id, {}});
  auto filter = SequentialFilter::Make(model, twin->options_.filter);
  if (!filter.ok()) return filter.status();
  twin->filter_ = std::move(filter).value();
  return twin;
}

Status Twin::Append(const std::string& row, double time, const char* what) {
  if (!Finite(time) || time < 0.0) {
    return Status::Invalid(std::string(what) + " time: must be a finite number >= 0 (got " +
                           Num(time) + ")");
  }
  if (time < last_time()) {
    return Status::Invalid(std::string(what) + " at time " + Num(time) +
                           " arrives before the last one the twin has (time " + Num(last_time()) +
                           "); the record only grows forward in time");
  }
  DatasetOptions o;
  o.source_name = "patient " + options_.patient_id + " " + what;
  auto parsed = ReadDataset(Header() + "\n" + options_.patient_id + "," + row + "\n", model_, o);
  if (!parsed.ok()) return parsed.status();
  Record rec = parsed->subjects[0].records[0];
  rec.line = static_cast<int>(rows_.size()) + 2;  // as in the whole record read at once
  record_.subjects[0].records.push_back(std::move(rec));
  rows_.push_back(row);
  return Status::Ok();
}

Status Twin::Apply(const TwinEvent& e) {
  if (!Finite(e.amount) || !Finite(e.rate)) {
    return Status::Invalid("event: amount and rate must be finite numbers");
  }
  const std::string cmt = e.compartment.empty() ? "." : e.compartment;
  if (cmt.find_first_of(",\"\n\r") != std::string::npos) {
    return Status::Invalid("event compartment: may not contain commas, quotes or line breaks");
  }
  return Append(Num(e.time) + ",1," + Num(e.amount) + "," + cmt + "," + Num(e.rate) + ",.,1,." +
                    CovariateFields(),
                e.time, "event");
}

Status Twin::SetCovariates(double time, const std::vector<std::pair<std::string, double>>& values) {
  const ModelSpec& spec = model_.spec();
  std::vector<double> saved = covariates_;
  for (const auto& [name, value] : values) {
    const int k = spec.CovariateIndex(name);
    if (k < 0) {
      covariates_ = saved;
      return Status::Invalid("covariate '" + name + "' is not one of model '" + spec.name + "'s");
    }
    covariates_[k] = value;
  }
  Status s = Append(Num(time) + ",2,.,.,.,.,1,." + CovariateFields(), time, "covariate change");
  if (!s.ok()) covariates_ = saved;
  return s;
}

Result<std::string> Twin::ObservationRow(const TwinObservation& o) const {
  if (!Finite(o.value)) return Status::Invalid("observation value: not a finite number");
  const ModelSpec& spec = model_.spec();
  const std::string name = o.observable.empty() ? spec.observables[0].name : o.observable;
  if (spec.ObservableIndex(name) < 0) {
    return Status::Invalid("observation: '" + name + "' is not an observable of model '" +
                           spec.name + "'");
  }
  return Num(o.time) + ",0,.,.,.," + Num(o.value) + ",0," + name + CovariateFields();
}

Result<TwinUpdate> Twin::Update(const TwinObservation& o) {
  auto row = ObservationRow(o);
  if (!row.ok()) return row.status();
  MEDTWIN_RETURN_IF_ERROR(Append(*row, o.time, "observation"));
  const int r = static_cast<int>(record_.subjects[0].records.size()) - 1;
  auto step = filter_->Assimilate(record_, 0, r);
  if (!step.ok()) {  // the twin stays as it was
    record_.subjects[0].records.pop_back();
    rows_.pop_back();
    return step.status();
  }
  TwinUpdate u;
  u.alerts = monitor_.Observe(step->time, step->observable, step->z, step->rejected);
  u.step = std::move(step).value();
  return u;
}

Result<AssimilationStep> Twin::Anomaly(const TwinObservation& o) {
  auto row = ObservationRow(o);
  if (!row.ok()) return row.status();
  MEDTWIN_RETURN_IF_ERROR(Append(*row, o.time, "observation"));
  const int r = static_cast<int>(record_.subjects[0].records.size()) - 1;
  auto step = filter_->Assimilate(record_, 0, r, /*update=*/false);
  record_.subjects[0].records.pop_back();
  rows_.pop_back();
  return step;
}

Result<SubjectForecast> Twin::Forecast(double horizon, double step,
                                       const std::vector<TwinEvent>& regimen,
                                       const ForecastOptions& options) const {
  if (!(horizon > 0.0) || !Finite(horizon)) return Status::Invalid("horizon: must be > 0");
  if (!(step > 0.0) || !Finite(step)) return Status::Invalid("step: must be > 0");
  if (horizon / step > 1e6) return Status::Invalid("horizon / step: more than 10^6 output times");
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  auto future = WithRegimen(regimen);
  if (!future.ok()) return future.status();
  const double now = last_time();
  ForecastOptions fo = options;
  fo.request = OutputRequest{};
  fo.request.observation_records = false;
  for (double t = now + step; t <= now + horizon * (1.0 + 1e-12); t += step) {
    fo.request.times_h.push_back(t);
  }
  auto post = Posterior(options.draws, options.seed);
  if (!post.ok()) return post.status();
  auto fc = ForecastSubject(model_, *future, 0, *post, fo);
  if (!fc.ok()) return fc.status().WithContext("patient " + options_.patient_id);
  return fc;
}

Result<Dataset> Twin::WithRegimen(const std::vector<TwinEvent>& regimen) const {
  Twin future(model_, options_);
  future.covariates_ = covariates_;
  future.rows_ = rows_;
  future.record_ = record_;
  for (const TwinEvent& e : regimen) MEDTWIN_RETURN_IF_ERROR(future.Apply(e));
  return std::move(future.record_);
}

Result<std::vector<RegimenExposure>> Twin::CompareRegimens(
    const std::vector<std::pair<std::string, std::vector<TwinEvent>>>& regimens,
    const std::vector<Target>& targets, WhatIfOptions options) const {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  std::vector<Dataset> futures;
  futures.reserve(regimens.size());
  for (const auto& [name, events] : regimens) {
    auto future = WithRegimen(events);
    if (!future.ok()) return future.status().WithContext("regimen '" + name + "'");
    futures.push_back(std::move(future).value());
  }
  std::vector<WhatIfRegimen> named;
  for (size_t i = 0; i < regimens.size(); ++i) named.push_back({regimens[i].first, &futures[i]});
  const double now = last_time();
  options.window_start_h += now;
  options.window_end_h += now;
  auto post = Posterior(options.draws, options.seed);
  if (!post.ok()) return post.status();
  auto r = medtwin::CompareRegimens(model_, record_.subjects[0].id, named, *post, targets, options);
  if (!r.ok()) return r.status().WithContext("patient " + options_.patient_id);
  return r;
}

Result<IndividualPosterior> Twin::Posterior(int draws, uint64_t seed) const {
  auto sample = filter_->Sample(draws, seed);
  if (!sample.ok()) return sample.status();
  const ModelSpec& spec = model_.spec();
  const size_t n = static_cast<size_t>(model_.num_states()), q = spec.variability.parameters.size();
  IndividualPosterior post;
  post.theta = filter_->options().theta.empty() ? spec.TypicalValues() : filter_->options().theta;
  post.error = spec.ResidualErrors();
  post.mode.assign(q, 0.0);
  post.start_record = sample->after_record;
  for (int k = 0; k < sample->count; ++k) {
    const double* row = sample->rows.data() + k * (n + q);
    if (post.start_record >= 0) post.states.insert(post.states.end(), row, row + n);
    post.draws.insert(post.draws.end(), row + n, row + n + q);
  }
  return post;
}

Result<std::vector<double>> Twin::ParameterDraws(const IndividualPosterior& posterior) const {
  const ModelSpec& spec = model_.spec();
  const size_t q = spec.variability.parameters.size();
  if (q == 0) return std::vector<double>{};
  std::vector<double> out, p(model_.num_parameters());
  for (size_t k = 0; k + q <= posterior.draws.size(); k += q) {
    const std::span<const double> eta(posterior.draws.data() + k, q);
    MEDTWIN_RETURN_IF_ERROR(model_.Individualize(posterior.theta, eta, covariates_, p));
    for (size_t j = 0; j < q; ++j) {
      out.push_back(p[spec.ParameterIndex(spec.variability.parameters[j])]);
    }
  }
  return out;
}

std::string Twin::Snapshot() const {
  nlohmann::json covs = nlohmann::json::array();
  for (const auto& [name, value] : options_.covariates) covs.push_back({name, value});
  nlohmann::json current = nlohmann::json::array();  // null: missing (NaN)
  for (double v : covariates_)
    current.push_back(std::isnan(v) ? nlohmann::json() : nlohmann::json(v));
  const nlohmann::json j = {{"format", "medtwin-twin/1"},
                            {"model", model_.spec().name},
                            {"patient_id", options_.patient_id},
                            {"covariates", covs},
                            {"current_covariates", current},
                            {"rows", rows_},
                            {"monitor",
                             {{"outlier_z", options_.monitor.outlier_z},
                              {"cusum_k", options_.monitor.cusum_k},
                              {"cusum_h", options_.monitor.cusum_h},
                              {"sums", monitor_.sums()}}},
                            {"filter", nlohmann::json::parse(filter_->Snapshot())}};
  return j.dump();
}

Result<std::unique_ptr<Twin>> Twin::Restore(const Model& model, std::string_view snapshot) {
  const nlohmann::json j = nlohmann::json::parse(snapshot, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Invalid("twin snapshot: not JSON");
  try {
    if (j.value("format", "") != "medtwin-twin/1") {
      return Status::Invalid("twin snapshot: format is not medtwin-twin/1");
    }
    if (j.at("model").get<std::string>() != model.spec().name) {
      return Status::Invalid("twin snapshot: made for model '" + j.at("model").get<std::string>() +
                             "', not '" + model.spec().name + "'");
    }
    TwinOptions o;
    o.patient_id = j.at("patient_id").get<std::string>();
    for (const auto& c : j.at("covariates")) {
      o.covariates.emplace_back(c.at(0).get<std::string>(), c.at(1).get<double>());
    }
    const nlohmann::json& m = j.at("monitor");
    o.monitor.outlier_z = m.at("outlier_z").get<double>();
    o.monitor.cusum_k = m.at("cusum_k").get<double>();
    o.monitor.cusum_h = m.at("cusum_h").get<double>();
    auto filter = SequentialFilter::Restore(model, j.at("filter").dump());
    if (!filter.ok()) return filter.status().WithContext("twin snapshot");
    o.filter = (*filter)->options();
    auto twin = Create(model, o);
    if (!twin.ok()) return twin.status().WithContext("twin snapshot");
    Twin& t = **twin;
    t.filter_ = std::move(filter).value();
    t.covariates_.clear();
    for (const auto& v : j.at("current_covariates")) {
      t.covariates_.push_back(v.is_null() ? std::nan("") : v.get<double>());
    }
    if (t.covariates_.size() != model.spec().covariates.size()) {
      return Status::Invalid("twin snapshot: 'current_covariates' has the wrong length");
    }
    t.rows_ = j.at("rows").get<std::vector<std::string>>();
    std::string csv = t.Header() + "\n";
    for (const std::string& row : t.rows_) csv += o.patient_id + "," + row + "\n";
    DatasetOptions dopt;
    dopt.source_name = "twin snapshot record";
    auto record = ReadDataset(csv, model, dopt);
    if (!record.ok()) return record.status();
    if (!t.rows_.empty()) {
      if (record->subjects.size() != 1) {
        return Status::Invalid("twin snapshot: the record holds more than one patient");
      }
      t.record_ = std::move(record).value();
    }
    MEDTWIN_RETURN_IF_ERROR(
        t.monitor_.set_sums(m.at("sums").get<std::vector<double>>()).WithContext("twin snapshot"));
    return twin;
  } catch (const nlohmann::json::exception& e) {
    return Status::Invalid(std::string("twin snapshot: ") + e.what());
  }
}

}  // namespace medtwin
